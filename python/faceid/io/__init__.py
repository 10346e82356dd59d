"""Safe file I/O: atomic writes, restricted unpickling, file digests."""

from faceid.io.atomic import atomic_write

__all__ = ["atomic_write"]
