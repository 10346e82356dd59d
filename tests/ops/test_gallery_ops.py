"""bf16 gallery ops (faceid.ops.gallery) against their numpy references: the panel packing bit for bit, the bf16
scores against an emulation of bf16 rounding and against float64 within the proven bound, the candidate pass
against brute force. Under FACEID_FORCE_SCALAR=1 (CI runs tests/ops that way too) the scalar kernel is tested."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import faceid
from faceid.ops import gallery as ops


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def _bits(values: list[int]) -> np.ndarray:
    return np.array(values, dtype=np.uint32).view(np.float32)


def test_bf16_rounding_reference_rounds_to_nearest_even_by_hand() -> None:
    values = _bits(
        [
            0x3F800000,  # 1.0 -> 0x3F80
            0x3F808000,  # 1 + 2^-8: halfway between 0x3F80 and 0x3F81, to the even 0x3F80
            0x3F818000,  # halfway between 0x3F81 and 0x3F82, to the even 0x3F82
            0x3F808001,  # just above halfway: up
            0x3F807FFF,  # just below halfway: down
            0xBF818000,  # negative halfway: to even, magnitude up
            0x00000000,
            0x80000000,  # -0 stays -0
        ]
    )
    want = [0x3F80, 0x3F80, 0x3F82, 0x3F81, 0x3F80, 0xBF82, 0x0000, 0x8000]
    assert ops.to_bf16_reference(values).tolist() == want
    assert ops.from_bf16_reference(np.array([0x3F80, 0xC000], np.uint16)).tolist() == [1.0, -2.0]


@pytest.mark.parametrize(("count", "dim"), [(1, 1), (15, 7), (16, 24), (17, 33), (50, 512), (3, 2), (9001, 10)])
def test_pack_matches_the_numpy_reference_bit_for_bit(count: int, dim: int) -> None:
    rng = np.random.default_rng(count * 1000 + dim)
    rows = rng.normal(size=(count, dim)).astype(np.float32)
    rows.view(np.uint32)[:, ::3] = (rows.view(np.uint32)[:, ::3] & 0xFFFF0000) | 0x8000  # halfway cases
    packed = ops.pack_bf16_panels(rows)
    reference = ops.pack_bf16_panels_reference(rows)
    assert packed.shape == reference.shape == ops.panel_shape(count, dim)
    assert packed.tobytes() == reference.tobytes()
    # The layout by hand: panels[p, i, r] holds dimensions 2i, 2i + 1 of row 16p + r.
    row, pair = count - 1, (dim - 1) // 2
    assert packed[row // 16, pair, row % 16, 0] == ops.to_bf16_reference(rows[row, 2 * pair])


def test_pack_rows_writes_only_the_given_positions() -> None:
    rng = np.random.default_rng(3)
    rows = rng.normal(size=(5, 9)).astype(np.float32)
    panels = np.full(ops.panel_shape(40, 9), 0xABCD, dtype=np.uint16)
    positions = np.array([39, 0, 17, 16, 5])
    ops.pack_bf16_rows(rows, positions, panels)
    everything = np.full((48, 9), np.nan, np.float32)  # 3 panels
    everything[positions] = rows
    reference = ops.pack_bf16_panels_reference(np.nan_to_num(everything))
    lanes = panels.transpose(0, 2, 1, 3).reshape(48, -1)  # (row, pairs * 2)
    want = reference.transpose(0, 2, 1, 3).reshape(48, -1)
    np.testing.assert_array_equal(lanes[positions], want[positions])
    others = np.setdiff1d(np.arange(48), positions)
    assert (lanes[others] == 0xABCD).all()


@pytest.mark.parametrize(("count", "dim", "batch"), [(37, 24, 1), (100, 33, 13), (333, 512, 30), (16, 7, 12)])
def test_scores_equal_the_bf16_emulation_up_to_float32_accumulation(count: int, dim: int, batch: int) -> None:
    rng = np.random.default_rng(count + dim)
    rows, queries = _unit(rng.normal(size=(count, dim))), _unit(rng.normal(size=(batch, dim)))
    scores = ops.bf16_scores(ops.pack_bf16_panels(rows), count, queries)
    reference = ops.bf16_scores_reference(rows, queries)
    x = np.abs(ops.from_bf16_reference(ops.to_bf16_reference(rows)).astype(np.float64))
    q = np.abs(ops.from_bf16_reference(ops.to_bf16_reference(queries)).astype(np.float64))
    bound = dim * 2.0**-24 * (q @ x.T) + 2.0**-24 * np.abs(reference)  # accumulation, plus the reference's rounding
    assert scores.shape == (batch, count) and scores.dtype == np.float32
    assert (np.abs(scores.astype(np.float64) - reference) <= bound).all()


def test_scores_stay_within_the_proven_bound_of_the_exact_dot() -> None:
    rng = np.random.default_rng(4)
    dim = 512
    # Worst-case-like operands: every component just below a bf16 halfway point (maximal rounding error), all
    # products of one sign, so no error cancels.
    rows = _unit(np.abs(rng.normal(size=(64, dim))))
    queries = _unit(np.abs(rng.normal(size=(3, dim))))
    for a in (rows, queries):
        a.view(np.uint32)[:] = (a.view(np.uint32) & 0xFFFF0000) | 0x7FFF
    scores = ops.bf16_scores(ops.pack_bf16_panels(rows), len(rows), queries).astype(np.float64)
    wide_rows, wide_queries = rows.astype(np.float64), queries.astype(np.float64)
    exact = wide_queries @ wide_rows.T
    scale = np.linalg.norm(wide_queries, axis=1)[:, None] * np.linalg.norm(wide_rows, axis=1)[None]
    relative = np.abs(scores - exact) / scale
    bound = ops.bf16_error_bound(dim)
    assert relative.max() <= bound
    assert relative.min() > 0.3 * bound  # the data really does push the bf16 error towards the bound
    assert ops.bf16_margin(dim, 1.0) == pytest.approx(2 * bound + 2.0**-21, rel=1e-6)
    assert 0.0156 < bound * 2 < 0.0158  # D = 512, unit vectors: the documented 0.0157


def _assert_candidates(found: tuple, rows: np.ndarray, queries: np.ndarray, k: int, margin: float) -> None:
    """The kernel's candidates against brute force: every row clearly above the cut is in, every row in is not
    clearly below it (the two sum in different orders, so rows within 1e-5 of the cut may go either way)."""
    offsets, got, got_scores = found
    assert offsets.shape == (len(queries) + 1,) and offsets[0] == 0 and offsets[-1] == len(got)
    scores = ops.bf16_scores_reference(rows, queries).astype(np.float64)
    for q in range(len(queries)):
        mine = got[offsets[q] : offsets[q + 1]]
        assert (np.diff(mine) > 0).all()  # ascending, no duplicates
        np.testing.assert_allclose(got_scores[offsets[q] : offsets[q + 1]], scores[q, mine], atol=1e-5)
        if len(rows) <= k:
            np.testing.assert_array_equal(mine, np.arange(len(rows)))
            continue
        cut = np.sort(scores[q])[-k] - margin
        assert set(np.flatnonzero(scores[q] >= cut + 1e-5)) <= set(mine)
        assert (scores[q, mine] >= cut - 1e-5).all()
        assert len(mine) >= k


@pytest.mark.parametrize(("count", "dim", "k"), [(1000, 64, 5), (1000, 64, 1), (77, 31, 76), (77, 31, 77), (20, 8, 50)])
def test_candidates_equal_brute_force(count: int, dim: int, k: int) -> None:
    rng = np.random.default_rng(count + k)
    rows = _unit(rng.normal(size=(count, dim)))
    queries = _unit(rows[rng.integers(0, count, 25)] + 0.2 * rng.normal(size=(25, dim)))
    margin = 0.03
    panels = ops.pack_bf16_panels(rows)
    found = ops.bf16_candidates(panels, count, queries, k, margin, num_threads=2)
    _assert_candidates(found, rows, queries, k, margin)
    reference = ops.bf16_candidates_reference(rows, queries, k, margin)
    differ = sum(len(set(r) ^ set(found[1][found[0][q] : found[0][q + 1]])) for q, r in enumerate(reference))
    assert differ <= 2  # at most a row at the cut decided by the summation order


def test_candidates_do_not_depend_on_the_threads_or_stale_rows() -> None:
    rng = np.random.default_rng(6)
    rows = _unit(rng.normal(size=(9000, 16)))  # enough rows (>= 8192) for the threaded split
    queries = _unit(rng.normal(size=(7, 16)))
    panels = ops.pack_bf16_panels(rows)
    runs = [ops.bf16_candidates(panels, 8701, queries, 10, 0.02, num_threads=t) for t in (0, 1, 3)]
    for run in runs[1:]:
        for a, b in zip(runs[0], run, strict=True):
            np.testing.assert_array_equal(a, b)
    assert runs[0][1].max() < 8701  # rows past n_rows (still in the panels) are never candidates
    _assert_candidates(runs[0], rows[:8701], queries, 10, 0.02)


def test_bad_arguments_say_what_was_expected() -> None:
    rows = _unit(np.random.default_rng(7).normal(size=(20, 10)))
    panels = ops.pack_bf16_panels(rows)
    queries = rows[:2]
    cases = [
        (
            lambda: ops.bf16_scores(panels, 20, rows[:, :8]),
            r"panels: expected shape \(P, 4, 16, 2\) for D = 8, got \(2, 5, 16, 2\)",
        ),
        (lambda: ops.bf16_scores(panels, 33, queries), r"n_rows: expected 0..32 \(16 per panel\), got 33"),
        (lambda: ops.bf16_scores(panels.astype(np.int32), 20, queries), "panels: expected dtype uint16, got int32"),
        (lambda: ops.bf16_scores(panels[:, :, ::-1], 20, queries), "panels: expected a C-contiguous array"),
        (lambda: ops.bf16_scores(panels, 20, queries[0]), r"queries: expected a 2-D array \(N, D\), got shape \(10,\)"),
        (lambda: ops.bf16_candidates(panels, 20, queries, 0, 0.1), "k: expected k >= 1, got 0"),
        (
            lambda: ops.bf16_candidates(panels, 20, queries, 3, -0.1),
            r"margins\[0\]: expected a finite value >= 0, got -0.1",
        ),
        (lambda: ops.bf16_candidates(panels, 20, queries, 3, np.ones(3)), r"margins: expected shape \(2,\)"),
        (
            lambda: ops.bf16_candidates(panels, 20, queries, 3, 0.1, num_threads=-1),
            "num_threads: expected 0..256, got -1",
        ),
        (
            lambda: ops.pack_bf16_rows(rows, np.arange(20), panels, num_threads=300),
            "num_threads: expected 0..256, got 300",
        ),
        (
            lambda: ops.bf16_candidates(panels, 20, np.full((1, 10), np.nan), 3, 0.1),
            "queries: expected finite values, got nan at",
        ),
        (
            lambda: ops.pack_bf16_rows(rows[:2], np.array([0, 40]), panels),
            r"positions\[1\]: expected a row in \[0, 32\), got 40",
        ),
        (
            lambda: ops.pack_bf16_rows(rows[:2], np.array([0]), panels),
            r"positions: expected shape \(2,\) to match rows \(2, 10\), got \(1,\)",
        ),
        (
            lambda: ops.pack_bf16_rows(np.full((1, 10), np.inf), np.array([0]), panels),
            r"rows\[0, 0\]: expected a finite value \(in bf16 too\), got inf",
        ),
        (
            lambda: ops.pack_bf16_rows(np.full((1, 10), 3.4e38), np.array([0]), panels),
            r"rows\[0, 0\]: expected a finite value",
        ),
        (lambda: ops.pack_bf16_panels(rows, capacity=3), "capacity: expected at least 20 rows, got 3"),
    ]
    for call, message in cases:
        with pytest.raises(ValueError, match=message):
            call()
    readonly = panels.copy()
    readonly.flags.writeable = False
    with pytest.raises(ValueError, match="panels: expected a writable array"):
        ops.pack_bf16_rows(rows[:1], np.array([0]), readonly)


_SCALAR_SCRIPT = """
import sys
import numpy as np
import faceid
from faceid.ops import gallery as ops
with np.load(sys.argv[1]) as data:
    rows, queries = data["rows"], data["queries"]
