"""Exact cosine search: contiguous unit rows that grow in amortised O(1), BLAS in query batches, argpartition top-k.

:class:`Rows` is the storage (float32, or float16 to halve the memory and the bytes each search reads), with a
stable integer id per row so that removal is O(batch) (the last rows move into the holes). :func:`exact_top_k`
scores one block of gallery rows at a time, so a batch of queries against a million rows never holds more than
``batch x block`` similarities.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

__all__ = ["UNKNOWN", "Match", "Rows", "exact_top_k", "vote"]

UNKNOWN = "unknown"
BLOCK_ROWS = 1 << 16  # gallery rows scored per matrix product (64 queries x 64k rows = 16 MiB of float32)
HALF_BLOCK_ROWS = 1 << 13  # float16 rows are widened to float32 in blocks this size (16 MiB, cache-friendly)


@dataclass(frozen=True)
class Match:
    """Search result for one query: the identity (or ``unknown``), its best cosine similarity, the top-k
    ``(name, similarity)`` candidates best first (``face_ids``: their ids, when known)."""

    identity: str
    similarity: float
    candidates: tuple[tuple[str, float], ...]
    face_ids: tuple[int, ...] = ()


class Rows:
    """A growable (N, D) matrix of unit rows with an int64 id and an int32 label code per row."""

    def __init__(self, dim: int, dtype: str = "float32") -> None:
        if dtype not in ("float32", "float16"):
            raise ValueError(f"dtype must be float32 or float16, got {dtype!r}")
        self.dim, self.dtype, self.size = dim, np.dtype(dtype), 0
        self._data = np.zeros((0, dim), dtype=self.dtype)
        self._ids = np.zeros(0, dtype=np.int64)
        self._codes = np.zeros(0, dtype=np.int32)
        self._row_of_id = np.zeros(0, dtype=np.int64)  # id -> row, -1 when absent

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
        return self.size * (self.dim * self.dtype.itemsize + 8 + 4) + self._row_of_id.size * 8

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
        return ids

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
    order = np.lexsort((all_rows, -all_sims, owner))  # by query, best first
    first = np.searchsorted(owner[order], np.arange(batch))  # each query's first entry in that order
    take = order[first[:, None] + np.arange(k)]
    return all_sims[take], all_rows[take]


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
