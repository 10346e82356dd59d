"""BlazeFace full range (MediaPipe's ``face_detection_full_range_sparse.tflite``) as a ``paddle.nn.Layer``.

Architecture, read from the TFLite graph: a 3x3 stride-2 convolution (32 channels, ReLU), then an encoder of
"double" blocks (depthwise 3x3, pointwise 1x1 down to a narrow width with ReLU, depthwise 3x3, pointwise 1x1 back
up; residual add then ReLU, or, for the stride-2 block that opens each level, ReLU without a residual) over the
96, 48, 24, 12 and 6 pixel maps; an FPN-style decoder (1x1 + ReLU, 2x bilinear upsampling, add a 1x1 + ReLU
lateral of the encoder, double blocks) back up to the 48x48 map; and two heads there (1x1, depthwise 3x3 stride
2, depth-to-space 2) giving one anchor per 48x48 cell. No batch norm.

Every 3x3 convolution reads an explicit ``PAD`` of one pixel on each side (``VALID`` convolution after it), so the
padding is symmetric even for stride 2 (not TensorFlow's ``SAME``); Paddle's ``padding=1`` is the same thing.
The upsampling is ``RESIZE_BILINEAR`` with ``half_pixel_centers`` (see :func:`interpolate_args`).

This is a detector, not a recognition backbone: it is not in ``faceid.models.registry``. Weights come from
``faceid.zoo.blazeface`` (converted from the ``.tflite``).
"""

from __future__ import annotations

import logging

import paddle
import paddle.nn.functional as F  # noqa: N812
from paddle import nn

__all__ = ["BLAZEFACE_FULL_DECODER", "BLAZEFACE_FULL_ENCODER", "BlazeFaceFull", "DoubleBlazeBlock", "interpolate_args"]

logger = logging.getLogger(__name__)

# (in, mid, out, stride) of the encoder's double blocks: 96x96 (2), 48 (3), 24 (3), 12 (3), 6 (4).
BLAZEFACE_FULL_ENCODER: tuple[tuple[int, int, int, int], ...] = (
    (32, 8, 32, 1), (32, 8, 32, 1),
    (32, 16, 64, 2), (64, 16, 64, 1), (64, 16, 64, 1),
    (64, 32, 128, 2), (128, 32, 128, 1), (128, 32, 128, 1),
    (128, 48, 192, 2), (192, 48, 192, 1), (192, 48, 192, 1),
    (192, 96, 384, 2), (384, 96, 384, 1), (384, 96, 384, 1), (384, 96, 384, 1),
)  # fmt: skip
# Encoder blocks whose input is also tapped by a lateral 1x1 (the 48, 24 and 12 maps), and the lateral widths.
_LATERAL_AT = (5, 8, 11)
_LATERAL_WIDTHS = (48, 64, 96)
# Decoder levels, top down (12, 24, 48): the 1x1 before upsampling (in -> out) and the double blocks after the add.
BLAZEFACE_FULL_DECODER: tuple[tuple[int, int, tuple[tuple[int, int, int, int], ...]], ...] = (
    (384, 96, ((96, 48, 96, 1),) * 2),
    (96, 64, ((64, 32, 64, 1),) * 2),
    (64, 48, ((48, 24, 48, 1),)),
)
# RESIZE_BILINEAR flags of the graph.
ALIGN_CORNERS = False
HALF_PIXEL_CENTERS = True


def interpolate_args(align_corners: bool, half_pixel_centers: bool) -> dict[str, bool | int]:
    """Paddle ``F.interpolate`` arguments that sample like TFLite's ``RESIZE_BILINEAR`` with these flags.

    TFLite maps output pixel ``i`` to input ``(i + 0.5) * scale - 0.5`` (``half_pixel_centers``; Paddle's
    ``align_mode=0``), ``i * (in - 1) / (out - 1)`` (``align_corners``; Paddle's ``align_corners=True``) or
    ``i * scale`` (neither; Paddle's ``align_mode=1``). Both flags at once is invalid in TFLite too.
    """
    if align_corners and half_pixel_centers:
        raise ValueError("RESIZE_BILINEAR: align_corners and half_pixel_centers cannot both be set")
    if align_corners:
        return {"align_corners": True, "align_mode": 0}
    return {"align_corners": False, "align_mode": 0 if half_pixel_centers else 1}


