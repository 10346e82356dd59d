"""MobileFaceNet (Chen et al. 2018, arXiv:1804.07573) as in Arcface-Paddle, plus a slim CPU member.

Both members come from one builder, :class:`MobileFaceNet`, driven by a :class:`MobileFaceNetConfig`
(stem width, bottleneck table, width of the last 1x1 layer). The topology is always::

    conv3x3/2 + BN + PReLU -> dw3x3 + BN + PReLU -> inverted-residual bottlenecks
    -> conv1x1 + BN + PReLU -> GDC (linear 7x7 depthwise, valid padding -> 1x1) + BN
    -> conv1x1 to the embedding + BN -> flatten

Convolutions have no bias. PReLU slopes are per channel (initial value 0.25).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import NamedTuple

import paddle
from paddle import nn

from faceid.models.registry import INPUT_SHAPE, check_input, register_model

logger = logging.getLogger(__name__)


class Stage(NamedTuple):
    """One row of the bottleneck table: ``repeats`` blocks of expansion ``expansion``.

    Only the first block of a stage has stride ``stride``; a block is residual when its stride is 1
    and its input and output widths agree.
    """

    expansion: int
    channels: int
    repeats: int
    stride: int


@dataclass(frozen=True)
class MobileFaceNetConfig:
    """The widths and depths of a MobileFaceNet; the embedding size is a separate argument."""

    stem_channels: int = 64
    stem_dw_stride: int = 1
    stages: tuple[Stage, ...] = (
        Stage(2, 64, 5, 2),
        Stage(4, 128, 1, 2),
        Stage(2, 128, 6, 1),
        Stage(4, 128, 1, 2),
        Stage(2, 128, 2, 1),
    )
    conv_channels: int = 512  # the 1x1 layer before the GDC

    def feature_size(self, input_size: int = INPUT_SHAPE[1]) -> int:
        """Side of the map the GDC sees: the input side over the total stride (must divide exactly)."""
        stride = 2 * self.stem_dw_stride * math.prod(stage.stride for stage in self.stages)
        if input_size % stride:
            raise ValueError(f"total stride {stride} does not divide the input size {input_size}")
        return input_size // stride


# The paper's table, as used by Arcface-Paddle's MobileFaceNet_128.
MOBILEFACENET_CONFIG = MobileFaceNetConfig()

# Same layer types and head at a fraction of the width and depth, for CPU training: a 12-channel
# stem whose depthwise conv has stride 2 (so no bottleneck runs at 56x56), one expansion-2 block per
# stage, a 256-wide 1x1 layer before the GDC. The stem width is what CPU speed depends on most
# (PReLU and depthwise convs dominate the step); a 16-channel stem trains ~10% slower.
SLIM_CONFIG = MobileFaceNetConfig(
    stem_channels=12,
    stem_dw_stride=2,
    stages=(
        Stage(2, 24, 1, 2),
        Stage(2, 64, 1, 2),
        Stage(2, 128, 1, 1),
    ),
    conv_channels=256,
)


def _conv(
    in_channels: int, out_channels: int, kernel: int, stride: int = 1, *, groups: int = 1, padding: int | None = None
) -> nn.Conv2D:
    """A bias-free conv, 'same' padding (odd kernels) unless ``padding``; weights N(0, sqrt(2 / fan_in)).

    fan_in = in_channels / groups * k * k: He/MSRA initialisation. This is also what Arcface-Paddle
    computes (``weight.shape[1] * k * k``), although its comment says ``k * k * out_channels`` as in
    the classic MobileNet init.
    """
    fan_in = in_channels // groups * kernel * kernel
    init = nn.initializer.Normal(mean=0.0, std=math.sqrt(2.0 / fan_in))
    return nn.Conv2D(
        in_channels,
        out_channels,
        kernel,
        stride=stride,
        padding=kernel // 2 if padding is None else padding,
        groups=groups,
        weight_attr=paddle.ParamAttr(initializer=init),
        bias_attr=False,
    )


def _bn(channels: int) -> nn.BatchNorm2D:
    """BatchNorm2D with weight 1 and bias 0 (epsilon 1e-5; Paddle's momentum 0.9 is torch's 0.1)."""
    return nn.BatchNorm2D(
        channels,
        weight_attr=paddle.ParamAttr(initializer=nn.initializer.Constant(1.0)),
        bias_attr=paddle.ParamAttr(initializer=nn.initializer.Constant(0.0)),
    )


def conv_block(
    in_channels: int, out_channels: int, kernel: int, stride: int = 1, *, depthwise: bool = False, linear: bool = False
) -> nn.Sequential:
    """conv -> BN (-> per-channel PReLU unless ``linear``)."""
    groups = in_channels if depthwise else 1
    layers: list[nn.Layer] = [_conv(in_channels, out_channels, kernel, stride, groups=groups), _bn(out_channels)]
    if not linear:
        layers.append(nn.PReLU(out_channels))
    return nn.Sequential(*layers)


class Bottleneck(nn.Layer):
    """Inverted residual: 1x1 expand + BN + PReLU -> dw3x3(stride) + BN + PReLU -> 1x1 project + BN."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, expansion: int) -> None:
        super().__init__()
        hidden = in_channels * expansion
        self.residual = stride == 1 and in_channels == out_channels
        self.body = nn.Sequential(
            conv_block(in_channels, hidden, 1),
            conv_block(hidden, hidden, 3, stride, depthwise=True),
            conv_block(hidden, out_channels, 1, linear=True),
        )

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        out = self.body(x)
        return x + out if self.residual else out


