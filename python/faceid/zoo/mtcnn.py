"""MTCNN's ONet (facenet-pytorch weights) in Paddle: 5-point landmarks (eye centres, nose, mouth corners).

Converted from the legacy ``torch.save`` file through :mod:`faceid.zoo.torch_legacy` (no torch). Input:
(N, 3, 48, 48) float32 RGB, ``(pixel - 127.5) / 128``, cropped from a face box; outputs box regression (N, 4),
landmarks (N, 10: five x then five y, as fractions of the box) and face probability (N, 2) softmaxed.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from faceid.zoo.registry import get_record, source_file
from faceid.zoo.torch_legacy import read_legacy_state_dict

__all__ = ["load_onet", "onet_landmarks", "verify_source"]


def _build(state: dict[str, np.ndarray]):
    import paddle
    from paddle import nn

    class ONet(nn.Layer):
        def __init__(self) -> None:
            super().__init__()
            self.conv1, self.prelu1 = nn.Conv2D(3, 32, 3), nn.PReLU(32)
            self.conv2, self.prelu2 = nn.Conv2D(32, 64, 3), nn.PReLU(64)
            self.conv3, self.prelu3 = nn.Conv2D(64, 64, 3), nn.PReLU(64)
            self.conv4, self.prelu4 = nn.Conv2D(64, 128, 2), nn.PReLU(128)
            self.dense5, self.prelu5 = nn.Linear(1152, 256), nn.PReLU(256)
            self.dense6_1, self.dense6_2, self.dense6_3 = nn.Linear(256, 2), nn.Linear(256, 4), nn.Linear(256, 10)

        def forward(self, x):
            pool = nn.functional.max_pool2d
            x = pool(self.prelu1(self.conv1(x)), 3, 2, ceil_mode=True)
            x = pool(self.prelu2(self.conv2(x)), 3, 2, ceil_mode=True)
            x = pool(self.prelu3(self.conv3(x)), 2, 2, ceil_mode=True)
            x = self.prelu4(self.conv4(x))
            x = self.prelu5(self.dense5(x.transpose([0, 3, 2, 1]).flatten(1)))  # torch's permute(0, 3, 2, 1)
            return self.dense6_2(x), self.dense6_3(x), nn.functional.softmax(self.dense6_1(x), axis=1)

    net = ONet()
    weights = {}
    for name, value in state.items():
        is_dense_weight = name.startswith("dense") and name.endswith(".weight")
        key = name.replace(".weight", "._weight") if name.startswith("prelu") else name  # Paddle's PReLU name
        weights[key] = paddle.to_tensor(value.T.copy() if is_dense_weight else value)
    missing = set(net.state_dict()) ^ set(weights)
    if missing:
        raise ValueError(f"ONet weights do not match the network: {sorted(missing)}")
    net.set_state_dict(weights)
    net.eval()
    return net


def verify_source(name: str = "mtcnn_onet", source: str | os.PathLike[str] | None = None) -> Path:
    """The verified ``mtcnn/onet.pt`` of the model source (the registry's converter: the small net is converted on
    each load, nothing is cached)."""
    return source_file(get_record(name).files[0], source)


def load_onet(name: str = "mtcnn_onet", source: str | os.PathLike[str] | None = None):
    """The ONet in eval mode, from the verified ``mtcnn/onet.pt`` of the model source."""
    return _build(read_legacy_state_dict(verify_source(name, source)))


def onet_landmarks(net, image_rgb: np.ndarray, box: np.ndarray) -> tuple[np.ndarray, float]:
    """Five (x, y) points in image pixels and the face probability for one ``box`` (xyxy) of a uint8 RGB HWC
    image."""
    import cv2
    import paddle

    x1, y1, x2, y2 = (int(round(float(v))) for v in box)  # noqa: RUF046
    height, width = image_rgb.shape[:2]
    crop = np.zeros((max(y2 - y1, 1), max(x2 - x1, 1), 3), np.uint8)
    sx0, sy0, sx1, sy1 = max(x1, 0), max(y1, 0), min(x2, width), min(y2, height)
    crop[sy0 - y1 : sy1 - y1, sx0 - x1 : sx1 - x1] = image_rgb[sy0:sy1, sx0:sx1]
    patch = cv2.resize(crop, (48, 48), interpolation=cv2.INTER_AREA).astype(np.float32)
    batch = ((patch - 127.5) / 128.0).transpose(2, 0, 1)[None]
    with paddle.no_grad():
        _, points, prob = net(paddle.to_tensor(batch))
    points = points.numpy()[0]
    xs, ys = x1 + points[:5] * (x2 - x1), y1 + points[5:] * (y2 - y1)
    return np.stack([xs, ys], axis=1), float(prob.numpy()[0, 1])
