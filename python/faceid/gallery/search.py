"""Exact cosine search: contiguous unit rows that grow in amortised O(1), BLAS in query batches, argpartition top-k.

:class:`Rows` is the storage (float32, or float16 to halve the memory and the bytes each search reads), with a
stable integer id per row so that removal is O(batch) (the last rows move into the holes). :func:`exact_top_k`
scores one block of gallery rows at a time, so a batch of queries against a million rows never holds more than
``batch x block`` similarities.

On a CPU with AVX512_BF16, :meth:`Rows.top_k` searches large galleries through a bf16 copy of the rows instead
(:mod:`faceid.ops.gallery`): bf16 dot products (twice the float32 rate, half the bytes) pick, per query, the few
rows that can be in the top k (a proven error margin), and those are re-scored exactly from the float32 rows
(:func:`bf16_exact_top_k`). The results are exact, not approximate: the same rows as :func:`exact_top_k` and the
similarities rounded to float32 from a float64 dot product.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from faceid.ops import gallery as bf16_ops

__all__ = ["UNKNOWN", "Match", "Rows", "bf16_exact_top_k", "exact_top_k", "vote"]

UNKNOWN = "unknown"
BLOCK_ROWS = 1 << 16  # gallery rows scored per matrix product (64 queries x 64k rows = 16 MiB of float32)
HALF_BLOCK_ROWS = 1 << 13  # float16 rows are widened to float32 in blocks this size (16 MiB, cache-friendly)
BF16_MIN_ROWS = 1 << 12  # bf16 pays from ~2k rows at batch 1 and 64 (measured on Zen4); below, BLAS and no copy
BF16_MAX_K = 1024  # beyond this k the candidate lists, not the dot products, dominate: float32 BLAS
RESCORE_CHUNK = 1 << 13  # candidates re-scored (widened to float64) at a time


@dataclass(frozen=True)
class Match:
    """Search result for one query: the identity (or ``unknown``), its best cosine similarity, the top-k
    ``(name, similarity)`` candidates best first (``face_ids``: their ids, when known)."""

    identity: str
    similarity: float
    candidates: tuple[tuple[str, float], ...]
    face_ids: tuple[int, ...] = ()


class Rows:
    """A growable (N, D) matrix of unit rows with an int64 id and an int32 label code per row.

    ``bf16_copy`` keeps a bf16 copy of the rows in panels (:mod:`faceid.ops.gallery`) for :meth:`top_k`'s bf16
    path, which costs ``2 * D`` more bytes per row: ``True`` always (made now), ``False`` never, ``"auto"`` (the
    default) for float32 rows on a CPU that runs the AVX512-BF16 kernel, made by the first search that uses it
    (a gallery of at least ``BF16_MIN_ROWS``). Once made, the copy follows every append and removal (only the
    panels of the rows that change are repacked).
    """

    def __init__(self, dim: int, dtype: str = "float32", bf16_copy: bool | str = "auto") -> None:
        if dtype not in ("float32", "float16"):
            raise ValueError(f"dtype must be float32 or float16, got {dtype!r}")
        if bf16_copy not in (True, False, "auto"):
            raise ValueError(f"bf16_copy must be True, False or 'auto', got {bf16_copy!r}")
        self.dim, self.dtype, self.size = dim, np.dtype(dtype), 0
        self.bf16_copy = bf16_copy
        self.max_norm = 0.0  # an upper bound of the rows' norms (never lowered by removals): the bf16 margin's scale
        self._data = np.zeros((0, dim), dtype=self.dtype)
        self._ids = np.zeros(0, dtype=np.int64)
        self._codes = np.zeros(0, dtype=np.int32)
        self._row_of_id = np.zeros(0, dtype=np.int64)  # id -> row, -1 when absent
        self._panels: np.ndarray | None = None
        if bf16_copy is True:
            self._panels = bf16_ops.pack_bf16_panels(np.zeros((0, dim), np.float32), capacity=64)

    @property
    def data(self) -> np.ndarray:
        return self._data[: self.size]

    @property
    def ids(self) -> np.ndarray:
        return self._ids[: self.size]

    @property
    def codes(self) -> np.ndarray:
        return self._codes[: self.size]

    @property
    def nbytes(self) -> int:
        panels = 0 if self._panels is None else self.size * bf16_ops.panel_shape(1, self.dim)[1] * 4
        return self.size * (self.dim * self.dtype.itemsize + 8 + 4) + self._row_of_id.size * 8 + panels

    @property
    def uses_bf16(self) -> bool:
        """Whether :meth:`top_k` with ``path="auto"`` would take the bf16 path for this many rows."""
        wanted = self.bf16_copy is True or (self.bf16_copy == "auto" and self.dtype == np.float32)
        return wanted and self.size >= BF16_MIN_ROWS and bf16_ops.bf16_kernels_available()

    @property
    def panels(self) -> np.ndarray:
        """The bf16 copy (made now if it was not yet): panels holding at least ``size`` rows."""
        if self._panels is None:
            if self.bf16_copy is False:
                raise ValueError("this Rows keeps no bf16 copy (bf16_copy=False)")
            self._panels = bf16_ops.pack_bf16_panels(np.zeros((0, self.dim), np.float32), capacity=len(self._data))
            self._pack(np.arange(self.size))
        return self._panels

    def _pack(self, positions: np.ndarray) -> None:
        """Repack ``positions`` into the bf16 copy (when there is one), growing it with the rows."""
        if self._panels is None or not len(positions):
            return
        needed = bf16_ops.panel_shape(self.size, self.dim)[0]
        if len(self._panels) < needed:
            grown = np.zeros(bf16_ops.panel_shape(len(self._data), self.dim), dtype=np.uint16)
            grown[: len(self._panels)] = self._panels
            self._panels = grown
        for start in range(0, len(positions), RESCORE_CHUNK):  # float16 rows widen a chunk at a time
            chunk = positions[start : start + RESCORE_CHUNK]
            bf16_ops.pack_bf16_rows(self._data[chunk].astype(np.float32, copy=False), chunk, self._panels)

    def _reserve(self, rows: int) -> None:
        if rows <= len(self._data):
            return
        capacity = max(rows, 2 * len(self._data), 64)
        for name in ("_data", "_ids", "_codes"):
            old = getattr(self, name)
            new = np.empty((capacity, *old.shape[1:]), dtype=old.dtype)
            new[: self.size] = old[: self.size]
            setattr(self, name, new)

    def append(self, rows: np.ndarray, ids: np.ndarray, code: int) -> None:
        """Append unit ``rows`` (k, D) with new unique ``ids`` (k,), all labelled ``code``."""
        ids = np.asarray(ids, dtype=np.int64)
        known = ids[(ids >= 0) & (ids < len(self._row_of_id))]
        if len(ids) and (ids.min() < 0 or (self._row_of_id[known] >= 0).any() or len(np.unique(ids)) != len(ids)):
            raise ValueError("face ids must be new, unique and non-negative")
        if not np.isfinite(rows).all():
            raise ValueError("rows must be finite")
        start, end = self.size, self.size + len(ids)
        self._reserve(end)
        self._data[start:end] = rows
        self._ids[start:end], self._codes[start:end] = ids, code
        top = int(ids.max()) + 1 if len(ids) else 0
        if top > len(self._row_of_id):
            grown = np.full(max(top, 2 * len(self._row_of_id)), -1, dtype=np.int64)
            grown[: len(self._row_of_id)] = self._row_of_id
            self._row_of_id = grown
        self._row_of_id[ids] = np.arange(start, end)
        self.size = end
        self.max_norm = max(self.max_norm, _max_norm(self._data[start:end]))
        self._pack(np.arange(start, end))

    def remove(self, ids: np.ndarray) -> np.ndarray:
        """Remove the rows of ``ids`` (unknown ids are ignored); the last rows move into the holes. Returns the ids
        that were present."""
        ids = np.asarray(ids, dtype=np.int64)
        ids = ids[(ids >= 0) & (ids < len(self._row_of_id))]
        ids = np.unique(ids[self._row_of_id[ids] >= 0])
        if not len(ids):
            return ids
        holes = np.sort(self._row_of_id[ids])
        self._row_of_id[ids] = -1
        end = self.size - len(ids)
        tail = np.arange(end, self.size)
        movers = tail[self._row_of_id[self._ids[tail]] >= 0]  # tail rows that stay
        targets = holes[holes < end]
        self._data[targets] = self._data[movers]
        self._ids[targets], self._codes[targets] = self._ids[movers], self._codes[movers]
        self._row_of_id[self._ids[targets]] = targets
        self.size = end
        self._pack(targets)
        return ids

    def top_k(self, queries: np.ndarray, k: int, path: str = "auto") -> tuple[np.ndarray, np.ndarray]:
        """Exact top-``k`` ``(sims, rows)`` of ``queries`` (B, D), as :func:`exact_top_k`. ``path``: ``"fp32"``
        (BLAS, :func:`exact_top_k`), ``"bf16"`` (:func:`bf16_exact_top_k`, making the bf16 copy if needed) or
        ``"auto"`` (bf16 when :attr:`uses_bf16` and ``k <= BF16_MAX_K``)."""
        if path not in ("auto", "bf16", "fp32"):
            raise ValueError(f"path must be 'auto', 'bf16' or 'fp32', got {path!r}")
        if path == "bf16" or (path == "auto" and self.uses_bf16 and k <= BF16_MAX_K):
            return bf16_exact_top_k(queries, self, k)
        return exact_top_k(queries, self.data, k)

    def rows_of(self, ids: np.ndarray) -> np.ndarray:
        """Row positions of present ``ids`` (-1 for absent ones)."""
        ids = np.asarray(ids, dtype=np.int64)
        out = np.full(len(ids), -1, dtype=np.int64)
        known = (ids >= 0) & (ids < len(self._row_of_id))
        out[known] = self._row_of_id[ids[known]]
        return out


def exact_top_k(queries: np.ndarray, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` cosine similarities of unit ``queries`` (B, D) against unit ``rows`` (N, D): ``(sims, rows)`` of
    shape (B, k), best first (ties by row order). One BLAS product per block of gallery rows; the first block's top
    k comes from argpartition, and each later block only contributes the scores above a query's current k-th best
    (a comparison pass, no partition of the block), so no sort of the whole gallery."""
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    k = min(k, len(rows))
    batch = len(queries)
    if k == 0 or batch == 0:
        return np.zeros((batch, 0), np.float32), np.zeros((batch, 0), np.int64)
    step = BLOCK_ROWS if rows.dtype == np.float32 else min(BLOCK_ROWS, HALF_BLOCK_ROWS)
    best_sims = np.zeros((batch, 0), dtype=np.float32)
    best_rows = np.zeros((batch, 0), dtype=np.int64)
    for start in range(0, len(rows), step):
        block = rows[start : start + step]
        scores = queries @ (block if block.dtype == np.float32 else block.astype(np.float32)).T
        if best_sims.shape[1] < k:  # still filling: keep every score, then the top k
            best_sims = np.concatenate([best_sims, scores], axis=1)
            best_rows = np.concatenate(
                [best_rows, np.broadcast_to(np.arange(start, start + len(block)), scores.shape)], 1
            )
            if best_sims.shape[1] > k:
                keep = np.argpartition(-best_sims, k - 1, axis=1)[:, :k]
                best_sims = np.take_along_axis(best_sims, keep, axis=1)
                best_rows = np.take_along_axis(best_rows, keep, axis=1)
            continue
        query, column = np.nonzero(scores > best_sims.min(axis=1, keepdims=True))
        if len(query):
            best_sims, best_rows = _merge(best_sims, best_rows, (query, scores[query, column], column + start))
    order = np.lexsort((best_rows, -best_sims), axis=1)
    return np.take_along_axis(best_sims, order, axis=1), np.take_along_axis(best_rows, order, axis=1)


