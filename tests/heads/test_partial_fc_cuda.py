"""PartialFC's fused GPU loss against the ops implementation (needs a CUDA build of Paddle and a GPU)."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.cuda
paddle = pytest.importorskip("paddle", reason="needs Paddle (the GPU check runs without it)")

D, C = 16, 50


def _require_gpu() -> None:
    if not (paddle.is_compiled_with_cuda() and paddle.device.cuda.device_count() > 0):
        pytest.skip("Paddle's fused margin_cross_entropy has only a GPU kernel (no GPU for Paddle here)")


@pytest.mark.parametrize("loss", ["ArcFace", "CosFace", "SphereFace"])
def test_fused_gpu_loss_equals_the_ops_implementation(loss: str) -> None:
    _require_gpu()
    from faceid.heads import PartialFC

    paddle.set_device("gpu")
    try:
        x = np.random.default_rng(5).normal(size=(16, D)).astype("float32")
        labels = paddle.to_tensor(np.random.default_rng(6).integers(0, C, size=16))
        results = []
        for impl in ("fused", "ops"):
            head = PartialFC(D, C, margin=loss, seed=7, impl=impl)
            features = paddle.to_tensor(x, stop_gradient=False)
            value = head(features, labels)
            value.backward()
            results.append((float(value), features.grad.numpy()))
        np.testing.assert_allclose(results[0][0], results[1][0], rtol=1e-5)
        np.testing.assert_allclose(results[0][1], results[1][1], rtol=1e-4, atol=1e-6)
    finally:
        paddle.set_device("cpu")
