"""faceid.embeddings: unit-normalising embedding rows."""

from __future__ import annotations

import numpy as np

from faceid.embeddings import l2_normalize


def test_l2_normalize() -> None:
    x = np.array([[3.0, 4.0], [0.0, 0.0]], np.float32)
    out = l2_normalize(x)
    assert out.dtype == np.float32
    # Zero rows stay zero (as sklearn normalize).
    np.testing.assert_array_equal(out, np.array([[0.6, 0.8], [0.0, 0.0]], np.float32))
    np.testing.assert_allclose(l2_normalize(np.array([1, 1])), [0.5**0.5] * 2)


def test_one_copy_behind_the_public_names() -> None:
    import faceid.eval
    import faceid.eval.metrics

    assert faceid.eval.l2_normalize is l2_normalize and faceid.eval.metrics.l2_normalize is l2_normalize
