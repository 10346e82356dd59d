"""Gallery search at a small size (pytest-benchmark): exact batch-1 and batch-64 search, its two paths side by side
(float32 BLAS and bf16 + fp32 re-score, group ``exact-b1`` / ``exact-b64``), and the ANN path on the same index,
plus the whole `faceid bench gallery` table (``FACEID_BENCH_GALLERY_SIZE``, default 50,000 x 512)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from faceid.bench.gallery import _fill_index, format_gallery_table, run_gallery_benchmark

SIZE = int(os.environ.get("FACEID_BENCH_GALLERY_SIZE", "50000"))


@pytest.fixture(scope="module")
def gallery():
    return _fill_index(SIZE, 512, seed=0, queries=64)[:2]


@pytest.mark.parametrize("batch", [1, 64])
def test_exact_search(benchmark, gallery, batch: int) -> None:
    index, queries = gallery
    sims, rows = benchmark(index.top_k, queries[:batch], 5, exact=True)
    assert rows.shape == (batch, 5) and np.all(np.diff(sims, axis=1) <= 0)


@pytest.mark.parametrize("batch", [1, 64])
@pytest.mark.parametrize("path", ["fp32", "bf16"])
def test_exact_search_paths(benchmark, gallery, batch: int, path: str) -> None:
    from faceid.ops.gallery import bf16_kernels_available

    if path == "bf16" and not bf16_kernels_available():
        pytest.skip("no AVX512-BF16 kernel on this CPU (or FACEID_FORCE_SCALAR=1)")
    index, queries = gallery
    benchmark.group = f"exact-b{batch}"
    index._rows.top_k(queries[:batch], 5, path=path)  # the bf16 copy is made once, outside the timing
    _, rows = benchmark(index._rows.top_k, queries[:batch], 5, path=path)
    want = index._rows.top_k(queries[:batch], 5, path="fp32")[1]
    assert np.array_equal(rows, want)


def test_ann_search(benchmark, gallery) -> None:
    pytest.importorskip("faiss")
    from faceid.gallery.ann import AnnIndex

    index, queries = gallery
    index.ann = AnnIndex.build(index.embeddings, index.ids)
    try:
        _, rows = benchmark(index.top_k, queries[:1], 5)
    finally:
        index.ann = None
    assert rows.shape == (1, 5)


def test_gallery_table() -> None:
    result = run_gallery_benchmark(SIZE, 512, 200, store_faces=min(SIZE, 5000), float16=False)
    print("\n" + format_gallery_table(result))
    Path(".benchmarks").mkdir(exist_ok=True)
    Path(".benchmarks/gallery.json").write_text(json.dumps(result, indent=2) + "\n")
    assert result.get("ann_recall_at_5", 1.0) >= 0.9
