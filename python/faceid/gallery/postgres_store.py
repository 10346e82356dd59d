"""The shared gallery store: PostgreSQL through psycopg 3 and a small connection pool (``pip install
"faceid[postgres]"``). Same tables as SQLite; writers serialise on a transaction-scoped advisory lock, so the change
log's sequence numbers commit in order and every reader sees every change."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

from faceid.errors import InputError
from faceid.gallery.store import GalleryStore

__all__ = ["PostgresStore"]

WRITE_LOCK = 0x66616365  # advisory lock key ("face")

SCHEMA = [
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS subjects (id BIGSERIAL PRIMARY KEY, name TEXT NOT NULL UNIQUE, "
    "created DOUBLE PRECISION NOT NULL)",
    "CREATE TABLE IF NOT EXISTS faces (id BIGSERIAL PRIMARY KEY, "
    "subject_id BIGINT NOT NULL REFERENCES subjects(id) ON DELETE CASCADE, embedding BYTEA NOT NULL, "
    "det_score DOUBLE PRECISION, quality DOUBLE PRECISION, image_sha256 TEXT UNIQUE, "
    "created DOUBLE PRECISION NOT NULL)",
    "CREATE INDEX IF NOT EXISTS faces_subject ON faces (subject_id)",
    "CREATE TABLE IF NOT EXISTS changes (seq BIGSERIAL PRIMARY KEY, op TEXT NOT NULL, face_id BIGINT NOT NULL)",
]


class PostgresStore(GalleryStore):
    """A gallery in a PostgreSQL database (``postgresql://user@host/db``); see :class:`GalleryStore`."""

    kind = "postgresql"

    def _connect(self, create: bool) -> None:
        try:
            import psycopg
            from psycopg_pool import ConnectionPool
        except ImportError as error:
            raise InputError(f"PostgreSQL galleries need pip install 'faceid[postgres]' ({error})", self.url) from None
        self._pool = ConnectionPool(
            self.url, min_size=1, max_size=4, open=False, timeout=self.wait_timeout, kwargs={"autocommit": False}
        )
        try:
            self._pool.open(wait=True, timeout=10)
        except psycopg.Error as error:
            self._pool.close()
            raise InputError(f"cannot connect to the gallery database ({error})", self.url) from None
        except Exception as error:  # the pool's own timeout error
            self._pool.close()
            raise InputError(f"cannot connect to the gallery database ({error})", self.url) from None
        self._create = create

    def _disconnect(self) -> None:
        if getattr(self, "_pool", None) is not None:
            self._pool.close()
            self._pool = None

    @contextlib.contextmanager
    def _transaction(self, *, write: bool = False) -> Iterator[Any]:
        with self._pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            if write:
                cur.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
            yield cur

    def _execute(self, cur: Any, sql: str, params: Sequence[Any] = ()) -> Any:
        cur.execute(sql.replace("?", "%s"), tuple(params))
        return cur

    def _schema(self) -> list[str]:
        return SCHEMA

    def _has_meta_table(self, cur: Any) -> bool:
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))  # two first openers: one creates the schema
        found = cur.execute("SELECT to_regclass('meta')").fetchone()[0] is not None
        if not found and not self._create:
            raise InputError("no gallery in this database", self.url)
        return found
