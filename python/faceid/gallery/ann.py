"""Approximate search for large galleries with faiss (``pip install "faceid[ann]"``, faiss-cpu; Python >= 3.10).

The index type follows the gallery's size (:func:`choose_kind`): IVF with flat codes up to 4M faces (k-means
lists, a fraction of them scanned per query; trains in seconds), IVF-PQ above (dim/8-byte codes). HNSW (no
training, fast queries, but about 2 ms of graph building per face on 2 cores: 100k faces take minutes) is there for
whoever asks for it (``kind="hnsw"``). Every kind returns candidate face ids that :class:`GalleryIndex` re-scores
exactly against its own rows, so similarities are exact and only recall is approximate. The trained index is saved
beside the store (``gallery.db.ann`` + ``gallery.db.ann.json``, atomic), with the store's change-log position, so
opening a large gallery replays the changes since then instead of retraining. Without faiss the exact search is used.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from faceid.errors import InputError
from faceid.io.atomic import atomic_write

__all__ = ["ANN_MIN_SIZE", "AnnIndex", "attach_ann", "choose_kind", "faiss_available"]

logger = logging.getLogger(__name__)

ANN_MIN_SIZE = 50_000  # below this, exact search is about as fast (see the README's benchmark)
KINDS = ("hnsw", "ivf_flat", "ivf_pq")


def faiss_available() -> bool:
    try:
        import faiss  # noqa: F401
    except ImportError:
        return False
    return True


def choose_kind(size: int) -> str:
    """The index type for a gallery of ``size`` faces."""
    return "ivf_flat" if size < 4_000_000 else "ivf_pq"


def _nprobe(nlist: int) -> int:
    """Lists scanned per query: 1/32 of them (1M faces: 32 of 1024 lists; recall@5 0.983 vs 0.943 at 1/64 on the
    benchmark's planted gallery)."""
    return max(8, nlist // 32)


def _nlist(size: int) -> int:
    """IVF lists: about sqrt(size), a power of two in [64, 16384]."""
    return int(min(16384, max(64, 2 ** round(np.log2(max(size, 1)) / 2))))


class AnnIndex:
    """A faiss inner-product index over unit rows, keyed by face id. ``search`` returns candidate ids (-1 pads)."""

    def __init__(self, index: Any, kind: str, dim: int, *, seq: int = 0, removed: set[int] | None = None) -> None:
        self.index, self.kind, self.dim, self.seq = index, kind, dim, seq
        self.removed = removed or set()  # HNSW cannot delete: removed ids are filtered out
        self.oversample = 4 if kind == "ivf_pq" else 1
        self.disk_seq = seq  # the change-log position of the saved copy

    @classmethod
    def build(cls, vectors: np.ndarray, ids: np.ndarray, *, kind: str | None = None, seed: int = 0) -> AnnIndex:
        """Train (IVF) and fill an index of ``kind`` (default: :func:`choose_kind`) with unit ``vectors``."""
        import faiss

        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        size, dim = vectors.shape
        kind = kind or choose_kind(size)
        if kind not in KINDS:
            raise ValueError(f"ANN kind must be one of {KINDS}, got {kind!r}")
        if kind == "hnsw":
            base = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
            base.hnsw.efConstruction, base.hnsw.efSearch = 80, 96
            index = faiss.IndexIDMap2(base)
        else:
            nlist = _nlist(size)
            quantizer = faiss.IndexFlatIP(dim)
            if kind == "ivf_flat":
                index = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
            else:
                index = faiss.IndexIVFPQ(quantizer, dim, nlist, max(1, dim // 8), 8, faiss.METRIC_INNER_PRODUCT)
            rng = np.random.default_rng(seed)
            sample = vectors[rng.choice(size, min(size, 64 * nlist), replace=False)] if size else vectors
            index.cp.seed = seed
            index.train(sample)
            index.nprobe = _nprobe(nlist)
        ann = cls(index, kind, dim)
        ann.add(vectors, ids)
        return ann

    @property
    def ntotal(self) -> int:
        return int(self.index.ntotal) - len(self.removed)

    def add(self, vectors: np.ndarray, ids: np.ndarray) -> None:
        if len(ids):
            self.index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), np.asarray(ids, dtype=np.int64))

    def remove(self, ids: np.ndarray) -> None:
        ids = np.asarray(ids, dtype=np.int64)
        if not len(ids):
            return
        if self.kind == "hnsw":
            self.removed.update(int(x) for x in ids)
        else:
            self.index.remove_ids(ids)

    def search(self, queries: np.ndarray, k: int) -> np.ndarray:
        """Candidate face ids (B, k') for unit ``queries``, best first, -1 where there are fewer."""
        fetch = k * self.oversample + (min(len(self.removed), 4 * k) if self.removed else 0)
        _, ids = self.index.search(np.ascontiguousarray(queries, dtype=np.float32), fetch)
        if self.removed:
            ids = np.where(np.isin(ids, np.fromiter(self.removed, np.int64)), -1, ids)
        return ids

    def save(self, path: str | os.PathLike[str], meta: dict[str, Any]) -> None:
        """Write the index to ``path`` and ``meta`` (+ kind, seq, removed) to ``path.json``, each atomically."""
        import faiss

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
        try:
            faiss.write_index(self.index, tmp)
            os.replace(tmp, path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        stat = path.stat()
        record = {
            **meta,
            "kind": self.kind,
            "dim": self.dim,
            "seq": self.seq,
            "removed": sorted(self.removed),
            "file_size": stat.st_size,
            "file_mtime_ns": stat.st_mtime_ns,
        }
        with atomic_write(f"{path}.json", "w") as handle:
            json.dump(record, handle)
        self.disk_seq = self.seq

    @classmethod
    def load(cls, path: str | os.PathLike[str], meta: dict[str, Any]) -> AnnIndex | None:
        """The saved index when it matches ``meta`` (fingerprint, dim) and is the file its record describes."""
        import faiss

        path = Path(path)
        try:
            record = json.loads(Path(f"{path}.json").read_text())
            stat = path.stat()
        except (OSError, ValueError):
            return None
        if any(record.get(key) != value for key, value in meta.items()) or (
            record.get("file_size"),
            record.get("file_mtime_ns"),
        ) != (stat.st_size, stat.st_mtime_ns):
            logger.info("%s: saved ANN index does not match this gallery; rebuilding", path)
            return None
        ann = cls(
            faiss.read_index(str(path)),
            record["kind"],
            int(record["dim"]),
            seq=int(record["seq"]),
            removed=set(record.get("removed", [])),
        )
        if ann.kind != "hnsw":
            ann.index.nprobe = _nprobe(ann.index.nlist)
        return ann


def ann_path(store: Any) -> Path:
    """Where a store's ANN index is kept: beside an SQLite file, else under ``$FACEID_HOME/ann``."""
    if store._ann_path is not None:
        return store._ann_path
    if store.kind == "sqlite":
        return Path(f"{store.url}.ann")
    home = Path(os.environ.get("FACEID_HOME", Path.home() / ".faceid"))
    return home / "ann" / f"{hashlib.sha256(store.url.encode()).hexdigest()[:16]}.faiss"


def attach_ann(store: Any, *, required: bool = False, kind: str | None = None) -> None:
    """Give ``store.index`` an ANN index: the saved one brought up to date from the change log, or a new one
    (saved). Only for galleries of at least :data:`ANN_MIN_SIZE` faces unless ``required``."""
    index = store.index
    if not required and len(index) < ANN_MIN_SIZE:
        return
    if not faiss_available():
        if required:
            raise InputError("approximate search needs faiss: pip install 'faceid[ann]' (Python >= 3.10)", store.url)
        logger.info("faiss not installed: exact search")
        return
    path, meta = ann_path(store), {"fingerprint": index.fingerprint, "dim": index.dim}
    ann = AnnIndex.load(path, meta)
    if ann is not None and (kind is None or ann.kind == kind):
        _, changes = store.changes_since(ann.seq)
        ann.remove(np.array([face for _, op, face in changes if op == "remove"], dtype=np.int64))
        added = np.array([face for _, op, face in changes if op == "add"], dtype=np.int64)
        rows = index._rows.rows_of(added)
        ann.add(index._rows.data[rows[rows >= 0]], added[rows >= 0])
        logger.info("%s: loaded the %s ANN index, %d changes replayed", path, ann.kind, len(changes))
    else:
        ann = AnnIndex.build(index.embeddings, index.ids, kind=kind)
        ann.seq = store._seq
        ann.save(path, meta)
        logger.info("%s: built a %s ANN index over %d faces", path, ann.kind, len(index))
    ann.seq = store._seq
    index.ann = ann


def save_if_stale(store: Any) -> None:
    """Re-save a store's ANN index when the change log has moved on by more than 1% of the gallery."""
    ann = None if store.index is None else store.index.ann
    if ann is not None and store._seq - ann.disk_seq > max(1000, len(store.index) // 100):
        ann.seq = store._seq
        ann.save(ann_path(store), {"fingerprint": store.index.fingerprint, "dim": store.index.dim})
