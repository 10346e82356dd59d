"""Exact search through the bf16 copy (Rows.top_k path="bf16") against the float32 BLAS search and a float64
brute force: planted near-duplicates, rows closer than bf16 can tell apart, ties, k > N, odd sizes, the copy kept
in sync by append/remove. CI runs this file under FACEID_FORCE_SCALAR=1 too (the scalar kernel)."""

from __future__ import annotations

import numpy as np
import pytest

from faceid.gallery import GalleryIndex
from faceid.gallery import search as search_module
from faceid.gallery.search import Rows, bf16_exact_top_k, exact_top_k
from faceid.ops import gallery as ops


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def _planted(rng: np.random.Generator, people: int, per_person: int, dim: int) -> tuple[np.ndarray, np.ndarray]:
    centres = _unit(rng.normal(size=(people, dim)))
    noise = 0.35 / np.sqrt(dim)
    faces = _unit(np.repeat(centres, per_person, axis=0) + noise * rng.normal(size=(people * per_person, dim)))
    return faces, _unit(centres + noise * rng.normal(size=centres.shape))


def _reference(queries: np.ndarray, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """float64 brute force: similarities rounded to float32, best first, ties by lower row."""
    sims = (queries.astype(np.float64) @ rows.astype(np.float64).T).astype(np.float32)
    order = np.lexsort((np.broadcast_to(np.arange(len(rows)), sims.shape), -sims), axis=1)[:, : min(k, len(rows))]
    return np.take_along_axis(sims, order, axis=1), order


def _assert_same_as_fp32(found: tuple, queries: np.ndarray, rows: np.ndarray, k: int) -> None:
    """Identical to exact_top_k: the same rows, similarities within 1e-6. Where the float32 BLAS product cannot
    tell two rows apart (exact similarities within 1e-6), its order may differ; the bf16 path's is the exact one."""
    sims, got = found
    want_sims, want = exact_top_k(queries, rows, k)
    assert got.shape == want.shape and got.dtype == np.int64 and sims.dtype == np.float32
    np.testing.assert_allclose(sims, want_sims, rtol=0, atol=1e-6)
    exact = queries.astype(np.float64) @ rows.astype(np.float64).T
    for q, position in np.argwhere(got != want):
        assert abs(exact[q, got[q, position]] - exact[q, want[q, position]]) < 1e-6
    ref_sims, ref_rows = _reference(queries, rows, k)
    np.testing.assert_array_equal(got, ref_rows)
    np.testing.assert_array_equal(sims, ref_sims)


@pytest.mark.parametrize(("people", "dim"), [(301, 512), (97, 37), (64, 24), (5, 64)])
def test_bf16_search_equals_fp32_exact_search_on_planted_data(people: int, dim: int) -> None:
    rng = np.random.default_rng(people + dim)
    faces, queries = _planted(rng, people, 5, dim)  # N = 5 x people: 1505, 485, 320, 25 (not all multiples of 16)
    rows = Rows(dim, bf16_copy=True)
    rows.append(faces, np.arange(len(faces)), 0)
    for k in (1, 5, 50, len(faces), len(faces) + 7):
        found = rows.top_k(queries, k, path="bf16")
        _assert_same_as_fp32(found, queries, faces, k)
        if k == 5:  # each query's top 5 is its person's five faces
            assert (np.sort(found[1], axis=1) // 5 == np.arange(people)[:, None]).all()
    assert np.array_equal(rows.top_k(queries, 5, path="fp32")[1], exact_top_k(queries, faces, 5)[1])


def test_rows_closer_than_bf16_resolves_come_out_in_exact_order() -> None:
    # 200 rows within 1e-4 of one another (bf16 sees them nearly all alike) among 2000 random ones: the bf16
    # ranking is noise there, the re-score must still find the exact top k among them.
    rng = np.random.default_rng(9)
    dim = 128
    base = _unit(rng.normal(size=(1, dim)))
    close = _unit(base + 1e-4 * rng.normal(size=(200, dim)))
    faces = _unit(rng.normal(size=(2000, dim)))
    faces[rng.choice(2000, 200, replace=False)] = close
    queries = _unit(base + 1e-3 * rng.normal(size=(4, dim)))
    rows = Rows(dim, bf16_copy=True)
    rows.append(faces, np.arange(2000), 0)
    bf16 = ops.bf16_scores(rows.panels, 2000, queries)
    top = _reference(queries, faces, 10)[1]
    assert not all(np.array_equal(np.argsort(-bf16[q], kind="stable")[:10], top[q]) for q in range(4))
    for k in (1, 10, 150):
        _assert_same_as_fp32(rows.top_k(queries, k, path="bf16"), queries, faces, k)


def test_ties_keep_the_lower_row() -> None:
    rng = np.random.default_rng(10)
    faces = _unit(rng.normal(size=(600, 48)))
    faces[[250, 590]] = faces[17]  # three identical rows, in different panels and tiles
    rows = Rows(48, bf16_copy=True)
    rows.append(faces, np.arange(600), 0)
    sims, found = rows.top_k(faces[[17]], 4, path="bf16")
    assert found[0, :3].tolist() == [17, 250, 590]
    assert sims[0, 0] == sims[0, 1] == sims[0, 2]
    _assert_same_as_fp32((sims, found), faces[[17]], faces, 4)


def test_edge_sizes_and_empty_inputs() -> None:
    rng = np.random.default_rng(11)
    for count, dim in ((1, 1), (15, 3), (16, 2), (17, 33), (33, 5)):
        faces = _unit(rng.normal(size=(count, dim)))
        queries = _unit(rng.normal(size=(3, dim)))
        rows = Rows(dim, bf16_copy=True)
        rows.append(faces, np.arange(count), 0)
        for k in (1, count, count + 1):
            _assert_same_as_fp32(rows.top_k(queries, k, path="bf16"), queries, faces, k)
    empty = Rows(4, bf16_copy=True)
    sims, found = empty.top_k(np.ones((2, 4), np.float32) / 2, 5, path="bf16")
    assert sims.shape == found.shape == (2, 0)
    assert bf16_exact_top_k(np.zeros((0, 4), np.float32), empty, 3)[1].shape == (0, 0)


def _panel_rows(rows: Rows) -> np.ndarray:
    """The bf16 copy as (rows, dims) uint16, in row order."""
    panels = rows.panels
    return panels.transpose(0, 2, 1, 3).reshape(len(panels) * 16, -1)[: rows.size, : rows.dim]


def test_the_bf16_copy_follows_appends_and_removes() -> None:
    rng = np.random.default_rng(12)
    dim = 20
    for bf16_copy in (True, "auto"):
        rows, alive, next_id = Rows(dim, bf16_copy=bf16_copy), {}, 0
        for step in range(120):
            if step % 5 == 4 and alive:
                doomed = rng.choice(sorted(alive), size=min(len(alive), int(rng.integers(1, 30))), replace=False)
                rows.remove(doomed)
                for face in doomed:
                    del alive[int(face)]
            else:
                batch = _unit(rng.normal(size=(int(rng.integers(1, 40)), dim)))
                ids = np.arange(next_id, next_id + len(batch))
                rows.append(batch, ids, step)
                alive.update(zip(ids.tolist(), batch, strict=True))
                next_id += len(batch)
            if step == 30 and bf16_copy == "auto":
                assert rows._panels is None  # not made until a search wants it
                rows.top_k(rows.data[:1], 3, path="bf16")
            if rows._panels is not None and step % 10 == 0:
                assert _panel_rows(rows).tobytes() == ops.to_bf16_reference(rows.data).tobytes()
        queries = _unit(rng.normal(size=(6, dim)))
        assert _panel_rows(rows).tobytes() == ops.to_bf16_reference(rows.data).tobytes()
        _assert_same_as_fp32(rows.top_k(queries, 7, path="bf16"), queries, rows.data, 7)


def test_float16_rows_and_switches() -> None:
    rng = np.random.default_rng(13)
    faces, queries = _planted(rng, 40, 5, 64)
    half = Rows(64, "float16", bf16_copy=True)
    half.append(faces, np.arange(200), 0)
    sims, found = half.top_k(queries, 5, path="bf16")
    want_sims, want = exact_top_k(queries, half.data, 5)
    np.testing.assert_array_equal(found, want)
    np.testing.assert_allclose(sims, want_sims, atol=1e-6)
    assert Rows(64, "float16").uses_bf16 is False  # auto: float32 rows only
    off = Rows(64, bf16_copy=False)
    off.append(faces, np.arange(200), 0)
    assert off.uses_bf16 is False and off._panels is None
    plain = off.nbytes
    with pytest.raises(ValueError, match=r"no bf16 copy \(bf16_copy=False\)"):
        off.top_k(queries, 5, path="bf16")
    on = Rows(64, bf16_copy=True)
    on.append(faces, np.arange(200), 0)
    assert on.nbytes - plain == 200 * 64 * 2  # 2 x D bytes per row
    with pytest.raises(ValueError, match="bf16_copy must be True, False or 'auto', got 'yes'"):
        Rows(64, bf16_copy="yes")
    with pytest.raises(ValueError, match="path must be 'auto', 'bf16' or 'fp32', got 'fast'"):
        on.top_k(queries, 5, path="fast")
    with pytest.raises(ValueError, match=r"queries: expected shape \(B, 64\), got \(2, 63\)"):
        on.top_k(queries[:2, :63], 5, path="bf16")


def test_index_uses_the_bf16_path_above_the_crossover(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(14)
    faces, queries = _planted(rng, 30, 5, 32)
    index = GalleryIndex("m", 32, bf16_copy=True)
    for person in range(30):
        index.add(f"p{person}", faces[5 * person : 5 * person + 5], normalized=True)
    used = []
    real = search_module.bf16_exact_top_k
    monkeypatch.setattr(search_module, "bf16_exact_top_k", lambda *a: used.append(1) or real(*a))
    monkeypatch.setattr(search_module, "BF16_MIN_ROWS", 1000)
    index.search(queries)
    assert not used  # 150 rows: below the crossover, float32 BLAS
    monkeypatch.setattr(search_module, "BF16_MIN_ROWS", 100)
    matches = index.search(queries)
    assert len(used) == (1 if ops.bf16_kernels_available() else 0)  # only where the AVX512-BF16 kernel runs
    assert [m.identity for m in matches] == [f"p{p}" for p in range(30)]
    sims, found = index.top_k(queries, 5)
    want_sims, want = exact_top_k(queries, faces, 5)
    np.testing.assert_array_equal(found, want)
    np.testing.assert_allclose(sims, want_sims, rtol=0, atol=1e-6)
