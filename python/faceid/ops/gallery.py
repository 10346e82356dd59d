"""bf16 gallery scores: the candidate pass of exact search (native, AVX512-BF16 or scalar), with numpy references.

A gallery's float32 unit rows are copied to bf16 (round to nearest even) in *panels* of 16 rows laid out
``(P, ceil(D / 2), 16, 2)`` uint16: ``panels[p, i, r]`` is dimensions ``2i, 2i + 1`` of row ``16p + r`` (an odd
last dimension is padded with 0). One 64-byte load is then 16 rows x 2 dimensions, the operand of one
``vdpbf16ps``, which multiplies bf16 pairs exactly and accumulates in float32 at twice the float32 FMA rate, and
reads half the bytes. :func:`bf16_candidates` keeps, per query, every row whose bf16 score is at least the
query's k-th best bf16 score minus a margin; with the margin of :func:`bf16_margin` the exact top k is among
them, so an exact re-score of these few rows gives exact results (``faceid.gallery.search``).

The margin, for a query ``q`` and rows ``x`` with ``sum|q_i x_i| <= |q| |x| <= s`` (``s = |q| max|x|``):

* rounding both operands to bf16 (relative error ``u = 2^-8`` each) changes each product by at most
  ``(2u + u^2) |q_i x_i|``, so the sum of the bf16 products is within ``(2^-7 + 2^-16) s`` of the exact dot;
* float32 accumulation of ``D`` terms, in any order, adds at most ``gamma_D = D 2^-24 / (1 - D 2^-24)`` times
  the sum of their magnitudes (``<= (1 + 2^-7 + 2^-16) s``); the hardware flushing bf16 subnormals and tiny
  partial sums adds at most ``D 2^-123`` (absolute);
* so each bf16 score is within ``e = bf16_error_bound(D) s + D 2^-123`` of the exact dot. A row of the exact top
  k scores (exactly) at least the worst of the k rows with the best bf16 scores, each of which is within ``e``
  of the k-th best bf16 score ``T``: its bf16 score is >= ``T - 2e``. The re-score ranks by the float32-rounded
  exact dot (computed in float64) with ties by row, which adds one float32 ulp (``<= 2^-23 s``); the float32
  subtraction ``T - margin`` in the kernel and the float64 sum's error stay below another ``2^-23 s``.
  Margin = ``2e + 2^-21 s`` (rounded up); for D = 512 and unit vectors that is 0.0157.

(A one-sided bound, ``e`` alone ~ 0.0079, is not enough: both the row's and the k-th row's bf16 scores err.)
"""

from __future__ import annotations

import functools
import os

import numpy as np

from faceid import _C

__all__ = [
    "bf16_candidates",
    "bf16_candidates_reference",
    "bf16_error_bound",
    "bf16_kernels_available",
    "bf16_margin",
    "bf16_scores",
    "bf16_scores_reference",
    "pack_bf16_panels",
    "pack_bf16_panels_reference",
    "pack_bf16_rows",
    "panel_shape",
    "to_bf16_reference",
]

PANEL_ROWS = 16


@functools.cache
def bf16_kernels_available() -> bool:
    """Whether the AVX512-BF16 kernel runs here (x86-64 build, a CPU with AVX512_BF16, not FACEID_FORCE_SCALAR);
    otherwise the ops still work, on the (slow) scalar kernel."""
    return bool(_C.build_info()["avx512_bf16_kernels"])


