"""A bf16 program for Paddle 3.3.1's oneDNN CPU predictor that works around its PReLU kernel.

With ``enable_onednn_bfloat16()``, Paddle 3.3.1 runs PReLU with a bf16 kernel that reads the float32 slope tensor
as if it held bf16 values: slope ``k`` comes from the ``k``-th 16-bit half-word of the tensor (MobileFaceNet's
cosine to fp32 falls to 0.16-0.8; seen on AMD EPYC with AVX512-BF16 and on Xeon with AMX). The variant written
here keeps each slope's bf16 bits in exactly that place, so the kernel reads the right values. Any other
predictor would read garbage from it, so it lives apart (``inference.onednn_bf16.json`` + ``.pdiparams``) and
:class:`faceid.Recognizer` takes it only for bf16 and only once its output agrees with fp32 on a probe batch
(which also covers a Paddle that fixes the kernel: then the plain program passes first).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import paddle

from faceid.export.program import save_program

__all__ = ["BF16_PREFIX", "bf16_bits", "packed_slopes", "prelu_slopes", "save_bf16_program"]

BF16_PREFIX = "inference.onednn_bf16"


def bf16_bits(values: np.ndarray) -> np.ndarray:
    """The bfloat16 bit patterns (uint16) of float32 ``values``, rounded to nearest even."""
    bits = np.ascontiguousarray(values, dtype=np.float32).view(np.uint32).astype(np.uint64)
    return ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16)


def packed_slopes(slopes: np.ndarray) -> np.ndarray:
    """A float32 array shaped like ``slopes`` whose first ``slopes.size`` half-words are their bf16 bits."""
    slopes = np.asarray(slopes, dtype=np.float32)
    halves = np.zeros(2 * slopes.size, dtype=np.uint16)
    halves[: slopes.size] = bf16_bits(slopes.ravel())
    return halves.view(np.float32).reshape(slopes.shape)


def prelu_slopes(model: paddle.nn.Layer) -> list[paddle.Tensor]:
    """The slope parameters of ``model``'s PReLUs: ``nn.PReLU`` sublayers, plus what any sublayer that applies
    ``F.prelu`` itself lists in a ``prelu_slopes()`` method."""
    found: dict[int, paddle.Tensor] = {}  # by identity: a shared slope is packed once
    for layer in [model, *model.sublayers()]:
        if isinstance(layer, paddle.nn.PReLU):
            found.setdefault(id(layer._weight), layer._weight)  # Paddle keeps the slope in _weight
        elif hasattr(layer, "prelu_slopes"):
            for slope in layer.prelu_slopes():
                found.setdefault(id(slope), slope)
    return list(found.values())


def save_bf16_program(model: paddle.nn.Layer, prefix: str | os.PathLike[str]) -> bool:
    """Write ``<prefix>.json`` + ``.pdiparams`` (PIR) with packed slopes; False (nothing written) when ``model``
    has no PReLU. The model's own slopes are restored afterwards."""
    slopes = prelu_slopes(model)
    if not slopes:
        return False
    originals = [slope.numpy().copy() for slope in slopes]
    try:
        for slope, value in zip(slopes, originals, strict=True):
            slope.set_value(packed_slopes(value))
        save_program(model, Path(prefix), legacy=False)
    finally:
        for slope, value in zip(slopes, originals, strict=True):
            slope.set_value(value)
    return True
