"""Image kernels: JPEG decode and the normalise/flip/CHW transform (native, CUDA, numpy reference)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from faceid import _C

DecodeError = _C.DecodeError

# The ArcFace training transform: (x - 127.5) / 127.5 per channel.
TRAIN_MEAN: tuple[float, float, float] = (127.5, 127.5, 127.5)
TRAIN_STD: tuple[float, float, float] = (127.5, 127.5, 127.5)

_OUT_DTYPES = (np.float32, np.float16, np.uint8)


def decode_jpeg(data: bytes, max_pixels: int = 1 << 26) -> np.ndarray:
    """Decode JPEG bytes into an (H, W, 3) uint8 **RGB** array. Corrupt data raises DecodeError."""
    return _C.decode_jpeg(data, max_pixels)


def _flip_array(flips: Sequence[bool] | np.ndarray | None, n: int) -> np.ndarray:
    if flips is None:
        return np.zeros(n, dtype=np.uint8)
    return np.asarray(flips).astype(np.uint8, copy=False)


def hwc_to_chw(
    images: np.ndarray,
    flips: Sequence[bool] | np.ndarray | None = None,
    *,
    out: np.ndarray | None = None,
    dtype: type = np.float32,
    mean: Sequence[float] = TRAIN_MEAN,
    std: Sequence[float] = TRAIN_STD,
    src_is_bgr: bool = True,
) -> np.ndarray:
    """(N, H, W, 3) uint8 BGR (or RGB) -> (N, 3, H, W) RGB, normalised, flipped where ``flips``.

    ``mean``/``std`` are per RGB channel; uint8 output skips normalisation. Writes into ``out``
    when given (C-contiguous, float32/float16/uint8), else allocates with ``dtype``.
    """
    images = np.ascontiguousarray(images)
    if out is None:
        if np.dtype(dtype) not in [np.dtype(d) for d in _OUT_DTYPES]:
            raise ValueError(f"dtype: expected float32, float16 or uint8, got {np.dtype(dtype)}")
        n, h, w = images.shape[:3] if images.ndim == 4 else (0, 0, 0)
        out = np.empty((n, 3, h, w), dtype=dtype)
    _C.hwc_to_chw(images, _flip_array(flips, len(images)), out, tuple(mean), tuple(std), src_is_bgr)
    return out


def hwc_to_chw_reference(
    images: np.ndarray,
    flips: Sequence[bool] | np.ndarray | None = None,
    *,
    dtype: type = np.float32,
    mean: Sequence[float] = TRAIN_MEAN,
    std: Sequence[float] = TRAIN_STD,
    src_is_bgr: bool = True,
) -> np.ndarray:
    """Plain numpy version of :func:`hwc_to_chw`, the reference the native kernel must equal."""
    flips = _flip_array(flips, len(images)).astype(bool)
    x = np.where(flips[:, None, None, None], images[:, :, ::-1, :], images)
    if src_is_bgr:
        x = x[..., ::-1]
    x = x.transpose(0, 3, 1, 2)
    if np.dtype(dtype) == np.uint8:
        return np.ascontiguousarray(x)
    m = np.asarray(mean, dtype=np.float32)[None, :, None, None]
    s = np.asarray(std, dtype=np.float32)[None, :, None, None]
    return ((x.astype(np.float32) - m) / s).astype(dtype)


def cuda_flip_normalize(
    images: np.ndarray,
    flips: Sequence[bool] | np.ndarray | None = None,
    *,
    mean: Sequence[float] = TRAIN_MEAN,
    std: Sequence[float] = TRAIN_STD,
    src_is_bgr: bool = True,
) -> np.ndarray:
    """:func:`hwc_to_chw` with float32 output, computed on the GPU.

    Raises RuntimeError when faceid was built without CUDA or no CUDA device is usable.
    """
    images = np.ascontiguousarray(images)
    return _C.cuda_flip_normalize(images, _flip_array(flips, len(images)), tuple(mean), tuple(std), src_is_bgr)
