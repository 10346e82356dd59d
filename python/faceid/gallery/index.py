"""A gallery of known identities: unit embeddings with names, exact cosine search, safe files.

Files: ``<name>.npz`` holds ``embeddings`` (N, D) float32 and ``labels`` (N,) unicode; a JSON header inside
(``meta``) records the model that made the embeddings and the dimension. Written to a temporary file and
renamed; read with ``allow_pickle=False``. The reference wheel's ``index.bin`` pickle
(``{"label": [...], "feature": [(1, D) arrays]}``) is imported through the restricted unpickler.
"""

from __future__ import annotations

import io
import json
import logging
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from faceid.eval.metrics import l2_normalize
from faceid.io.atomic import atomic_write_bytes

logger = logging.getLogger(__name__)

__all__ = ["DEFAULT_REC_THRESH", "UNKNOWN", "GalleryIndex", "Match"]

UNKNOWN = "unknown"
# Cosine similarity above which a candidate counts (a verification-style threshold; see README).
DEFAULT_REC_THRESH = 0.4


@dataclass(frozen=True)
class Match:
    """Search result for one query: the identity (or ``unknown``) and its best cosine similarity."""

    identity: str
    similarity: float
    candidates: tuple[tuple[str, float], ...]


def _unit(rows: np.ndarray) -> np.ndarray:
    rows = np.asarray(rows, dtype=np.float32)
    if rows.ndim == 1:
        rows = rows[None]
    if rows.ndim != 2 or not np.isfinite(rows).all():
        raise ValueError(f"embeddings must be a finite (N, D) array, got shape {rows.shape}")
    return l2_normalize(rows)


class GalleryIndex:
    """Names and unit embeddings of one model; ``search`` by cosine similarity with a vote over the top-k."""

    def __init__(self, model: str, dim: int) -> None:
        if dim <= 0:
            raise ValueError(f"dim must be positive, got {dim}")
        self.model, self.dim = model, dim
        self.embeddings = np.zeros((0, dim), dtype=np.float32)
        self.labels: list[str] = []

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def identities(self) -> list[str]:
        return sorted(set(self.labels))

    def add(self, name: str, embeddings: np.ndarray, *, model: str | None = None) -> None:
        """Add one or more embeddings of ``name`` (raw or normalised; stored unit-length)."""
        if model is not None and model != self.model:
            raise ValueError(f"this index holds {self.model} embeddings; refusing to add {model} ones")
        rows = _unit(embeddings)
        if rows.shape[1] != self.dim:
            raise ValueError(f"this index holds {self.dim}-d embeddings, got {rows.shape[1]}-d")
        if not name or name == UNKNOWN:
            raise ValueError(f"invalid identity name {name!r}")
        self.embeddings = np.concatenate([self.embeddings, rows])
        self.labels += [name] * len(rows)

    def remove(self, name: str) -> int:
        """Remove every embedding of ``name``; returns how many were removed."""
        keep = np.array([label != name for label in self.labels], dtype=bool)
        removed = int((~keep).sum())
        self.embeddings = self.embeddings[keep] if len(keep) else self.embeddings
        self.labels = [label for label in self.labels if label != name]
        return removed

    def search(self, queries: np.ndarray, *, cdd_num: int = 5, rec_thresh: float = DEFAULT_REC_THRESH) -> list[Match]:
        """For each query: the top ``cdd_num`` gallery entries by cosine; the most frequent name among those
        at or above ``rec_thresh`` wins (ties: the higher best similarity), else ``unknown``."""
        rows = _unit(queries)
        if rows.shape[1] != self.dim:
            raise ValueError(f"queries are {rows.shape[1]}-d, the index holds {self.dim}-d embeddings")
        if len(self) == 0:
            return [Match(UNKNOWN, -1.0, ()) for _ in rows]
        scores = rows @ self.embeddings.T  # exact search: one matrix product
        k = min(cdd_num, len(self))
        top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        return [self._vote(scores[i, top[i]], top[i], rec_thresh) for i in range(len(rows))]

    def _vote(self, sims: np.ndarray, indices: np.ndarray, rec_thresh: float) -> Match:
        candidates = tuple((self.labels[j], float(s)) for j, s in zip(indices, sims))
        passing = [(name, sim) for name, sim in candidates if sim >= rec_thresh]
        if not passing:
            return Match(UNKNOWN, float(sims[0]), candidates)
        counts = Counter(name for name, _ in passing)
        best = {name: max(s for n, s in passing if n == name) for name in counts}
        winner = max(counts, key=lambda name: (counts[name], best[name]))
        return Match(winner, best[winner], candidates)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the index atomically as npz (no pickle)."""
        path = Path(path)
        meta = json.dumps({"format": "faceid-gallery", "version": 1, "model": self.model, "dim": self.dim})
        buffer = io.BytesIO()
        np.savez(buffer, embeddings=self.embeddings, labels=np.array(self.labels, dtype=np.str_), meta=np.array(meta))
        atomic_write_bytes(path, buffer.getvalue())
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, model: str | None = None) -> GalleryIndex:
        """Read an index written by :meth:`save` (``model``: refuse an index of another model)."""
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(str(data["meta"]))
                embeddings, labels = data["embeddings"], [str(x) for x in data["labels"]]
        except (OSError, KeyError, ValueError) as error:
            raise ValueError(f"{path}: not a faceid gallery index ({error})") from None
        if meta.get("format") != "faceid-gallery" or embeddings.shape != (len(labels), meta["dim"]):
            raise ValueError(f"{path}: inconsistent gallery index (meta {meta}, embeddings {embeddings.shape})")
        if model is not None and meta["model"] != model:
            raise ValueError(f"{path}: index was built with {meta['model']}, not {model}")
        index = cls(meta["model"], int(meta["dim"]))
        index.embeddings, index.labels = embeddings.astype(np.float32), labels
        return index

    @classmethod
    def from_seed_index(cls, path: str | os.PathLike[str], *, model: str = "seed") -> GalleryIndex:
        """Import the reference wheel's ``index.bin`` (a pickle) through the restricted unpickler.

        The wheel's index builder fed its gallery images to the model in BGR while queries go in RGB, so the
        imported features match RGB queries less well than a correctly built index; this is logged as a warning
        with the command that rebuilds the index from the gallery photos."""
        from faceid.io.safe_pickle import BYTES_GLOBALS, numpy_float32_globals, restricted_loads

        path = Path(path)
        loaded = restricted_loads(path.read_bytes(), {**BYTES_GLOBALS, **numpy_float32_globals()}, source=str(path))
        if not isinstance(loaded, dict) or set(loaded) != {"label", "feature"}:
            raise ValueError(f"{path}: expected a pickled dict with 'label' and 'feature'")
        labels, features = loaded["label"], loaded["feature"]
        if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels) or len(labels) != len(features):
            raise ValueError(f"{path}: 'label' must be a list of str as long as 'feature'")
        rows = np.concatenate([np.asarray(f, dtype=np.float32).reshape(1, -1) for f in features])
        logger.warning(
            "%s: the reference wheel built this index from BGR images (its queries go in RGB), so same-person "
            "similarities come out lower than with a correctly built index (about 0.95 of them on small_lfw with "
            "mobileface_v1.0_infer); rebuild it from the gallery photos: faceid build-index --img_dir GALLERY "
            "[--label LABEL_FILE] --rec_model mobileface_v1.0_infer --output INDEX.npz",
            path,
        )
        index = cls(model, rows.shape[1])
        for name in dict.fromkeys(labels):
            index.add(name, rows[[i for i, label in enumerate(labels) if label == name]])
        return index
