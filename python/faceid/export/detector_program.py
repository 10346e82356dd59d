"""The Paddle Inference program a :class:`~faceid.pipeline.detector.FaceDetector` runs: its BlazeFace net with ONE
output (regressors and score logit side by side, ``(N, A, 17)``: what the native loop reads) and rewritten into
layers oneDNN fuses, computing the same numbers.

BlazeFace short range widens its channels in 11 of its 16 blocks, each time adding zero channels to the shortcut
(``relu(pw(h) + concat(shortcut, zeros))``). In Paddle 3.3.1's oneDNN that is a reference concat, a separate add
and reorders per block instead of an add fused into the convolution. So, in a copy of the net:

- where a map's widths grow by at most :data:`CARRY_GROWTH` (the 64x64 and 32x32 maps), the map's tensors carry
  the map's final width from the start, the channels not yet used being exact zeros (zero filters and biases, and
  ReLU(0) = 0): each block there is a plain residual block of padded weights;
- every other widening block becomes :class:`SplitBlazeBlock`: ``concat(relu(pw[:cin](h) + shortcut),
  relu(pw[cin:](h)))``, the add and ReLU fused into the first convolution.

Then the program's convolution biases are put in the form Paddle fuses (:mod:`faceid.export.onednn_conv_bias`).
"""

from __future__ import annotations

import copy
import os
from pathlib import Path

import numpy as np
import paddle
import paddle.nn.functional as F  # noqa: N812

from faceid.export.onednn_conv_bias import fuse_conv_bias_adds
from faceid.export.program import save_program
from faceid.models.blazeface import BlazeBlock, BlazeFaceShort

__all__ = ["CARRY_GROWTH", "SplitBlazeBlock", "export_detector", "fusable_copy"]

CARRY_GROWTH = 1.5  # carry zero channels through a map whose widths grow by at most this factor


def _padded(values: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """``values`` in the leading corner of a zero array of ``shape``."""
    out = np.zeros(shape, dtype=values.dtype)
    out[tuple(slice(0, n) for n in values.shape)] = values
    return out


def _set(conv: paddle.nn.Conv2D, weight: np.ndarray, bias: np.ndarray) -> paddle.nn.Conv2D:
    conv.weight.set_value(weight)
    conv.bias.set_value(bias)
    return conv


class SplitBlazeBlock(paddle.nn.Layer):
    """A widening :class:`~faceid.models.blazeface.BlazeBlock` (``cin`` -> ``cout``) giving ``width`` >= ``cout``
    channels, the last ``width - cout`` of them zero: ``concat(relu(pw[:cin](h) + shortcut), relu(pw[cin:](h)))``."""

    def __init__(self, block: BlazeBlock, width: int | None = None) -> None:
        super().__init__()
        self.stride, self.dw = block.stride, block.dw
        weight, bias = block.pw.weight.numpy(), block.pw.bias.numpy()
        cout, cin = weight.shape[:2]
        new = (width or cout) - cin
        self.pw_shortcut = _set(paddle.nn.Conv2D(cin, cin, 1), weight[:cin], bias[:cin])
        self.pw_new = _set(
            paddle.nn.Conv2D(cin, new, 1), _padded(weight[cin:], (new, *weight.shape[1:])), _padded(bias[cin:], (new,))
        )

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        h = self.dw(x)
        shortcut = F.max_pool2d(x, 2, 2, ceil_mode=True) if self.stride == 2 else x
        return paddle.concat([F.relu(self.pw_shortcut(h) + shortcut), F.relu(self.pw_new(h))], axis=1)


def _widened_block(block: BlazeBlock, width: int) -> BlazeBlock:
    """``block`` (stride 1) on ``width`` channels in and out, its own in the leading ones, the rest zero."""
    wide = BlazeBlock(width, width, 1)
    dw_weight, pw_weight = block.dw.weight.numpy(), block.pw.weight.numpy()
    _set(wide.dw, _padded(dw_weight, (width, *dw_weight.shape[1:])), _padded(block.dw.bias.numpy(), (width,)))
    _set(wide.pw, _padded(pw_weight, (width, width, 1, 1)), _padded(block.pw.bias.numpy(), (width,)))
    return wide


def _widened_conv(conv: paddle.nn.Conv2D, width: int) -> paddle.nn.Conv2D:
    """``conv`` with ``width`` output channels, the extra filters and biases zero."""
    weight = conv.weight.numpy()
    wide = paddle.nn.Conv2D(conv._in_channels, width, conv._kernel_size, stride=conv._stride, padding=conv._padding)
    return _set(wide, _padded(weight, (width, *weight.shape[1:])), _padded(conv.bias.numpy(), (width,)))


def _carry_zero_channels(net: BlazeFaceShort) -> None:
    """Widen, in place, the maps whose widths grow by at most :data:`CARRY_GROWTH` to their final width."""
    blocks = list(net.blocks)
    maps, feeder, members = [], -1, []  # (the block that makes the map, -1: conv0; the stride-1 blocks on it)
    for i, block in enumerate(blocks):
        if block.stride == 2:
            maps.append((feeder, members))
            feeder, members = i, []
        else:
            members.append(i)
    maps.append((feeder, members))
    for feeder, members in maps:
        if not members:
            continue
        first, width = blocks[members[0]].dw.weight.shape[0], blocks[members[-1]].pw.weight.shape[0]
        if width == first or width > CARRY_GROWTH * first:
            continue
        if feeder < 0:
            net.conv0 = _widened_conv(net.conv0, width)
        else:
            net.blocks[feeder] = SplitBlazeBlock(blocks[feeder], width)
        for i in members:
            net.blocks[i] = _widened_block(blocks[i], width)


def fusable_copy(net: paddle.nn.Layer) -> paddle.nn.Layer:
    """A copy of ``net`` rewritten as the module says (BlazeFace short range; another net is copied as it is),
    in eval mode; ``net`` itself is not changed."""
    net = copy.deepcopy(net)
    if isinstance(net, BlazeFaceShort):
        _carry_zero_channels(net)
        for i, block in enumerate(net.blocks):
            if isinstance(block, BlazeBlock) and block.channel_pad > 0:
                net.blocks[i] = SplitBlazeBlock(block)
    net.eval()
    return net


class _OneOutput(paddle.nn.Layer):
    """``net``'s (regressors (N, A, 16), logits (N, A, 1)) as one (N, A, 17) tensor."""

    def __init__(self, net: paddle.nn.Layer) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        regressors, logits = self.net(x)
        return paddle.concat([regressors, logits], axis=-1)


def export_detector(net: paddle.nn.Layer, prefix: str | os.PathLike[str], size: int) -> tuple[Path, Path]:
    """``<prefix>.pdmodel`` + ``.pdiparams`` (legacy program): :func:`fusable_copy` of ``net`` for a float32
    (N, 3, size, size) input ``x``, one (N, A, 17) output, convolution biases in the fusable form."""
    save_program(_OneOutput(fusable_copy(net)), prefix, size=size, legacy=True)
    program, params = Path(f"{prefix}.pdmodel"), Path(f"{prefix}.pdiparams")
    fuse_conv_bias_adds(program)
    return program, params