panels = ops.pack_bf16_panels(rows)
offsets, found, cand = ops.bf16_candidates(panels, len(rows), queries, 5, 0.02)
np.savez(sys.argv[2], panels=panels, scores=ops.bf16_scores(panels, len(rows), queries), offsets=offsets,
         found=found, cand=cand, flags=[faceid.info()["native"]["force_scalar"], ops.bf16_kernels_available()])
"""


def test_scalar_kernel_agrees_with_the_vector_one(tmp_path: Path) -> None:
    rng = np.random.default_rng(8)
    rows, queries = _unit(rng.normal(size=(700, 96))), _unit(rng.normal(size=(20, 96)))
    np.savez(tmp_path / "in.npz", rows=rows, queries=queries)
    env = {**os.environ, "FACEID_FORCE_SCALAR": "1"}
    subprocess.run(
        [sys.executable, "-c", _SCALAR_SCRIPT, str(tmp_path / "in.npz"), str(tmp_path / "out.npz")], env=env, check=True
    )
    panels = ops.pack_bf16_panels(rows)
    with np.load(tmp_path / "out.npz") as scalar:
        assert scalar["flags"].tolist() == [True, False]  # forced: the AVX512-BF16 kernel is off
        assert scalar["panels"].tobytes() == panels.tobytes()
        vector = ops.bf16_scores(panels, len(rows), queries)
        np.testing.assert_allclose(scalar["scores"], vector, rtol=0, atol=96 * 2.0**-24)
        _assert_candidates((scalar["offsets"], scalar["found"], scalar["cand"]), rows, queries, 5, 0.02)
    if os.environ.get("FACEID_FORCE_SCALAR") != "1":
        native = faceid.info()["native"]
        assert native["avx512_bf16_kernels"] == (native["simd_compiled"] and _cpu_has_avx512_bf16())


def _cpu_has_avx512_bf16() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return False
    return {"avx512f", "avx512bw", "avx512_bf16"} <= set(flags)
