"""Safe file I/O: atomic writes and restricted unpickling."""

from faceid.io.atomic import atomic_write

__all__ = ["atomic_write"]
