"""Saving a network as a Paddle Inference program: the one ``paddle.jit.save`` call every export goes through."""

from __future__ import annotations

import os

import paddle

__all__ = ["save_program"]


def save_program(model: paddle.nn.Layer, prefix: str | os.PathLike[str], *, size: int = 112, legacy: bool) -> None:
    """``paddle.jit.save`` of ``model`` for a float32 (N, 3, size, size) input ``x``: ``<prefix>.pdmodel``
    (legacy program) or ``<prefix>.json`` (PIR), with ``<prefix>.pdiparams``."""
    spec = [paddle.static.InputSpec([None, 3, size, size], "float32", "x")]
    if legacy:
        with paddle.pir_utils.OldIrGuard():
            paddle.jit.save(model, str(prefix), input_spec=spec)
    else:
        paddle.jit.save(model, str(prefix), input_spec=spec)