def default_threads() -> int:
    """The CPUs this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def panel_shape(rows: int, dim: int) -> tuple[int, int, int, int]:
    """The shape of the panels that hold ``rows`` rows of ``dim`` dimensions."""
    return (-(-rows // PANEL_ROWS), -(-dim // 2), PANEL_ROWS, 2)


def pack_bf16_rows(
    rows: np.ndarray, positions: np.ndarray, panels: np.ndarray, *, num_threads: int | None = None
) -> None:
    """Write float32 ``rows`` (n, D) as bf16 into row ``positions`` (n,) of ``panels`` (in place); the other rows
    are left as they are, so appending or moving a few rows repacks only their panels. ``positions`` must be
    distinct; ``num_threads`` as for :func:`bf16_candidates`."""
    rows = np.ascontiguousarray(rows, dtype=np.float32)
    threads = default_threads() if num_threads is None else num_threads
    _C.bf16_pack_rows(rows, np.ascontiguousarray(positions, dtype=np.int64), panels, threads)


def pack_bf16_panels(rows: np.ndarray, capacity: int | None = None) -> np.ndarray:
    """float32 ``rows`` (N, D) -> bf16 panels with room for ``capacity`` rows (default N; the rest zero)."""
    rows = np.ascontiguousarray(rows, dtype=np.float32)
    if rows.ndim != 2:
        raise ValueError(f"rows: expected a 2-D array (N, D), got shape {rows.shape}")
    capacity = len(rows) if capacity is None else capacity
    if capacity < len(rows):
        raise ValueError(f"capacity: expected at least {len(rows)} rows, got {capacity}")
    panels = np.zeros(panel_shape(capacity, rows.shape[1]), dtype=np.uint16)
    pack_bf16_rows(rows, np.arange(len(rows)), panels)
    return panels


def bf16_scores(panels: np.ndarray, n_rows: int, queries: np.ndarray) -> np.ndarray:
    """bf16 scores (B, n_rows) float32 of float32 ``queries`` (B, D) against the first ``n_rows`` panel rows."""
    return _C.bf16_scores(panels, n_rows, np.ascontiguousarray(queries, dtype=np.float32))


def bf16_candidates(
    panels: np.ndarray,
    n_rows: int,
    queries: np.ndarray,
    k: int,
    margins: np.ndarray | float,
    *,
    num_threads: int | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per query, every row of the first ``n_rows`` whose bf16 score >= its k-th best bf16 score - ``margins``
    (one per query, or one for all): ``(offsets (B + 1,), rows, scores)``, query ``q``'s rows (ascending) being
    ``rows[offsets[q]:offsets[q + 1]]``. Runs on ``num_threads`` threads (default: this process's CPUs)."""
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    margins = np.asarray(margins, dtype=np.float32)
    margins = np.full(len(queries), margins) if margins.ndim == 0 else np.ascontiguousarray(margins)
    threads = default_threads() if num_threads is None else num_threads
    return _C.bf16_candidates(panels, n_rows, queries, k, margins, threads)


def bf16_error_bound(dim: int) -> float:
    """The relative bound ``c``: a bf16 score of D-dimensional ``q``, ``x`` is within ``c |q| |x|`` (plus
    ``D 2^-123``) of their exact dot product (see the module docstring)."""
    unit = 2.0**-24
    if dim * unit >= 0.5:
        raise ValueError(f"dim: expected fewer than 2^23 dimensions, got {dim}")
    rounding = 2 * 2.0**-8 + 2.0**-16
    gamma = dim * unit / (1 - dim * unit)
    return rounding + gamma * (1 + rounding)


def bf16_margin(dim: int, scale: np.ndarray | float) -> np.ndarray:
    """The candidate margin for queries whose ``|q| max|x|`` is ``scale`` (see the module docstring)."""
    scale = np.asarray(scale, dtype=np.float64)
    margin = scale * (2 * bf16_error_bound(dim) + 2.0**-21) + 2 * dim * 2.0**-123
    return np.nextafter(margin.astype(np.float32), np.float32(np.inf))  # rounded up, never down


def to_bf16_reference(values: np.ndarray) -> np.ndarray:
    """float32 -> bf16 bits (uint16), round to nearest even, in plain numpy."""
    bits = np.ascontiguousarray(values, dtype=np.float32).view(np.uint32).astype(np.uint64)
    return ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16)


def from_bf16_reference(bits: np.ndarray) -> np.ndarray:
    """bf16 bits (uint16) -> float32."""
    return (np.asarray(bits, dtype=np.uint32) << 16).view(np.float32)


def pack_bf16_panels_reference(rows: np.ndarray) -> np.ndarray:
    """Plain numpy :func:`pack_bf16_panels`: the layout it must equal bit for bit."""
    rows = np.asarray(rows, dtype=np.float32)
    count, dim = rows.shape
    padded = np.zeros((-(-count // PANEL_ROWS) * PANEL_ROWS, -(-dim // 2) * 2), dtype=np.uint16)
    padded[:count, :dim] = to_bf16_reference(rows)
    # (P, 16, pairs, 2) -> (P, pairs, 16, 2)
    return np.ascontiguousarray(padded.reshape(-1, PANEL_ROWS, padded.shape[1] // 2, 2).transpose(0, 2, 1, 3))


def bf16_scores_reference(rows: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Both operands rounded to bf16, their products (exact) summed in float64, rounded to float32: the value
    the kernels compute up to float32 accumulation error (at most ``D 2^-24 sum|products|``)."""
    x = from_bf16_reference(to_bf16_reference(rows)).astype(np.float64)
    q = from_bf16_reference(to_bf16_reference(queries)).astype(np.float64)
    return (q @ x.T).astype(np.float32)


def bf16_candidates_reference(
    rows: np.ndarray, queries: np.ndarray, k: int, margins: np.ndarray | float
) -> list[np.ndarray]:
    """Brute-force :func:`bf16_candidates` on :func:`bf16_scores_reference`: per query, its candidate rows."""
    scores = bf16_scores_reference(rows, queries)
    margins = np.broadcast_to(np.asarray(margins, dtype=np.float32), (len(queries),))
    out = []
    for score, margin in zip(scores, margins, strict=True):
        cut = -np.inf if len(score) <= k else np.partition(score, len(score) - k)[len(score) - k] - margin
        out.append(np.flatnonzero(score >= cut))
    return out
