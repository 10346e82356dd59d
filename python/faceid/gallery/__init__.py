"""Galleries of known identities: an in-memory index (exact or approximate search), durable stores (SQLite,
PostgreSQL), the npz / ``index.bin`` file formats and enrolment from photo folders."""

from faceid.gallery.index import DEFAULT_REC_THRESH, UNKNOWN, GalleryIndex, Match
from faceid.gallery.store import GalleryStore, open_gallery, open_store

__all__ = ["DEFAULT_REC_THRESH", "UNKNOWN", "GalleryIndex", "GalleryStore", "Match", "open_gallery", "open_store"]
