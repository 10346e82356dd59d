"""The service's only door to the gallery store (:mod:`faceid.gallery.store`).

It adds what the HTTP API needs on top of the store's interface: one subject's faces, removing one face by id,
a health probe, a lock that keeps the in-memory index consistent while request threads read and write it (held
only for the store call itself: detection and embedding run outside it), and the translation of database
outages into ``unavailable`` (503) and of unknown names into ``unknown_subject`` (404).
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from faceid.errors import InputError
from faceid.gallery.index import Match
from faceid.gallery.store import FaceRecord
from faceid.serve.errors import ApiError

__all__ = ["EnrolResult", "ServeStore"]

logger = logging.getLogger(__name__)

WAIT_TIMEOUT_S = 2.0


@dataclass(frozen=True)
class EnrolResult:
    added: tuple[int, ...]
    duplicates: tuple[tuple[str, str], ...]


def _outage_types() -> tuple[type[BaseException], ...]:
    types: list[type[BaseException]] = [sqlite3.OperationalError]
    try:
        import psycopg
        import psycopg_pool

        types += [psycopg.OperationalError, psycopg.InterfaceError, psycopg_pool.PoolTimeout]
    except ImportError:
        pass
    return tuple(types)


class ServeStore:
    """A gallery store opened for one recogniser (``fingerprint``, ``model`` name, ``dim``) at ``url``."""

    def __init__(self, url: str, *, fingerprint: str, model: str, dim: int) -> None:
        from faceid.gallery import open_store

        self.url = url
        self._lock = threading.RLock()
        self._outages = _outage_types()
        # during a database outage answer 503 within seconds, not after the store's default 60 s
        self._store = open_store(
            url, fingerprint=fingerprint, model=model, dim=dim, ann="off", wait_timeout=WAIT_TIMEOUT_S
        )

    def close(self) -> None:
        with self._lock:
            self._store.close()

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        try:
            with self._lock:
                yield
        except self._outages as error:
            logger.warning("gallery store %s unavailable: %s", self.url, error)
            raise ApiError("unavailable", f"the gallery store does not answer ({type(error).__name__})") from None

    def ping(self) -> bool:
        """True when the store answers a query now."""
        try:
            with self._guard():
                self._store.ping()
            return True
        except ApiError:
            return False

    def add(
        self,
        name: str,
        embeddings: np.ndarray,
        *,
        digests: Sequence[str],
        det_scores: Sequence[float],
        qualities: Sequence[float],
    ) -> EnrolResult:
        """Enrol faces of ``name`` in one transaction; faces whose image digest is enrolled already are reported."""
        with self._guard():
            result = self._store.add(
                name, embeddings, digests=list(digests), det_scores=list(det_scores), qualities=list(qualities)
            )
        return EnrolResult(tuple(result.added), tuple(result.duplicates))

    def search(self, queries: np.ndarray, *, limit: int, threshold: float) -> list[Match]:
        with self._guard():
            return self._store.search(queries, cdd_num=limit, rec_thresh=threshold, exact=True)

    def subjects(self) -> list[tuple[str, int, float]]:
        """``(name, number of faces, created)`` of every subject, by name."""
        with self._guard():
            return [(s.name, s.faces, s.created) for s in self._store.subjects()]

    def faces_of(self, name: str) -> list[FaceRecord]:
        """The faces of subject ``name``; ``unknown_subject`` when there is none."""
        with self._guard():
            try:
                return self._store.faces_of(name)
            except InputError:
                raise ApiError("unknown_subject", f"no subject named {name!r}") from None

    def remove_subject(self, name: str) -> int:
        with self._guard():
            try:
                return self._store.remove(name)
            except InputError:
                raise ApiError("unknown_subject", f"no subject named {name!r}") from None

    def remove_face(self, face_id: int) -> str:
        """Remove one face (and its subject when it was the last one) in one transaction; returns the subject."""
        with self._guard():
            try:
                return self._store.remove_face(face_id)
            except InputError:
                raise ApiError("unknown_face", f"no face with id {face_id}") from None

    def face_count(self) -> int:
        with self._guard():
            return len(self._store)