def _merge(
    sims: np.ndarray, rows: np.ndarray, candidates: tuple[np.ndarray, np.ndarray, np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """The top k per query of the current ``(sims, rows)`` (B, k) and the ``candidates`` ``(query, sims, rows)``
    (flat, a query index each); ties keep the lower row."""
    batch, k = sims.shape
    query, new_sims, new_rows = candidates
    owner = np.concatenate([np.repeat(np.arange(batch), k), query])
    all_sims = np.concatenate([sims.ravel(), new_sims])
    all_rows = np.concatenate([rows.ravel(), new_rows])
    return _best_per_query(owner, all_sims, all_rows, batch, k)


def _best_per_query(
    owner: np.ndarray, sims: np.ndarray, rows: np.ndarray, batch: int, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """``(sims, rows)`` (batch, k) of the flat candidates ``(owner, sims, rows)``: per query (each has at least k)
    its k best, best first, ties by the lower row."""
    order = np.lexsort((rows, -sims, owner))  # by query, best first
    first = np.searchsorted(owner[order], np.arange(batch))  # each query's first entry in that order
    take = order[first[:, None] + np.arange(k)]
    return sims[take], rows[take]


def bf16_exact_top_k(queries: np.ndarray, rows: Rows, k: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`exact_top_k` through ``rows``' bf16 copy: the bf16 pass keeps per query every row within the
    proven margin of its k-th best bf16 score (:func:`faceid.ops.gallery.bf16_candidates`), and those are
    re-scored exactly (float64 dot products of the stored rows, rounded to float32) and ranked by similarity,
    ties by row. Same shapes and dtypes as :func:`exact_top_k`."""
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    if queries.ndim != 2 or queries.shape[1] != rows.dim:
        raise ValueError(f"queries: expected shape (B, {rows.dim}), got {queries.shape}")
    k, batch = min(k, rows.size), len(queries)
    if k == 0 or batch == 0:
        return np.zeros((batch, 0), np.float32), np.zeros((batch, 0), np.int64)
    scale = np.sqrt(np.einsum("ij,ij->i", queries, queries, dtype=np.float64)) * rows.max_norm * (1 + 1e-9)
    margins = bf16_ops.bf16_margin(rows.dim, scale)
    offsets, found, _ = bf16_ops.bf16_candidates(rows.panels, rows.size, queries, k, margins)
    owner = np.repeat(np.arange(batch), np.diff(offsets))
    return _best_per_query(owner, _rescore(queries, rows.data, owner, found), found, batch, k)


def _rescore(queries: np.ndarray, data: np.ndarray, owner: np.ndarray, found: np.ndarray) -> np.ndarray:
    """float32-rounded float64 dot products of ``queries[owner]`` and ``data[found]`` (float32 products are
    exact in float64, so the only error is the float64 sum's, far below a float32 ulp)."""
    out = np.empty(len(found), dtype=np.float32)
    wide = queries.astype(np.float64)
    for start in range(0, len(found), RESCORE_CHUNK):
        part = slice(start, start + RESCORE_CHUNK)
        out[part] = np.einsum("nd,nd->n", data[found[part]].astype(np.float64), wide[owner[part]])
    return out


def _max_norm(rows: np.ndarray) -> float:
    """An upper bound of the largest norm among ``rows``: float32 sums of squares (a chunk at a time), raised by
    their worst rounding error (``(D + 2) 2^-24`` relative)."""
    best = 0.0
    for start in range(0, len(rows), RESCORE_CHUNK):
        chunk = rows[start : start + RESCORE_CHUNK].astype(np.float32, copy=False)
        best = max(best, float(np.einsum("ij,ij->i", chunk, chunk).max()))
    return float(np.sqrt(best * (1 + (rows.shape[1] + 2) * 2.0**-23)))


def vote(names: list[str], sims: np.ndarray, rec_thresh: float, face_ids: tuple[int, ...] = ()) -> Match:
    """The decision rule: among the top-k ``(names, sims)`` (best first), the most frequent name at or above
    ``rec_thresh`` wins (ties: the higher best similarity); none above it: ``unknown``."""
    candidates = tuple((name, float(s)) for name, s in zip(names, sims, strict=False))
    passing = [(name, sim) for name, sim in candidates if sim >= rec_thresh]
    if not passing:
        return Match(UNKNOWN, float(sims[0]) if len(sims) else -1.0, candidates, face_ids)
    counts = Counter(name for name, _ in passing)
    best = {name: max(s for n, s in passing if n == name) for name in counts}
    winner = max(counts, key=lambda name: (counts[name], best[name]))
    return Match(winner, best[winner], candidates, face_ids)
