"""A durable gallery: subjects and their faces in SQLite or PostgreSQL, searched through an in-memory index.

One interface (:class:`GalleryStore`), two backends with the same schema (``faceid.gallery.sqlite_store``,
``faceid.gallery.postgres_store``), opened by :func:`open_store` from a path or URL: ``gallery.db``,
``sqlite:///gallery.db``, ``postgresql://user@host/db``.

- Tables: ``meta`` (schema version, model fingerprint/name, dimension), ``subjects`` (name, created), ``faces``
  (subject, float32 embedding bytes, detector score, quality, SHA-256 of the source image, created) and ``changes``
  (an append-only log of face ids added/removed). Every enrolment or removal is one transaction.
- The search index (:class:`GalleryIndex`) is read from the store at open and kept in sync: each write is applied
  to it, and changes by other processes are read from the log at most ``poll_interval`` seconds after they were
  made (checked before each search).
- The store records the fingerprint of the model that made its embeddings and refuses any other.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from faceid.errors import InputError
from faceid.gallery.index import DEFAULT_REC_THRESH, GalleryIndex, Match, check_model

__all__ = ["SCHEMA_VERSION", "AddResult", "FaceRecord", "GalleryStore", "Subject"]

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1
# Each migration takes the schema from version i to i + 1 (index i - 1); version 1 is the initial schema.
MIGRATIONS: list[list[str]] = []


@dataclass(frozen=True)
class AddResult:
    """What an enrolment did: the subject, the new face ids, and ``(digest, enrolled as)`` of faces skipped
    because the same image was already enrolled."""

    subject: str
    added: tuple[int, ...]
    duplicates: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Subject:
    name: str
    faces: int
    created: float


@dataclass(frozen=True)
class FaceRecord:
    """One enrolled face as stored (the embedding stays in the index)."""

    face_id: int
    quality: float | None
    det_score: float | None
    image_sha256: str | None
    created: float


class GalleryStore(ABC):
    """Subjects and faces of one model, durable, with a synced in-memory search index (``index``).

    ``fingerprint``/``model``/``dim``: the model that makes the embeddings (recorded in a new store; checked
    against an existing one, by fingerprint). ``create=False`` refuses a store that does not exist yet.
    ``ann``: ``"auto"`` (faiss for large galleries when installed), ``"on"`` or ``"off"``. ``wait_timeout``: seconds
    an operation waits for the database (a pooled connection, SQLite's write lock) before it fails; a service
    that must answer 503 quickly during an outage sets it low.
    """

    poll_interval = 0.5  # seconds between checks for other writers' changes
    kind = "store"

    def __init__(
        self,
        url: str,
        *,
        fingerprint: str | None = None,
        model: str | None = None,
        dim: int | None = None,
        create: bool = True,
        dtype: str = "float32",
        ann: str = "auto",
        ann_path: str | os.PathLike[str] | None = None,
        wait_timeout: float = 60.0,
    ) -> None:
        if ann not in ("auto", "on", "off"):
            raise ValueError(f"ann must be auto, on or off, got {ann!r}")
        self.url, self._dtype, self._ann_mode = url, dtype, ann
        self.wait_timeout = wait_timeout  # seconds an operation waits for the database (a connection, a lock)
        self._index_lock = threading.RLock()  # searches and index updates from several threads
        self._ann_path = None if ann_path is None else Path(ann_path)
        self._connect(create)
        with self._transaction(write=True) as cur:
            self._ensure_schema(cur)
            meta = self._read_meta(cur)
            meta = self._check_or_record_model(cur, meta, fingerprint, model, dim)
        self._meta = meta
        self.index: GalleryIndex | None = None
        if meta.get("dim"):
            self._load_index()

    # -- backend hooks -------------------------------------------------------------------------------------
    @abstractmethod
    def _connect(self, create: bool) -> None: ...

    @abstractmethod
    def _disconnect(self) -> None: ...

    def close(self) -> None:
        """Save a stale ANN index and close the connection(s)."""
        if getattr(self, "index", None) is not None and self.index.ann is not None:
            from faceid.gallery.ann import save_if_stale

            save_if_stale(self)
        self._disconnect()

    @abstractmethod
    @contextlib.contextmanager
    def _transaction(self, *, write: bool = False) -> Iterator[Any]:
        """A cursor inside one transaction (``write``: take the store's write lock first); commits on success."""

    @abstractmethod
    def _schema(self) -> list[str]:
        """CREATE statements of the schema (version ``SCHEMA_VERSION``)."""

    @abstractmethod
    def _has_meta_table(self, cur: Any) -> bool: ...

    def _execute(self, cur: Any, sql: str, params: Sequence[Any] = ()) -> Any:
        cur.execute(sql, tuple(params))
        return cur

    # -- schema and model ---------------------------------------------------------------------------------
    def _ensure_schema(self, cur: Any) -> None:
        if not self._has_meta_table(cur):
            for statement in self._schema():
                self._execute(cur, statement)
            self._execute(cur, "INSERT INTO meta (key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
            return
        row = self._execute(cur, "SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        version = int(row[0]) if row else 0
        if version > SCHEMA_VERSION:
            raise InputError(
                f"gallery store has schema version {version}; this faceid reads <= {SCHEMA_VERSION}", self.url
            )
        for step in range(version, SCHEMA_VERSION):
            for statement in MIGRATIONS[step - 1]:
                self._execute(cur, statement)
            logger.info("%s: migrated the gallery schema to version %d", self.url, step + 1)
        if version < SCHEMA_VERSION:
            self._execute(cur, "UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION),))

    def _read_meta(self, cur: Any) -> dict[str, Any]:
        meta: dict[str, Any] = dict(self._execute(cur, "SELECT key, value FROM meta").fetchall())
        if "dim" in meta:
            meta["dim"] = int(meta["dim"])
        return meta

    def _check_or_record_model(
        self, cur: Any, meta: dict[str, Any], fingerprint: str | None, model: str | None, dim: int | None
    ) -> dict[str, Any]:
        if meta.get("dim"):
            check_model(self.url, (meta.get("fingerprint"), meta.get("model")), (fingerprint, model))
            if dim is not None and dim != meta["dim"]:
                raise InputError(f"gallery holds {meta['dim']}-d embeddings, the model makes {dim}-d", self.url)
            return meta
        if dim is None:
            return meta
        for key, value in (("fingerprint", fingerprint or ""), ("model", model or ""), ("dim", str(dim))):
            self._execute(cur, "INSERT INTO meta (key, value) VALUES (?, ?)", (key, value))
        return {**meta, "fingerprint": fingerprint or "", "model": model or "", "dim": dim}

    @property
    def fingerprint(self) -> str | None:
        return self._meta.get("fingerprint") or None

    @property
    def model(self) -> str | None:
        return self._meta.get("model") or None

    @property
    def dim(self) -> int | None:
        return self._meta.get("dim")

    def __len__(self) -> int:
        self.refresh()
        return 0 if self.index is None else len(self.index)

    def __enter__(self) -> GalleryStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the in-memory index ------------------------------------------------------------------------------
    def _load_index(self) -> None:
        self.index = GalleryIndex(self.model or "", int(self.dim), fingerprint=self.fingerprint, dtype=self._dtype)
        with self._transaction() as cur:
            self._seq = self._last_seq(cur)  # read first: replaying a change twice is harmless
            rows = self._execute(
                cur,
                "SELECT f.id, s.name, f.embedding FROM faces f JOIN subjects s ON s.id = f.subject_id "
                "ORDER BY s.id, f.id",
            ).fetchall()
        if rows:
            ids = np.array([r[0] for r in rows], dtype=np.int64)
            vectors = np.frombuffer(b"".join(bytes(r[2]) for r in rows), dtype=np.float32).reshape(len(rows), -1)
            self.index.add_labelled([r[1] for r in rows], vectors, ids=ids, normalized=True)
        self._polled = time.monotonic()
        if self._ann_mode != "off":
            from faceid.gallery.ann import attach_ann

            attach_ann(self, required=self._ann_mode == "on")

    def _last_seq(self, cur: Any) -> int:
        return int(self._execute(cur, "SELECT COALESCE(MAX(seq), 0) FROM changes").fetchone()[0])

    def changes_since(self, seq: int) -> tuple[int, list[tuple[int, str, int]]]:
        """``(last seq, [(seq, op, face id), ...])`` of the change log after ``seq``."""
        with self._transaction() as cur:
            rows = self._execute(cur, "SELECT seq, op, face_id FROM changes WHERE seq > ? ORDER BY seq", (seq,))
            rows = [(int(a), str(b), int(c)) for a, b, c in rows.fetchall()]
        return (rows[-1][0] if rows else seq), rows

    def refresh(self, *, force: bool = False) -> None:
        """Apply other writers' changes (at most every ``poll_interval`` seconds unless ``force``)."""
        with self._index_lock:
            self._refresh(force)

    def _refresh(self, force: bool) -> None:
        if self.index is None:
            with self._transaction() as cur:
                self._meta = self._read_meta(cur)
            if self.dim:
                self._load_index()
            return
        if not force and time.monotonic() - self._polled < self.poll_interval:
            return
        self._polled = time.monotonic()
        last, rows = self.changes_since(self._seq)
        if not rows:
            return
        self.index.remove_ids(np.array([face for _, op, face in rows if op == "remove"], dtype=np.int64))
        added = [face for _, op, face in rows if op == "add" and self.index._rows.rows_of([face])[0] < 0]
        self._fetch_into_index(added)
        self._seq = last

    def _fetch_into_index(self, face_ids: list[int]) -> None:
        if not face_ids:
            return
        marks = ", ".join("?" * len(face_ids))
        with self._transaction() as cur:
            rows = self._execute(
                cur,
                "SELECT f.id, s.name, f.embedding FROM faces f JOIN subjects s ON s.id = f.subject_id "
                f"WHERE f.id IN ({marks}) ORDER BY s.id, f.id",
                face_ids,
            ).fetchall()
        if rows:
            vectors = np.frombuffer(b"".join(bytes(r[2]) for r in rows), dtype=np.float32).reshape(len(rows), -1)
            self.index.add_labelled([r[1] for r in rows], vectors, ids=np.array([r[0] for r in rows]), normalized=True)

    # -- writes ---------------------------------------------------------------------------------------------
    def add(
        self,
        name: str,
        embeddings: np.ndarray,
        *,
        digests: Sequence[str | None] | None = None,
        det_scores: Sequence[float | None] | None = None,
        qualities: Sequence[float | None] | None = None,
    ) -> AddResult:
        """Enrol faces of ``name`` in one transaction (the subject is created when new). A face whose image
        digest is already enrolled is skipped and reported in ``duplicates``."""
        if self.index is None:
            raise InputError(
                "gallery store has no model yet: open it with the recogniser's fingerprint and dim", self.url
            )
        rows = np.asarray(embeddings, dtype=np.float32).reshape(-1, self.index.dim)
        from faceid.gallery.index import _unit

        rows = _unit(rows)
        count = len(rows)
        digests = list(digests) if digests is not None else [None] * count
        det_scores = list(det_scores) if det_scores is not None else [None] * count
        qualities = list(qualities) if qualities is not None else [None] * count
        if not name or name == "unknown" or not (len(digests) == len(det_scores) == len(qualities) == count):
            raise ValueError(f"invalid enrolment of {name!r}: {count} faces, {len(digests)} digests")
        now = time.time()
        with self._transaction(write=True) as cur:
            duplicates, keep = self._known_digests(cur, digests)
            subject = self._subject_id(cur, name, now) if keep else None
            added = []
            for i in keep:
                face = self._execute(
                    cur,
                    "INSERT INTO faces (subject_id, embedding, det_score, quality, image_sha256, created) "
                    "VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
                    (subject, rows[i].tobytes(), det_scores[i], qualities[i], digests[i], now),
                ).fetchone()[0]
                added.append(int(face))
            seqs = [self._log(cur, "add", face) for face in added]
        self._applied(
            seqs, lambda: self.index.add(name, rows[keep], ids=np.array(added, dtype=np.int64), normalized=True)
        )
        return AddResult(name, tuple(added), tuple(duplicates))

    def _known_digests(self, cur: Any, digests: list[str | None]) -> tuple[list[tuple[str, str]], list[int]]:
        wanted = sorted({d for d in digests if d})
        known: dict[str, str] = {}
        if wanted:
            marks = ", ".join("?" * len(wanted))
            known = dict(
                self._execute(
                    cur,
                    "SELECT f.image_sha256, s.name FROM faces f JOIN subjects s ON s.id = f.subject_id "
                    f"WHERE f.image_sha256 IN ({marks})",
                    wanted,
                ).fetchall()
            )
        duplicates, keep, seen = [], [], set()
        for i, digest in enumerate(digests):
            if digest and (digest in known or digest in seen):
                duplicates.append((digest, known.get(digest, "this enrolment")))
                continue
            seen.add(digest)
            keep.append(i)
        return duplicates, keep

    def _subject_id(self, cur: Any, name: str, now: float) -> int:
        row = self._execute(cur, "SELECT id FROM subjects WHERE name = ?", (name,)).fetchone()
        if row:
            return int(row[0])
        return int(
            self._execute(
                cur, "INSERT INTO subjects (name, created) VALUES (?, ?) RETURNING id", (name, now)
            ).fetchone()[0]
        )

    def _log(self, cur: Any, op: str, face: int) -> int:
        return int(
            self._execute(cur, "INSERT INTO changes (op, face_id) VALUES (?, ?) RETURNING seq", (op, face)).fetchone()[
                0
            ]
        )

    def _applied(self, seqs: list[int], apply_locally: Any) -> None:
        """After a commit: when our changes directly follow what the index has seen, apply them in memory;
        otherwise (another writer came between) read the log."""
        with self._index_lock:
            self._apply_own(seqs, apply_locally)

    def _apply_own(self, seqs: list[int], apply_locally: Any) -> None:
        if seqs and seqs[0] == self._seq + 1 and seqs[-1] == self._seq + len(seqs):
            apply_locally()
            self._seq = seqs[-1]
        elif seqs:
            self._refresh(True)

    def remove(self, name: str) -> int:
        """Remove ``name`` and all its faces in one transaction; returns the number of faces removed."""
        with self._transaction(write=True) as cur:
            row = self._execute(cur, "SELECT id FROM subjects WHERE name = ?", (name,)).fetchone()
            if row is None:
                raise InputError(f"no subject named {name!r} in the gallery", self.url)
            faces = [int(r[0]) for r in self._execute(cur, "SELECT id FROM faces WHERE subject_id = ?", row).fetchall()]
            self._execute(cur, "DELETE FROM faces WHERE subject_id = ?", row)
            self._execute(cur, "DELETE FROM subjects WHERE id = ?", row)
            seqs = [self._log(cur, "remove", face) for face in faces]
        if self.index is not None:
            self._applied(seqs, lambda: self.index.remove_ids(np.array(faces, dtype=np.int64)))
        return len(faces)

    def remove_face(self, face_id: int) -> str:
        """Remove one face (and its subject when it was the last one) in one transaction; returns the subject."""
        with self._transaction(write=True) as cur:
            row = self._execute(
                cur,
                "SELECT s.id, s.name FROM faces f JOIN subjects s ON s.id = f.subject_id WHERE f.id = ?",
                (face_id,),
            ).fetchone()
            if row is None:
                raise InputError(f"no face with id {face_id} in the gallery", self.url)
            self._execute(cur, "DELETE FROM faces WHERE id = ?", (face_id,))
            left = self._execute(cur, "SELECT COUNT(*) FROM faces WHERE subject_id = ?", (row[0],)).fetchone()
            if int(left[0]) == 0:
                self._execute(cur, "DELETE FROM subjects WHERE id = ?", (row[0],))
            seq = self._log(cur, "remove", face_id)
        if self.index is not None:
            self._applied([seq], lambda: self.index.remove_ids(np.array([face_id], dtype=np.int64)))
        return str(row[1])

    # -- reads ----------------------------------------------------------------------------------------------
    def subjects(self) -> list[Subject]:
        """Every subject with its number of faces, by name."""
        with self._transaction() as cur:
            rows = self._execute(
                cur,
                "SELECT s.name, COUNT(f.id), s.created FROM subjects s LEFT JOIN faces f ON f.subject_id = s.id "
                "GROUP BY s.id, s.name, s.created ORDER BY s.name",
            ).fetchall()
        return [Subject(str(name), int(count), float(created)) for name, count, created in rows]

    def faces_of(self, name: str) -> list[FaceRecord]:
        """The faces of subject ``name`` by id; an InputError when there is no such subject."""
        with self._transaction() as cur:
            row = self._execute(cur, "SELECT id FROM subjects WHERE name = ?", (name,)).fetchone()
            if row is None:
                raise InputError(f"no subject named {name!r} in the gallery", self.url)
            rows = self._execute(
                cur,
                "SELECT id, quality, det_score, image_sha256, created FROM faces WHERE subject_id = ? ORDER BY id",
                (row[0],),
            ).fetchall()
        return [FaceRecord(int(r[0]), r[1], r[2], r[3], float(r[4])) for r in rows]

    def ping(self) -> None:
        """Ask the database one trivial query (raises the driver's error when it does not answer)."""
        with self._transaction() as cur:
            self._execute(cur, "SELECT 1").fetchone()

    def search(
        self,
        queries: np.ndarray,
        *,
        cdd_num: int = 5,
        rec_thresh: float = DEFAULT_REC_THRESH,
        exact: bool | None = None,
    ) -> list[Match]:
        """:meth:`GalleryIndex.search` on the current gallery (other writers' changes included)."""
        with self._index_lock:
            self._refresh(False)
            if self.index is None:
                raise InputError("gallery store is empty (no model recorded yet)", self.url)
            return self.index.search(queries, cdd_num=cdd_num, rec_thresh=rec_thresh, exact=exact)

    @property
    def identities(self) -> list[str]:
        self.refresh()
        return [] if self.index is None else self.index.identities

    def export_index(self) -> GalleryIndex:
        """The gallery as a :class:`GalleryIndex` (to save as npz)."""
        self.refresh(force=True)
        if self.index is None:
            raise InputError("gallery store is empty", self.url)
        out = GalleryIndex(self.index.model, self.index.dim, fingerprint=self.index.fingerprint)
        out.add_labelled(self.index.labels, np.asarray(self.index.embeddings, dtype=np.float32), normalized=True)
        return out

    def import_index(self, index: GalleryIndex) -> list[AddResult]:
        """Enrol every identity of ``index`` (one transaction per identity)."""
        labels, rows = index.labels, np.asarray(index.embeddings, dtype=np.float32)
        return [self.add(name, rows[[i for i, x in enumerate(labels) if x == name]]) for name in dict.fromkeys(labels)]