def _bottlenecks(in_channels: int, stages: tuple[Stage, ...]) -> nn.Sequential:
    blocks: list[nn.Layer] = []
    for stage in stages:
        for i in range(stage.repeats):
            stride = stage.stride if i == 0 else 1
            blocks.append(Bottleneck(in_channels, stage.channels, stride, stage.expansion))
            in_channels = stage.channels
    return nn.Sequential(*blocks)


class MobileFaceNet(nn.Layer):
    """The MobileFaceNet builder.

    Input: (N, 3, 112, 112) float32 RGB in [-1, 1]. Output: the raw (not L2-normalised) embedding,
    (N, embedding_size).
    """

    def __init__(self, config: MobileFaceNetConfig = MOBILEFACENET_CONFIG, embedding_size: int = 128) -> None:
        super().__init__()
        if embedding_size <= 0:
            raise ValueError(f"embedding_size must be positive, got {embedding_size}")
        if not config.stages:
            raise ValueError("a MobileFaceNet needs at least one bottleneck stage")
        self.config = config
        self.embedding_size = embedding_size
        gdc_kernel = config.feature_size()
        last = config.stages[-1].channels
        self.stem = conv_block(INPUT_SHAPE[0], config.stem_channels, 3, 2)
        self.stem_dw = conv_block(config.stem_channels, config.stem_channels, 3, config.stem_dw_stride, depthwise=True)
        self.blocks = _bottlenecks(config.stem_channels, config.stages)
        self.conv = conv_block(last, config.conv_channels, 1)
        # Global depthwise conv: one kxk filter per channel over the whole k x k map, no padding.
        width = config.conv_channels
        self.gdc = nn.Sequential(_conv(width, width, gdc_kernel, groups=width, padding=0), _bn(width))
        self.embedding = conv_block(config.conv_channels, embedding_size, 1, linear=True)
        logger.debug("MobileFaceNet %s, embedding %d", config, embedding_size)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        check_input(x, type(self).__name__)
        x = self.stem_dw(self.stem(x))
        x = self.conv(self.blocks(x))
        x = self.embedding(self.gdc(x))
        return paddle.flatten(x, start_axis=1)


@register_model
def MobileFaceNet_128(embedding_size: int = 128) -> MobileFaceNet:  # noqa: N802 (the Arcface-Paddle name)
    """MobileFaceNet as in the paper and Arcface-Paddle: 1.00M learnable parameters at 128-d.

    On a 2-core CPU Paddle trains it at only 7-8 img/s (batch 64); use ``MobileFaceNet_slim`` there.
    """
    return MobileFaceNet(MOBILEFACENET_CONFIG, embedding_size)


@register_model
def MobileFaceNet_slim(embedding_size: int = 128) -> MobileFaceNet:  # noqa: N802 (matches MobileFaceNet_128)
    """A slim MobileFaceNet for CPU training: same layer types and GDC/embedding head, :data:`SLIM_CONFIG`.

    Stem 12 channels with a stride-2 depthwise (112 -> 56 -> 28), one expansion-2 block per stage
    (24/s2, 64/s2, 128/s1 -> 7x7), a 256-wide 1x1 layer before the 7x7 GDC; 0.11M parameters at 128-d.

    Measured on the 2-core dev CPU (fwd + bwd + Momentum step, batch 64, median of 5 steps after 2
    warm-up): ~190 img/s, against 7-8 img/s for ``MobileFaceNet_128``. Under a concurrent CPU load it
    dropped to ~125-140 img/s.
    """
    return MobileFaceNet(SLIM_CONFIG, embedding_size)
