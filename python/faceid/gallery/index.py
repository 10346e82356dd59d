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
from pathlib import Path
from typing import Any

import numpy as np

from faceid.embeddings import l2_normalize
from faceid.errors import InputError
from faceid.gallery.search import UNKNOWN, Match, Rows, vote
from faceid.io.atomic import atomic_write_bytes

__all__ = ["DEFAULT_REC_THRESH", "UNKNOWN", "GalleryIndex", "Match", "check_model"]

logger = logging.getLogger(__name__)

# Cosine similarity above which a candidate counts (a verification-style threshold; see README).
DEFAULT_REC_THRESH = 0.4
QUERY_BATCH = 64  # queries per matrix product


def _unit(rows: np.ndarray) -> np.ndarray:
    rows = np.asarray(rows, dtype=np.float32)
    if rows.ndim == 1:
        rows = rows[None]
    if rows.ndim != 2 or not np.isfinite(rows).all():
        raise ValueError(f"embeddings must be a finite (N, D) array, got shape {rows.shape}")
    return l2_normalize(rows)


def check_model(
    source: str | os.PathLike[str], recorded: tuple[str | None, str | None], given: tuple[str | None, str | None]
) -> None:
    """Refuse a gallery (``source``) of another model. ``recorded``/``given`` are ``(fingerprint, name)``: the
    fingerprints decide when both are known; a gallery without one (an old npz) falls back to the names."""
    (recorded_fp, recorded_name), (given_fp, given_name) = recorded, given  # "" or None: not recorded
    if recorded_fp and given_fp:
        if recorded_fp != given_fp:
            raise InputError(
                f"gallery was made with another model ({recorded_name}, fingerprint {recorded_fp[:12]}), "
                f"not {given_name} (fingerprint {given_fp[:12]})",
                source,
            )
        return
    if given_name and recorded_name and recorded_name != given_name:
        raise InputError(f"index was built with {recorded_name}, not {given_name}", source)
    if given_fp and not recorded_fp:
        logger.warning("%s records no model fingerprint; checked by model name only", source)


