"""`faceid bench gallery`'s synthetic gallery: what it times must be what a user searches (float32 throughout)."""

from __future__ import annotations

import numpy as np
import pytest

from faceid.bench.gallery import _fill_index, run_gallery_benchmark
from faceid.gallery import search
from faceid.ops.gallery import bf16_kernels_available


def test_synthetic_gallery_and_queries_are_float32_unit_rows_with_planted_neighbours() -> None:
    index, queries, _ = _fill_index(1_000, 16, seed=0, queries=8)
    assert index.embeddings.dtype == np.float32 and queries.dtype == np.float32  # float64 would time a cast
    np.testing.assert_allclose(np.linalg.norm(queries, axis=1), 1, rtol=1e-5)
    # each query is a noisy copy of one planted person's centre: its 5 nearest faces are that person's 5
    top = np.argsort(-(queries @ index.embeddings.T), axis=1)[:, :5]
    assert all(len({index.labels[j] for j in row}) == 1 for row in top)


def test_exact_rows_name_the_path_and_keep_the_json_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(search, "BF16_MIN_ROWS", 1000)  # a small gallery takes the bf16 path where it can
    result = run_gallery_benchmark(2000, 32, 64, store_faces=20, float16=False, ann=False)
    names = [row["what"] for row in result["rows"]]
    paths = ["float32", "bf16 + fp32 re-score"] if bf16_kernels_available() else ["float32"]
    want = [f"exact search ({path}), batch {batch}" for path in paths for batch in (1, 64)]
    assert [n for n in names if n.startswith("exact search")] == want
    assert {"rows", "ratios", "add_faces_per_s"} <= set(result)
    assert "exact_b1_vs_bandwidth_floor" in result["ratios"]
    assert ("exact_bf16_vs_fp32_b64" in result["ratios"]) == bf16_kernels_available()
    copy = " (+ bf16 copy)" if bf16_kernels_available() else ""
    memory = next(row for row in result["rows"] if row["what"].startswith("memory"))
    assert memory["what"] == f"memory, float32 index{copy}"
    assert memory["value"] >= 32 * 4 + (32 * 2 if copy else 0)
