"""`faceid bench gallery`'s synthetic gallery: what it times must be what a user searches (float32 throughout)."""

from __future__ import annotations

import numpy as np

from faceid.bench.gallery import _fill_index


def test_synthetic_gallery_and_queries_are_float32_unit_rows_with_planted_neighbours() -> None:
    index, queries, _ = _fill_index(1_000, 16, seed=0, queries=8)
    assert index.embeddings.dtype == np.float32 and queries.dtype == np.float32  # float64 would time a cast
    np.testing.assert_allclose(np.linalg.norm(queries, axis=1), 1, rtol=1e-5)
    # each query is a noisy copy of one planted person's centre: its 5 nearest faces are that person's 5
    top = np.argsort(-(queries @ index.embeddings.T), axis=1)[:, :5]
    assert all(len({index.labels[j] for j in row}) == 1 for row in top)
