"""The embedded gallery store: one SQLite file in WAL mode (readers never wait for the writer), each enrolment one
``BEGIN IMMEDIATE`` transaction, so a crash leaves it whole or absent."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from faceid.errors import InputError
from faceid.gallery.store import GalleryStore

__all__ = ["SQLiteStore"]

SCHEMA = [
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE subjects (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL UNIQUE, created REAL NOT NULL)",
    "CREATE TABLE faces (id INTEGER PRIMARY KEY AUTOINCREMENT, "
    "subject_id INTEGER NOT NULL REFERENCES subjects(id) ON DELETE CASCADE, embedding BLOB NOT NULL, "
    "det_score REAL, quality REAL, image_sha256 TEXT UNIQUE, created REAL NOT NULL)",
    "CREATE INDEX faces_subject ON faces (subject_id)",
    "CREATE TABLE changes (seq INTEGER PRIMARY KEY AUTOINCREMENT, op TEXT NOT NULL, face_id INTEGER NOT NULL)",
]


class SQLiteStore(GalleryStore):
    """A gallery in one SQLite file (``path``); see :class:`GalleryStore`."""

    kind = "sqlite"

    def _connect(self, create: bool) -> None:
        path = Path(self.url)
        if not create and not path.is_file():
            raise InputError("gallery store not found", path)
        if path.is_file():
            with open(path, "rb") as handle:
                head = handle.read(16)
            if head and head != b"SQLite format 3\x00":
                raise InputError("not a gallery store (not an SQLite file)", path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        try:
            self._db = sqlite3.connect(path, isolation_level=None, timeout=self.wait_timeout, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
        except sqlite3.DatabaseError as error:
            raise InputError(f"not a gallery store ({error})", path) from None
        self._db.execute("PRAGMA synchronous=NORMAL")  # WAL: a crash loses no committed transaction's integrity
        self._db.execute("PRAGMA foreign_keys=ON")

    def _disconnect(self) -> None:
        if getattr(self, "_db", None) is not None:
            self._db.close()
            self._db = None

    @contextlib.contextmanager
    def _transaction(self, *, write: bool = False) -> Iterator[Any]:
        with self._lock:
            cur = self._db.cursor()
            cur.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield cur
            except BaseException:
                cur.execute("ROLLBACK")
                raise
            cur.execute("COMMIT")

    def _schema(self) -> list[str]:
        return SCHEMA

    def _has_meta_table(self, cur: Any) -> bool:
        return cur.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").fetchone() is not None
