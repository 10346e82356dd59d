"""Exact search against numpy brute force, the growable row storage, float16 storage and approximate (faiss)
search: recall@5 against exact, persistence beside the store."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from faceid.gallery import GalleryIndex, open_store
from faceid.gallery import search as search_module
from faceid.gallery.search import Rows, exact_top_k


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def planted(rng: np.random.Generator, people: int, per_person: int, dim: int, noise: float = 0.35):
    """People with ``per_person`` faces around a random centre, and one query per person near its centre."""
    centres = _unit(rng.normal(size=(people, dim)))
    faces = _unit(
        np.repeat(centres, per_person, axis=0) + noise / np.sqrt(dim) * rng.normal(size=(people * per_person, dim))
    )
    queries = _unit(centres + noise / np.sqrt(dim) * rng.normal(size=centres.shape))
    return faces, queries


@pytest.mark.parametrize("block", [7, 1 << 16])
def test_exact_top_k_equals_brute_force(block: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(search_module, "BLOCK_ROWS", block)  # several blocks: the running merge is exercised
    rng = np.random.default_rng(0)
    rows, queries = _unit(rng.normal(size=(300, 24))), _unit(rng.normal(size=(9, 24)))
    for k in (1, 5, 300, 400):
        sims, found = exact_top_k(queries, rows, k)
        full = queries.astype(np.float64) @ rows.T.astype(np.float64)
        want = np.argsort(-full, axis=1, kind="stable")[:, : min(k, 300)]
        np.testing.assert_array_equal(found, want)
        np.testing.assert_allclose(sims, np.take_along_axis(full, want, axis=1), atol=1e-5)


def test_rows_grow_amortised_and_remove_in_place_like_a_dict() -> None:
    rng = np.random.default_rng(1)
    rows, reference, reallocations, buffer = Rows(8), {}, 0, None
    next_id = 0
    for step in range(600):
        if step % 7 == 6 and reference:
            doomed = rng.choice(sorted(reference), size=min(3, len(reference)), replace=False)
            assert sorted(rows.remove(np.append(doomed, 10**6))) == sorted(doomed)  # unknown ids are ignored
            for face in doomed:
                del reference[int(face)]
        else:
            batch = _unit(rng.normal(size=(2, 8)))
            rows.append(batch, np.array([next_id, next_id + 1]), step)
            reference.update({next_id: (batch[0], step), next_id + 1: (batch[1], step)})
            next_id += 2
        if rows._data is not buffer:
            reallocations, buffer = reallocations + 1, rows._data
        assert rows.size == len(reference)
    assert reallocations <= 12  # doubling: O(log n) copies, not one per add
    for face, (vector, code) in reference.items():
        row = rows.rows_of([face])[0]
        np.testing.assert_array_equal(rows.data[row], vector)
        assert rows.codes[row] == code and rows.ids[row] == face
    with pytest.raises(ValueError, match="new, unique"):
        rows.append(_unit(rng.normal(size=(1, 8))), np.array([next(iter(reference))]), 0)


def test_index_search_equals_brute_force_after_adds_and_removes_float32_and_float16() -> None:
    rng = np.random.default_rng(2)
    faces, queries = planted(rng, 40, 3, 128)
    for dtype, tolerance in (("float32", 1e-5), ("float16", 2e-3)):
        index = GalleryIndex("m", 128, dtype=dtype)
        for person in range(40):
            index.add(f"p{person}", faces[3 * person : 3 * person + 3])
        for person in range(0, 40, 4):
            assert index.remove(f"p{person}") == 3
        alive = [i for i in range(len(faces)) if (i // 3) % 4 != 0]
        full = queries @ faces[alive].T
        for q, match in enumerate(index.search(queries, cdd_num=3, rec_thresh=0.6)):
            best = np.argsort(-full[q])[:3]
            np.testing.assert_allclose([s for _, s in match.candidates], full[q][best], atol=tolerance)
            expected = f"p{q}" if q % 4 else "unknown"
            assert match.identity == expected, (q, match)
    assert index.nbytes <= len(index) * (128 * 2 + 12) + 8 * 2 * 120  # float16 rows + id + code, and the id map


faiss = pytest.importorskip("faiss", reason="approximate search needs faiss-cpu (pip install 'faceid[ann]')")


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["hnsw", "ivf_flat", "ivf_pq"])
def test_ann_recall_at_5_against_exact(kind: str) -> None:
    from faceid.gallery.ann import AnnIndex

    rng = np.random.default_rng(3)
    faces, queries = planted(rng, 2000, 5, 64)
    index = GalleryIndex("m", 64)
    index.add_labelled([f"p{i // 5}" for i in range(len(faces))], faces)
    _, exact = index.top_k(queries, 5, exact=True)
    index.ann = AnnIndex.build(index.embeddings, index.ids, kind=kind)
    _, approx = index.top_k(queries, 5)
    recall = np.mean([len(set(a) & set(e)) / 5 for a, e in zip(approx, exact, strict=False)])
    assert recall >= 0.95, f"{kind}: recall@5 {recall:.3f}"
    # removals reach the ANN index too
    index.remove("p0")
    assert all(m.identity != "p0" for m in index.search(queries[:1], cdd_num=5))


@pytest.mark.slow
def test_ann_index_is_saved_beside_the_store_and_reloaded_without_retraining(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rng = np.random.default_rng(4)
    faces, queries = planted(rng, 600, 5, 32)
    url = str(tmp_path / "g.db")
    with open_store(url, fingerprint="f" * 64, model="m", dim=32, ann="off") as store:
        for person in range(600):
            store.add(f"p{person}", faces[5 * person : 5 * person + 5])
    with open_store(url, ann="on") as store:
        assert store.index.ann is not None and (tmp_path / "g.db.ann").is_file()
        store.remove("p1")
    with open_store(url, fingerprint="f" * 64, ann="off") as writer:
        writer.add("late", queries[2] + 0.01)  # a change the saved ANN index has not seen
    caplog.set_level(logging.INFO, logger="faceid.gallery.ann")
    with open_store(url, ann="on") as store:
        assert "loaded the" in caplog.text and "built" not in caplog.text
        found = [m.identity for m in store.search(queries[:4], cdd_num=1)]
        assert store.index.ann is not None
    assert (found[0], found[2], found[3]) == ("p0", "late", "p3") and found[1] != "p1"
