"""Galleries of known identities: an in-memory index (exact or approximate search), durable stores (SQLite,
PostgreSQL), the npz / ``index.bin`` file formats and enrolment from photo folders."""

from faceid.gallery.index import DEFAULT_REC_THRESH, UNKNOWN, GalleryIndex, Match
from faceid.gallery.open import gallery_kind, open_gallery, open_store
from faceid.gallery.store import GalleryStore

__all__ = [
    "DEFAULT_REC_THRESH",
    "UNKNOWN",
    "GalleryIndex",
    "GalleryStore",
    "Match",
    "gallery_kind",
    "open_gallery",
    "open_store",
]