class GalleryIndex:
    """Names and unit embeddings of one model; ``search`` by cosine similarity with a vote over the top-k.

    ``fingerprint`` names the model's weights (:func:`faceid.export.fingerprint.model_fingerprint`), ``model`` is
    its display name; ``dtype="float16"`` halves the memory (similarities are computed in float32). Rows have
    integer ids (``add`` returns them); ``ann`` (an :class:`faceid.gallery.ann.AnnIndex`) makes ``search``
    approximate and is kept in sync by ``add``/``remove``. ``bf16_copy`` (``True``/``False``/``"auto"``): whether
    exact search on a large gallery may go through a bf16 copy of the rows (2 x dim more bytes per face, about
    twice as fast on a CPU with AVX512_BF16, results still exact; see :class:`faceid.gallery.search.Rows`).
    """

    def __init__(
        self,
        model: str,
        dim: int,
        *,
        fingerprint: str | None = None,
        dtype: str = "float32",
        bf16_copy: bool | str = "auto",
    ) -> None:
        if dim <= 0:
            raise ValueError(f"dim must be positive, got {dim}")
        self.model, self.dim, self.fingerprint = model, dim, fingerprint
        self._rows = Rows(dim, dtype, bf16_copy)
        self._names: list[str] = []
        self._code_of: dict[str, int] = {}
        self._next_id = 0
        self.ann: Any = None

    def __len__(self) -> int:
        return self._rows.size

    @property
    def embeddings(self) -> np.ndarray:
        """(N, D) unit rows (a view; float32 unless the index stores float16)."""
        return self._rows.data

    @property
    def ids(self) -> np.ndarray:
        return self._rows.ids

    @property
    def labels(self) -> list[str]:
        return [self._names[c] for c in self._rows.codes]

    @property
    def identities(self) -> list[str]:
        return sorted({self._names[c] for c in np.unique(self._rows.codes)})

    @property
    def nbytes(self) -> int:
        return self._rows.nbytes

    def _code(self, name: str) -> int:
        if name not in self._code_of:
            self._code_of[name] = len(self._names)
            self._names.append(name)
        return self._code_of[name]

    def add(
        self,
        name: str,
        embeddings: np.ndarray,
        *,
        model: str | None = None,
        ids: np.ndarray | None = None,
        normalized: bool = False,
    ) -> np.ndarray:
        """Add one or more embeddings of ``name`` (raw or normalised; stored unit-length) in amortised O(rows);
        returns their ids (``ids``: given ones, e.g. a store's face ids; ``normalized``: rows that faceid stored
        unit-length already, kept bit for bit)."""
        if model is not None and model != self.model:
            raise ValueError(f"this index holds {self.model} embeddings; refusing to add {model} ones")
        rows = np.asarray(embeddings, dtype=np.float32).reshape(-1, self.dim) if normalized else _unit(embeddings)
        if rows.shape[1] != self.dim:
            raise ValueError(f"this index holds {self.dim}-d embeddings, got {rows.shape[1]}-d")
        if not name or name == UNKNOWN:
            raise ValueError(f"invalid identity name {name!r}")
        if ids is None:
            ids = np.arange(self._next_id, self._next_id + len(rows), dtype=np.int64)
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        if len(ids) != len(rows):
            raise ValueError(f"{len(ids)} ids for {len(rows)} embeddings")
        self._rows.append(rows, ids, self._code(name))
        self._next_id = max(self._next_id, int(ids.max()) + 1 if len(ids) else 0)
        if self.ann is not None:
            self.ann.add(rows, ids)
        return ids

    def remove(self, name: str) -> int:
        """Remove every embedding of ``name``; returns how many were removed."""
        code = self._code_of.get(name)
        if code is None:
            return 0
        return self.remove_ids(self._rows.ids[self._rows.codes == code])

    def remove_ids(self, ids: np.ndarray) -> int:
        """Remove the rows with these ids in O(len(ids)) (absent ids are ignored); returns how many were removed."""
        removed = self._rows.remove(ids)
        if self.ann is not None and len(removed):
            self.ann.remove(removed)
        return len(removed)

    def search(
        self,
        queries: np.ndarray,
        *,
        cdd_num: int = 5,
        rec_thresh: float = DEFAULT_REC_THRESH,
        exact: bool | None = None,
    ) -> list[Match]:
        """For each query: the top ``cdd_num`` gallery entries by cosine; the most frequent name among those
        at or above ``rec_thresh`` wins (ties: the higher best similarity), else ``unknown``. Uses the ANN index
        when one is attached unless ``exact=True``."""
        rows = _unit(queries)
        if rows.shape[1] != self.dim:
            raise ValueError(f"queries are {rows.shape[1]}-d, the index holds {self.dim}-d embeddings")
        if len(self) == 0:
            return [Match(UNKNOWN, -1.0, ()) for _ in rows]
        sims, found = self.top_k(rows, cdd_num, exact=exact)
        matches = []
        for i in range(len(rows)):
            valid = found[i] >= 0
            codes, ids = self._rows.codes[found[i][valid]], self._rows.ids[found[i][valid]]
            matches.append(
                vote([self._names[c] for c in codes], sims[i][valid], rec_thresh, tuple(int(x) for x in ids))
            )
        return matches

    def top_k(self, queries: np.ndarray, k: int, *, exact: bool | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(sims, rows)`` (B, k) of unit ``queries``, best first; rows are positions (-1: no result)."""
        if self.ann is not None and not exact:
            return self._rescored(queries, self.ann.search(queries, k), k)
        parts = [self._rows.top_k(queries[i : i + QUERY_BATCH], k) for i in range(0, len(queries), QUERY_BATCH)]
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

    def _rescored(self, queries: np.ndarray, ids: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Exact similarities of the ANN's candidate ``ids`` (B, k'); the best ``k`` of them per query."""
        rows = self._rows.rows_of(ids.reshape(-1)).reshape(ids.shape)
        vectors = self._rows.data[np.where(rows >= 0, rows, 0)].astype(np.float32, copy=False)
        sims = np.where(rows >= 0, np.einsum("bkd,bd->bk", vectors, queries), -np.inf)
        order = np.argsort(-sims, axis=1, kind="stable")[:, :k]
        sims, rows = np.take_along_axis(sims, order, axis=1), np.take_along_axis(rows, order, axis=1)
        return sims.astype(np.float32), np.where(np.isfinite(sims), rows, -1)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the index atomically as npz (no pickle)."""
        path = Path(path)
        meta = {"format": "faceid-gallery", "version": 2, "model": self.model, "dim": self.dim}
        meta["fingerprint"] = self.fingerprint
        buffer = io.BytesIO()
        labels = np.array(self.labels, dtype=np.str_)
        embeddings = np.asarray(self.embeddings, dtype=np.float32)
        np.savez(buffer, embeddings=embeddings, labels=labels, meta=np.array(json.dumps(meta)))
        atomic_write_bytes(path, buffer.getvalue())
        return path

    @classmethod
    def load(
        cls, path: str | os.PathLike[str], *, model: str | None = None, fingerprint: str | None = None
    ) -> GalleryIndex:
        """Read an index written by :meth:`save`; refuse one of another model (by ``fingerprint`` when both
        record one, else by the ``model`` name)."""
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(str(data["meta"]))
                embeddings, labels = data["embeddings"], [str(x) for x in data["labels"]]
        except (OSError, KeyError, ValueError) as error:
            raise InputError(f"not a faceid gallery index ({error})", path) from None
        if meta.get("format") != "faceid-gallery" or embeddings.shape != (len(labels), meta["dim"]):
            raise InputError(f"inconsistent gallery index (meta {meta}, embeddings {embeddings.shape})", path)
        check_model(path, (meta.get("fingerprint"), meta["model"]), (fingerprint, model))
        index = cls(meta["model"], int(meta["dim"]), fingerprint=meta.get("fingerprint"))
        index.add_labelled(labels, embeddings, normalized=True)
        return index

    def add_labelled(
        self, labels: list[str], embeddings: np.ndarray, *, ids: np.ndarray | None = None, normalized: bool = False
    ) -> None:
        """Add rows with one label each, in their order (one ``add`` per run of equal labels)."""
        embeddings = np.asarray(embeddings, dtype=np.float32)
        start = 0
        for end in range(1, len(labels) + 1):
            if end == len(labels) or labels[end] != labels[start]:
                self.add(
                    labels[start],
                    embeddings[start:end],
                    ids=None if ids is None else ids[start:end],
                    normalized=normalized,
                )
                start = end

    @classmethod
    def from_arcface_paddle_index(cls, path: str | os.PathLike[str], *, model: str = "arcface_paddle") -> GalleryIndex:
        """Import the reference wheel's ``index.bin`` (a pickle) through the restricted unpickler.

        The wheel's index builder fed its gallery images to the model in BGR while queries go in RGB, so the
        imported features match RGB queries less well than a correctly built index; this is logged as a warning
        with the command that rebuilds the index from the gallery photos."""
        from faceid.io.safe_pickle import BYTES_GLOBALS, numpy_float32_globals, restricted_loads

        path = Path(path)
        loaded = restricted_loads(path.read_bytes(), {**BYTES_GLOBALS, **numpy_float32_globals()}, source=str(path))
        if not isinstance(loaded, dict) or set(loaded) != {"label", "feature"}:
            raise InputError("expected a pickled dict with 'label' and 'feature'", path)
        labels, features = loaded["label"], loaded["feature"]
        if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels) or len(labels) != len(features):
            raise InputError("'label' must be a list of str as long as 'feature'", path)
        rows = np.concatenate([np.asarray(f, dtype=np.float32).reshape(1, -1) for f in features])
        logger.warning(
            "%s: the reference wheel built this index from BGR images (its queries go in RGB), so same-person "
            "similarities come out lower than with a correctly built index (about 0.95 of them on small_lfw with "
            "mobileface_v1.0_infer); rebuild it from the gallery photos: faceid build-index --img_dir GALLERY "
            "[--label LABEL_FILE] --rec_model mobileface_v1.0_infer --output INDEX.npz",
            path,
        )
        index = cls(model, rows.shape[1])
        index.add_labelled(labels, rows)
        return index
