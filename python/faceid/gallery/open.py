"""Opening a gallery by name: a store URL or path (:func:`open_store`) and the explicit index reader
(:func:`open_gallery`: a faceid ``.npz``, the reference wheel's ``index.bin`` or a store, told apart by content)."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from faceid.errors import InputError
from faceid.gallery.index import GalleryIndex
from faceid.gallery.store import GalleryStore

__all__ = ["gallery_kind", "open_gallery", "open_store"]

logger = logging.getLogger(__name__)

SQLITE_MAGIC = b"SQLite format 3\x00"
ZIP_MAGIC = b"PK\x03\x04"


def _store_class(url: str) -> tuple[type[GalleryStore], str]:
    if url.startswith(("postgresql://", "postgres://")):
        from faceid.gallery.postgres_store import PostgresStore

        return PostgresStore, url
    from faceid.gallery.sqlite_store import SQLiteStore

    return SQLiteStore, url[len("sqlite:///") :] if url.startswith("sqlite:///") else url


def open_store(url: str | os.PathLike[str], **kwargs: Any) -> GalleryStore:
    """A gallery store from ``gallery.db``, ``sqlite:///gallery.db`` or ``postgresql://user@host/db``;
    keyword arguments as :class:`GalleryStore`."""
    cls, target = _store_class(os.fspath(url))
    return cls(target, **kwargs)


def gallery_kind(source: str | os.PathLike[str]) -> str:
    """``"npz"``, ``"index.bin"`` or ``"store"``: what ``source`` holds, told by content (URLs by scheme); an
    InputError naming the file for anything else."""
    text = os.fspath(source)
    if text.startswith(("postgresql://", "postgres://", "sqlite:///")):
        return "store"
    path = Path(text)
    if not path.is_file():
        raise InputError("gallery index not found", path)
    with open(path, "rb") as handle:
        head = handle.read(16)
    if head.startswith(SQLITE_MAGIC):
        return "store"
    if head.startswith(ZIP_MAGIC):
        return "npz"
    if (len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5) or head[:1] in (b"}", b"("):
        return "index.bin"  # a pickle (protocol 2-5, or 0-1 opening a dict)
    raise InputError("not a gallery index (expected a faceid .npz, an index.bin pickle or a gallery store)", path)


def open_gallery(
    source: str | os.PathLike[str], *, model: str | None = None, fingerprint: str | None = None
) -> GalleryIndex | GalleryStore:
    """The explicit index reader: a faceid ``.npz``, the reference wheel's ``index.bin`` pickle or a gallery store,
    told apart by content (URLs by scheme), checked against the model; logs which it found."""
    text = os.fspath(source)
    kind = gallery_kind(text)
    if kind == "npz":
        found: GalleryIndex | GalleryStore = GalleryIndex.load(text, model=model, fingerprint=fingerprint)
    elif kind == "index.bin":
        found = GalleryIndex.from_arcface_paddle_index(text, model=model or "arcface_paddle")
        logger.warning("%s: the reference index.bin records no model; make sure it was built with this one", text)
    else:
        found = open_store(text, fingerprint=fingerprint, model=model, create=False)
    logger.info("gallery %s: %s, %d faces of %d identities", text, kind, len(found), len(found.identities))
    return found