class DoubleBlazeBlock(nn.Layer):
    """Depthwise 3x3 (stride 1 or 2) -> 1x1 to ``mid`` + ReLU -> depthwise 3x3 -> 1x1 to ``out``, then ReLU of
    (that + the input) when shapes allow a residual (stride 1, ``in == out``), else ReLU of it alone."""

    def __init__(self, in_channels: int, mid_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.residual = stride == 1 and in_channels == out_channels
        self.dw1 = nn.Conv2D(in_channels, in_channels, 3, stride=stride, padding=1, groups=in_channels)
        self.pw1 = nn.Conv2D(in_channels, mid_channels, 1)
        self.dw2 = nn.Conv2D(mid_channels, mid_channels, 3, padding=1, groups=mid_channels)
        self.pw2 = nn.Conv2D(mid_channels, out_channels, 1)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        h = self.pw2(self.dw2(F.relu(self.pw1(self.dw1(x)))))
        return F.relu(h + x) if self.residual else F.relu(h)


def _blocks(specs: tuple[tuple[int, int, int, int], ...]) -> nn.LayerList:
    return nn.LayerList([DoubleBlazeBlock(*spec) for spec in specs])


class BlazeFaceFull(nn.Layer):
    """BlazeFace full range: (N, 3, 192, 192) float32 RGB in [-1, 1], NCHW -> (regressors, score logits).

    ``regressors`` is (N, 2304, 16): per anchor [dx, dy, w, h, 6 keypoints (x, y)] in 192-pixel units relative
    to the anchor centre; ``scores`` is (N, 2304, 1) logits (apply a sigmoid). Anchors: 48x48 cells, one each,
    row-major (``faceid.ops.detect.ssd_anchors(192, (4,), anchors_per_layer=1)``).
    """

    input_size = 192
    num_anchors = 2304

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2D(3, 32, 3, stride=2, padding=1)
        self.encoder = _blocks(BLAZEFACE_FULL_ENCODER)
        self.lateral = nn.LayerList(
            [nn.Conv2D(BLAZEFACE_FULL_ENCODER[i][0], w, 1) for i, w in zip(_LATERAL_AT, _LATERAL_WIDTHS, strict=True)]
        )
        self.reduce = nn.LayerList([nn.Conv2D(cin, cout, 1) for cin, cout, _ in BLAZEFACE_FULL_DECODER])
        self.decoder = nn.LayerList([_blocks(blocks) for _, _, blocks in BLAZEFACE_FULL_DECODER])
        width = BLAZEFACE_FULL_DECODER[-1][1]
        self.cls_pw = nn.Conv2D(width, 4, 1)  # 4 = 2x2 sub-cells x 1 score
        self.cls_dw = nn.Conv2D(4, 4, 3, stride=2, padding=1, groups=4)
        self.reg_pw = nn.Conv2D(width, 64, 1)  # 64 = 2x2 sub-cells x 16 regressors
        self.reg_dw = nn.Conv2D(64, 64, 3, stride=2, padding=1, groups=64)
        self._resize = interpolate_args(ALIGN_CORNERS, HALF_PIXEL_CENTERS)

    @staticmethod
    def _depth_to_rows(x: paddle.Tensor, width: int, block: int = 2) -> paddle.Tensor:
        """TFLite's ``DEPTH_TO_SPACE`` (channel ``(i * block + j) * width + c`` of cell (h, w) goes to pixel
        (h * block + i, w * block + j)) then the NHWC reshape to (N, H * W * block^2, width), from NCHW."""
        height, wide = x.shape[2], x.shape[3]
        x = x.reshape([-1, block, block, width, height, wide]).transpose([0, 4, 1, 5, 2, 3])
        return x.reshape([-1, height * block * wide * block, width])

    def forward(self, x: paddle.Tensor) -> tuple[paddle.Tensor, paddle.Tensor]:
        # Plain index loops: paddle.jit (the detector's inference export) rewrites zip() and enumerate().
        x = F.relu(self.stem(x))
        laterals = []
        for i in range(len(self.encoder)):
            if i in _LATERAL_AT:
                laterals.append(F.relu(self.lateral[len(laterals)](x)))
            x = self.encoder[i](x)
        for level in range(len(self.reduce)):
            lateral = laterals[len(laterals) - 1 - level]
            up = F.interpolate(F.relu(self.reduce[level](x)), size=lateral.shape[2:], mode="bilinear", **self._resize)
            x = up + lateral
            for block in self.decoder[level]:
                x = block(x)
        scores = self._depth_to_rows(self.cls_dw(self.cls_pw(x)), 1)
        boxes = self._depth_to_rows(self.reg_dw(self.reg_pw(x)), 16)
        return boxes, scores

    def conv_order(self) -> list[str]:
        """Names of the ``Conv2D`` sublayers in the order :meth:`forward` runs them (one pass on a zero input);
        the converter pairs them with the TFLite graph's convolutions in graph order."""
        order: list[str] = []
        hooks = [
            layer.register_forward_pre_hook(lambda _layer, _inputs, name=name: order.append(name))
            for name, layer in self.named_sublayers()
            if isinstance(layer, nn.Conv2D)
        ]
        try:
            with paddle.no_grad():
                self(paddle.zeros([1, 3, self.input_size, self.input_size]))
        finally:
            for hook in hooks:
                hook.remove()
        return order
