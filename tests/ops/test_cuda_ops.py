"""The CUDA kernels against the CPU kernel. Needs numpy and the extension only (no Paddle, no OpenCV), so that
``.ci/device_check.sh`` runs it on a GPU machine with nothing else installed."""

from __future__ import annotations

import numpy as np
import pytest

import faceid
from faceid.ops.image import cuda_flip_normalize, hwc_to_chw

pytestmark = pytest.mark.cuda


def _device_or_skip() -> None:
    info = faceid.info()
    if info["cuda_devices"] == 0:
        pytest.skip(f"no CUDA device: {info['cuda_reason']}")


def test_without_a_device_the_kernel_raises_a_clear_error() -> None:
    info = faceid.info()
    if info["cuda_devices"] > 0:
        pytest.skip("a CUDA device is present")
    images = np.zeros((1, 4, 4, 3), np.uint8)
    with pytest.raises(RuntimeError, match="CUDA"):
        cuda_flip_normalize(images, np.zeros(1, bool))


@pytest.mark.parametrize("shape", [(3, 17, 19), (64, 112, 112)], ids=["odd", "faces"])
@pytest.mark.parametrize("src_is_bgr", [True, False])
def test_cuda_flip_normalize_equals_the_cpu_kernel(shape: tuple[int, int, int], src_is_bgr: bool) -> None:
    _device_or_skip()
    rng = np.random.default_rng(shape[0])
    images = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
    flips = rng.integers(0, 2, shape[0]).astype(bool)
    mean, std = (120.0, 110.0, 100.0), (60.0, 65.0, 70.0)
    got = cuda_flip_normalize(images, flips, mean=mean, std=std, src_is_bgr=src_is_bgr)
    expected = hwc_to_chw(images, flips, mean=mean, std=std, src_is_bgr=src_is_bgr)
    assert got.dtype == np.float32 and got.shape == expected.shape
    assert got.tobytes() == expected.tobytes()
