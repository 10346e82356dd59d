"""Galleries of known identities: build, save, load, search."""

from faceid.gallery.index import DEFAULT_REC_THRESH, UNKNOWN, GalleryIndex, Match

__all__ = ["DEFAULT_REC_THRESH", "UNKNOWN", "GalleryIndex", "Match"]
