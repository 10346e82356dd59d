"""IResNet (the "LResNet-E-IR" of ArcFace, Deng et al. 2019) as in insightface arcface_torch.

Stem conv3x3/1 + BN + PReLU at 112x112, four stages of pre-activation basic units (64, 128, 256, 512
channels, each stage opening with stride 2: 112 -> 56 -> 28 -> 14 -> 7), and the "E" head:
BN2d -> flatten (512*7*7) -> dropout -> Linear -> BN1d.

Differences from the references, on purpose:

* PReLU slopes are per channel, as in arcface_torch and the original MXNet models; Arcface-Paddle's
  ``FresResNet`` used a single slope shared by all channels.
* Conv weights use He-normal (fan-in) initialisation, Paddle's own default for Conv2D; arcface_torch
  draws them from N(0, 0.1).
* ``dropout`` defaults to 0 (arcface_torch); Arcface-Paddle's ``FresResNet50/100`` defaulted to 0.4,
  so the aliases build the same network but pass ``dropout=0.4`` to reproduce those runs.
* The scale of the final BatchNorm1D is trained, as in Arcface-Paddle. arcface_torch (like MXNet's
  ``fix_gamma``) fixes it at 1, but in Paddle 3.3 a BatchNorm whose scale has ``stop_gradient`` set
  silently gives its bias no gradient either, so freezing it would freeze the bias too.

BatchNorm epsilon is 1e-5 everywhere (Paddle's default); Paddle's ``momentum=0.9`` is torch's 0.1.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

import paddle
from paddle import nn

from faceid.models.registry import INPUT_SHAPE, check_input, register_model

logger = logging.getLogger(__name__)

STAGE_CHANNELS: tuple[int, int, int, int] = (64, 128, 256, 512)
_FEATURE_SIZE = INPUT_SHAPE[1] // 16  # four stride-2 stages: 112 -> 7

# Published parameter counts of insightface's MXNet originals (LResNet{34,50,100}E-IR, 512-d), in "MParams".
_PARAMS_SOURCE = "OpenVINO Open Model Zoo, models/public/face-recognition-resnet{}-arcface (MParams)"


def _conv(in_channels: int, out_channels: int, kernel: int, stride: int = 1) -> nn.Conv2D:
    """Bias-free conv with 'same' padding and He-normal (fan-in) weights."""
    std = math.sqrt(2.0 / (in_channels * kernel * kernel))
    return nn.Conv2D(
        in_channels,
        out_channels,
        kernel,
        stride=stride,
        padding=kernel // 2,
        weight_attr=paddle.ParamAttr(initializer=nn.initializer.Normal(0.0, std)),
        bias_attr=False,
    )


def _bn(channels: int) -> nn.BatchNorm2D:
    """BatchNorm2D, weight 1, bias 0, epsilon 1e-5, momentum 0.9 (torch's 0.1)."""
    return nn.BatchNorm2D(
        channels,
        momentum=0.9,
        epsilon=1e-5,
        weight_attr=paddle.ParamAttr(initializer=nn.initializer.Constant(1.0)),
        bias_attr=paddle.ParamAttr(initializer=nn.initializer.Constant(0.0)),
    )


class IBasicBlock(nn.Layer):
    """Pre-activation unit: BN -> conv3x3 -> BN -> PReLU -> conv3x3(stride) -> BN, plus the shortcut.

    The shortcut is a 1x1 conv(stride) + BN when the stride or the width changes, else the identity.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.body = nn.Sequential(
            _bn(in_channels),
            _conv(in_channels, out_channels, 3),
            _bn(out_channels),
            nn.PReLU(out_channels),
            _conv(out_channels, out_channels, 3, stride),
            _bn(out_channels),
        )
        self.downsample: nn.Layer | None = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(_conv(in_channels, out_channels, 1, stride), _bn(out_channels))

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        return self.body(x) + identity


def _stage(in_channels: int, out_channels: int, units: int) -> nn.Sequential:
    blocks = [IBasicBlock(in_channels, out_channels, stride=2)]
    blocks += [IBasicBlock(out_channels, out_channels) for _ in range(units - 1)]
    return nn.Sequential(*blocks)


class EmbeddingHead(nn.Layer):
    """The "E" output: BN2d -> flatten -> dropout -> Linear (Xavier-normal weight, zero bias) -> BN1d."""

    def __init__(self, channels: int, feature_size: int, embedding_size: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.bn = _bn(channels)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.fc = nn.Linear(
            channels * feature_size * feature_size,
            embedding_size,
            weight_attr=paddle.ParamAttr(initializer=nn.initializer.XavierNormal()),
            bias_attr=paddle.ParamAttr(initializer=nn.initializer.Constant(0.0)),
        )
        # Scale trained (see the module docstring for why it is not fixed at 1 as in arcface_torch).
        self.features = nn.BatchNorm1D(embedding_size, momentum=0.9, epsilon=1e-5)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        x = paddle.flatten(self.bn(x), start_axis=1)
        return self.features(self.fc(self.dropout(x)))


class IResNet(nn.Layer):
    """IResNet with ``units[i]`` basic units in stage i.

    Input: (N, 3, 112, 112) float32 RGB in [-1, 1]. Output: the raw (not L2-normalised) embedding,
    (N, embedding_size).
    """

    def __init__(self, units: Sequence[int], embedding_size: int = 512, dropout: float = 0.0) -> None:
        super().__init__()
        if len(units) != len(STAGE_CHANNELS) or min(units) < 1:
            raise ValueError(f"units: expected {len(STAGE_CHANNELS)} positive counts, got {list(units)}")
        if embedding_size <= 0:
            raise ValueError(f"embedding_size must be positive, got {embedding_size}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.units = tuple(units)
        self.embedding_size = embedding_size
        width = STAGE_CHANNELS[0]
        self.stem = nn.Sequential(_conv(INPUT_SHAPE[0], width, 3), _bn(width), nn.PReLU(width))
        stages = []
        for channels, count in zip(STAGE_CHANNELS, units, strict=False):
            stages.append(_stage(width, channels, count))
            width = channels
        self.stages = nn.Sequential(*stages)
        self.head = EmbeddingHead(width, _FEATURE_SIZE, embedding_size, dropout)
        logger.debug("IResNet units %s, embedding %d, dropout %g", self.units, embedding_size, dropout)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        check_input(x, f"IResNet{list(self.units)}")
        return self.head(self.stages(self.stem(x)))


@register_model
def iresnet18(embedding_size: int = 512, dropout: float = 0.0) -> IResNet:
    """IResNet-18, units (2, 2, 2, 2): 24.0M parameters at 512-d (no published figure to compare)."""
    return IResNet((2, 2, 2, 2), embedding_size, dropout)


@register_model(published_params=34_129_000, params_source=_PARAMS_SOURCE.format(34))
def iresnet34(embedding_size: int = 512, dropout: float = 0.0) -> IResNet:
    """IResNet-34, units (3, 4, 6, 3): 34.1M parameters at 512-d."""
    return IResNet((3, 4, 6, 3), embedding_size, dropout)


@register_model(aliases=("FresResNet50",), published_params=43_576_000, params_source=_PARAMS_SOURCE.format(50))
def iresnet50(embedding_size: int = 512, dropout: float = 0.0) -> IResNet:
    """IResNet-50, units (3, 4, 14, 3): 43.6M parameters at 512-d. Alias: ``FresResNet50`` (Arcface-Paddle)."""
    return IResNet((3, 4, 14, 3), embedding_size, dropout)


@register_model(aliases=("FresResNet100",), published_params=65_131_000, params_source=_PARAMS_SOURCE.format(100))
def iresnet100(embedding_size: int = 512, dropout: float = 0.0) -> IResNet:
    """IResNet-100, units (3, 13, 30, 3): 65.2M parameters at 512-d. Alias: ``FresResNet100`` (Arcface-Paddle)."""
    return IResNet((3, 13, 30, 3), embedding_size, dropout)
