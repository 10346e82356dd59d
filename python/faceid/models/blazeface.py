"""BlazeFace short range (MediaPipe's ``face_detection_short_range.tflite``) as a ``paddle.nn.Layer``.

Architecture, read from the TFLite graph: a 5x5 stride-2 convolution (24 channels) then 16 BlazeBlocks
(depthwise 3x3 then pointwise 1x1, residual add, ReLU; a stride-2 block max-pools the shortcut, a widening block
pads the shortcut with zero channels) and two SSD heads, on the 16x16 map (88 channels, 2 anchors per cell) and
the 8x8 map (96 channels, 6 anchors per cell). No batch norm. TensorFlow's ``SAME`` padding is reproduced
exactly by the convolutions' own padding (asymmetric for stride 2: the extra row/column at the bottom/right).

This is a detector, not a recognition backbone: it is not in ``faceid.models.registry``. Weights come from
``faceid.zoo.blazeface`` (converted from the ``.tflite``).
"""

from __future__ import annotations

import logging

import paddle
import paddle.nn.functional as F  # noqa: N812
from paddle import nn

__all__ = ["BLAZEFACE_SHORT_BLOCKS", "BlazeBlock", "BlazeFaceShort", "same_padding"]

logger = logging.getLogger(__name__)

# (in_channels, out_channels, stride) of the 16 BlazeBlocks; the first 11 feed the 16x16 head, all 16 the 8x8 head.
BLAZEFACE_SHORT_BLOCKS: tuple[tuple[int, int, int], ...] = (
    (24, 24, 1), (24, 28, 1), (28, 32, 2), (32, 36, 1), (36, 42, 1), (42, 48, 2), (48, 56, 1), (56, 64, 1),
    (64, 72, 1), (72, 80, 1), (80, 88, 1),
    (88, 96, 2), (96, 96, 1), (96, 96, 1), (96, 96, 1), (96, 96, 1),
)  # fmt: skip
_HIGH_RES_BLOCKS = 11


def same_padding(kernel: int, stride: int) -> list[int]:
    """TensorFlow ``SAME`` padding as a Conv2D ``padding`` ``[top, bottom, left, right]``, valid for any input
    size at stride 1 and for even sizes at stride 2 (every map of BlazeFaceShort's 128x128 input): ``kernel -
    stride`` pixels in all, the extra one at the bottom/right."""
    total = kernel - stride
    return [total // 2, total - total // 2] * 2


class BlazeBlock(nn.Layer):
    """Depthwise 3x3 (stride 1 or 2) + pointwise 1x1, plus the shortcut (max-pooled, zero-padded), then ReLU."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.stride = stride
        self.channel_pad = out_channels - in_channels
        # The convolution pads itself (no separate pad op): Paddle Inference runs the net ~2.4x faster.
        padding = same_padding(3, stride)
        self.dw = nn.Conv2D(in_channels, in_channels, 3, stride=stride, padding=padding, groups=in_channels)
        self.pw = nn.Conv2D(in_channels, out_channels, 1)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        h = self.pw(self.dw(x))
        shortcut = F.max_pool2d(x, kernel_size=2, stride=2, ceil_mode=True) if self.stride == 2 else x
        if self.channel_pad > 0:
            zeros = paddle.zeros([shortcut.shape[0], self.channel_pad, *shortcut.shape[2:]], dtype=shortcut.dtype)
            shortcut = paddle.concat([shortcut, zeros], axis=1)
        return F.relu(h + shortcut)


class BlazeFaceShort(nn.Layer):
    """BlazeFace short range: (N, 3, 128, 128) float32 RGB in [-1, 1], NCHW -> (regressors, score logits).

    ``regressors`` is (N, 896, 16): per anchor [dx, dy, w, h, 6 keypoints (x, y)] in 128-pixel units relative to
    the anchor centre; ``scores`` is (N, 896, 1) logits (apply a sigmoid). Anchors: 16x16 cells x 2 then 8x8 cells
    x 6, row-major (see ``faceid.ops.detect.blazeface_anchors``).
    """

    input_size = 128
    num_anchors = 896

    def __init__(self) -> None:
        super().__init__()
        self.conv0 = nn.Conv2D(3, 24, 5, stride=2, padding=same_padding(5, 2))
        self.blocks = nn.LayerList([BlazeBlock(cin, cout, stride) for cin, cout, stride in BLAZEFACE_SHORT_BLOCKS])
        self.cls16 = nn.Conv2D(88, 2, 1)  # the 16x16 map: 2 anchors per cell
        self.reg16 = nn.Conv2D(88, 32, 1)
        self.cls8 = nn.Conv2D(96, 6, 1)  # the 8x8 map: 6 anchors per cell
        self.reg8 = nn.Conv2D(96, 96, 1)

    @staticmethod
    def _flatten(x: paddle.Tensor, width: int) -> paddle.Tensor:
        """NCHW head output -> (N, H*W*anchors, width), anchors fastest (TFLite's NHWC reshape)."""
        return paddle.transpose(x, [0, 2, 3, 1]).reshape([x.shape[0], -1, width])

    def forward(self, x: paddle.Tensor) -> tuple[paddle.Tensor, paddle.Tensor]:
        if x.shape[2] % 2 or x.shape[3] % 2:
            raise ValueError(f"BlazeFaceShort needs an even input size (128x128), got {x.shape[2]}x{x.shape[3]}")
        x = F.relu(self.conv0(x))
        for block in self.blocks[:_HIGH_RES_BLOCKS]:
            x = block(x)
        high = x
        for block in self.blocks[_HIGH_RES_BLOCKS:]:
            x = block(x)
        scores = paddle.concat([self._flatten(self.cls16(high), 1), self._flatten(self.cls8(x), 1)], axis=1)
        boxes = paddle.concat([self._flatten(self.reg16(high), 16), self._flatten(self.reg8(x), 16)], axis=1)
        return boxes, scores
