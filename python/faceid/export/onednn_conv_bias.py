"""Rewriting a legacy program's convolution biases into the form Paddle 3.3.1's oneDNN passes fuse.

``paddle.jit.save`` of a ``Conv2D`` with a bias (legacy ``.pdmodel``) writes ``reshape2(bias -> [1, C, 1, 1])`` then
``elementwise_add(conv, reshaped, axis=-1)``. The CPU predictor's ``conv_bias_onednn_fuse_pass`` accepts only
``axis=1`` with the 1-D bias (what ``paddle.static.nn.conv2d`` writes) and skips every such add ("Check the
Attr(axis) of Op(elementwise_add) ... failed"). Two things follow for a net with biased convolutions (BlazeFace):

- fp32: each convolution is followed by a separate oneDNN binary pass over its output, and the residual add and
  ReLU after it cannot fuse into the convolution either (BlazeFace short range: 53 extra passes per run, about a
  third of its CPU time);
- bf16 (``enable_onednn_bfloat16``): the predictor fails with "The type of data we are trying to retrieve (float32)
  does not match the type of data (bfloat16)" on an ``elementwise_add``.

:func:`fuse_conv_bias_adds` puts each such add back in the ``axis=1`` form (and drops its reshape), after which
both the bias and the residual fuse and bf16 runs. The arithmetic is the same (a per-channel bias add).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

__all__ = ["fuse_conv_bias_adds"]

logger = logging.getLogger(__name__)

_CONVOLUTIONS = ("conv2d", "depthwise_conv2d")


def _rewritable(block, op, producers: dict, readers: dict) -> tuple | None:
    """``(reshape op, bias name)`` when ``op`` adds a reshaped persistable 1-D bias to a convolution's output."""
    if op.type != "elementwise_add":
        return None
    conv, reshape = producers.get(op.input("X")[0]), producers.get(op.input("Y")[0])
    if conv is None or reshape is None or conv.type not in _CONVOLUTIONS or reshape.type != "reshape2":
        return None
    bias = reshape.input("X")[0]
    var = block.var(bias)
    channels = int(var.shape[0]) if len(var.shape) == 1 else -1
    if not var.persistable or list(reshape.attr("shape")) != [1, channels, 1, 1]:
        return None
    if conv.attr("data_format") not in ("NCHW", "AnyLayout") or len(readers[op.input("Y")[0]]) != 1:
        return None
    return reshape, bias


def fuse_conv_bias_adds(program: str | os.PathLike[str]) -> int:
    """Rewrite the legacy ``.pdmodel`` file ``program`` in place (a temp file, then rename) so that every
    ``conv -> elementwise_add(reshape2(bias), axis=-1)`` reads ``elementwise_add(conv, bias, axis=1)``.

    Returns how many adds were rewritten (0: the file is left untouched). Only the program changes: the
    ``.pdiparams`` beside it still holds exactly the variables the program reads.
    """
    import paddle
    from paddle.base.framework import Program

    from faceid.io.atomic import atomic_write_bytes

    path = Path(program)
    with paddle.pir_utils.OldIrGuard():
        parsed = Program.parse_from_string(path.read_bytes())
        block = parsed.global_block()
        producers = {name: op for op in block.ops for name in op.output_arg_names}
        readers: dict[str, list] = {}
        for op in block.ops:
            for name in op.input_arg_names:
                readers.setdefault(name, []).append(op)
        dropped = []
        for op in list(block.ops):
            found = _rewritable(block, op, producers, readers)
            if found is None:
                continue
            reshape, bias = found
            op._rename_input(op.input("Y")[0], bias)
            op._set_attr("axis", 1)
            dropped.append(reshape)
        unread = [name for reshape in dropped for name in reshape.output_arg_names]  # reshaped bias, XShape
        for reshape in dropped:
            block._remove_op(block.ops.index(reshape))
        for name in unread:
            block._remove_var(name)
        if dropped:
            parsed._sync_with_cpp()
            atomic_write_bytes(path, parsed.desc.serialize_to_string())
    logger.debug("%s: %d convolution bias adds put in the fusable form", path.name, len(dropped))
    return len(dropped)
