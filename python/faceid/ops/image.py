"""Image kernels: JPEG decode, the normalise/flip/CHW transform and the aligning warp (native, CUDA, numpy
reference)."""

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


def warp_faces(
    image: np.ndarray,
    matrices: np.ndarray,
    size: int = 112,
    *,
    mean: Sequence[float] = TRAIN_MEAN,
    std: Sequence[float] = TRAIN_STD,
    src_is_bgr: bool = True,
) -> np.ndarray:
    """Aligned, normalised faces in one pass: (H, W, 3) uint8 and (N, 2, 3) source->output affine maps (as
    for ``cv2.warpAffine``) -> (N, 3, size, size) float32 RGB, bilinear, ``(x - mean) / std``, 0 outside."""
    matrices = np.ascontiguousarray(np.asarray(matrices, dtype=np.float64).reshape(-1, 2, 3))
    return _C.warp_faces(np.ascontiguousarray(image), matrices, size, tuple(mean), tuple(std), src_is_bgr)


def warp_faces_reference(
    image: np.ndarray,
    matrices: np.ndarray,
    size: int = 112,
    *,
    mean: Sequence[float] = TRAIN_MEAN,
    std: Sequence[float] = TRAIN_STD,
    src_is_bgr: bool = True,
) -> np.ndarray:
    """Plain numpy (float64) version of :func:`warp_faces`, the reference the native kernel must match."""
    height, width = image.shape[:2]
    padded = np.zeros((height + 2, width + 2, 3), np.float64)  # a ring of border zeros
    padded[1:-1, 1:-1] = image
    if src_is_bgr:
        padded = padded[..., ::-1]
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float64)
    out = np.empty((len(matrices), 3, size, size), np.float32)
    for i, forward in enumerate(np.asarray(matrices, np.float64).reshape(-1, 2, 3)):
        inverse = np.linalg.inv(np.vstack([forward, [0.0, 0.0, 1.0]]))[:2]
        sx = inverse[0, 0] * xs + inverse[0, 1] * ys + inverse[0, 2]
        sy = inverse[1, 0] * xs + inverse[1, 1] * ys + inverse[1, 2]
        x0, y0 = np.floor(sx), np.floor(sy)
        ax, ay = (sx - x0)[..., None], (sy - y0)[..., None]
        # Source pixel (x, y) is padded[y + 1, x + 1]; anything further out reads the zero ring.
        xi = np.clip(x0.astype(np.int64) + 1, 0, width + 1)
        yi = np.clip(y0.astype(np.int64) + 1, 0, height + 1)
        xj = np.clip(x0.astype(np.int64) + 2, 0, width + 1)
        yj = np.clip(y0.astype(np.int64) + 2, 0, height + 1)
        value = (1 - ay) * ((1 - ax) * padded[yi, xi] + ax * padded[yi, xj]) + ay * (
            (1 - ax) * padded[yj, xi] + ax * padded[yj, xj]
        )
        out[i] = ((value - np.asarray(mean)) / np.asarray(std)).transpose(2, 0, 1)
    return out


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
