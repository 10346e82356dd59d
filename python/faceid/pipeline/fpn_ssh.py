"""The insightface-paddle wheel's face detector, PaddleDetection BlazeFace-FPN-SSH, run the way the wheel runs it.

The published inference model (``blazeface_fpn_ssh_1000e_v1.0_infer``) decodes its 22,400 SSD priors and runs
MultiClassNMS (IoU 0.3) itself; its first output holds ``[class, score, x1, y1, x2, y2]`` rows already in the
original image's pixels (it divides by the ``scale_factor`` it is fed). The wheel feeds it (reference doc 5.5):

* the image as RGB float32, resized to 640x640 whatever its aspect ratio (``cv2.resize`` with ``fx = 640 / W``,
  ``fy = 640 / H``, bilinear);
* ``x / 255`` then ImageNet's mean (0.485, 0.456, 0.406) and std (0.229, 0.224, 0.225), HWC -> CHW;
* ``im_shape = [[640, 640]]`` and ``scale_factor = [[640 / H, 640 / W]]``;

and keeps rows with ``score > 0.8`` and ``class > -1``. (PaddleDetection's own ``infer_cfg.yml`` normalises
differently, mean 123/117/104 and std 127.5 without the ``/ 255``; faceid follows the wheel, whose threshold was
chosen for it.) It gives boxes only: :class:`faceid.FaceAnalysis` aligns its faces on MTCNN ONet's 5 points.
Trained on WIDER FACE, it misses faces that fill most of the frame (its largest prior is 128 px of 640).
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING

import numpy as np

from faceid.pipeline.detector import Detection

if TYPE_CHECKING:
    from faceid.zoo import ModelRecord

__all__ = ["FPN_SSH", "FpnSshDetector", "fpn_ssh_feeds"]

logger = logging.getLogger(__name__)

FPN_SSH = "blazeface_fpn_ssh_1000e_v1.0_infer"


def fpn_ssh_feeds(image_bgr: np.ndarray, record: ModelRecord | None = None) -> dict[str, np.ndarray]:
    """The wheel's three inputs for one uint8 HWC BGR image: ``image`` (1, 3, 640, 640) float32, ``im_shape`` and
    ``scale_factor`` (1, 2) float32; mean/std (in 0-255 units) and the size from the zoo ``record``."""
    import cv2

    from faceid.zoo import get_record

    record = record or get_record(FPN_SSH)
    size_h, size_w = record.input_size
    height, width = image_bgr.shape[:2]
    rgb = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB).astype(np.float32)
    resized = cv2.resize(rgb, None, fx=size_w / width, fy=size_h / height, interpolation=cv2.INTER_LINEAR)
    # (x / 255 - mean) / std with mean, std in 0..1 units, as one multiply-add (the record keeps them x 255)
    scale = 1.0 / np.asarray(record.std, np.float32)
    shift = np.asarray(record.mean, np.float32) * scale
    image = (resized * scale - shift).transpose(2, 0, 1)[None]
    return {
        "image": np.ascontiguousarray(image, dtype=np.float32),
        "im_shape": np.array([[size_h, size_w]], np.float32),
        "scale_factor": np.array([[size_h / height, size_w / width]], np.float32),
    }


class FpnSshDetector:
    """BlazeFace-FPN-SSH as the insightface-paddle wheel runs it (batch 1, oneDNN, ``threads`` CPU threads).

    ``score_threshold``: keep boxes scoring above it (default the wheel's 0.8, from the zoo record);
    ``model_source``: the offline folder holding ``seed/<name>/`` or ``seed/<name>.tar`` (default
    ``$FACEID_MODEL_SOURCE``). :meth:`detect` gives :class:`Detection` objects with no keypoints (shape (0, 2)).
    """

    has_keypoints = False  # boxes only

    def __init__(
        self,
        model: str = FPN_SSH,
        *,
        model_source: str | os.PathLike[str] | None = None,
        score_threshold: float | None = None,
        threads: int = 2,
        device: str = "cpu",
    ) -> None:
        from faceid.zoo import get_record
        from faceid.zoo.registry import resolve

        self.record = get_record(model)
        if self.record.name != FPN_SSH:
            raise ValueError(f"{model} is not BlazeFace-FPN-SSH ({FPN_SSH})")
        self.score_threshold = float(self.record.extra["det_thresh"] if score_threshold is None else score_threshold)
        self.predictor = resolve(self.record.loader)(self.record.name, model_source, threads=threads, device=device)
        self.input_size = self.record.input_size

    def raw(self, image_bgr_uint8_hwc: np.ndarray) -> np.ndarray:
        """The model's NMS output for one image: (K, 6) ``[class, score, x1, y1, x2, y2]`` in image pixels, every
        row the model keeps (its own score floor is 0.1)."""
        outputs = self.predictor.run_feeds(fpn_ssh_feeds(image_bgr_uint8_hwc, self.record))
        rows = [value for value in outputs.values() if value.ndim == 2 and value.shape[1] == 6]
        return rows[0].astype(np.float32) if rows else np.zeros((0, 6), np.float32)

    def detect(self, image_bgr_uint8_hwc: np.ndarray) -> list[Detection]:
        """Faces in a BGR uint8 HWC image, best first, boxes in its pixels (clipped to the image)."""
        image = np.asarray(image_bgr_uint8_hwc)
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8 or 0 in image.shape:
            raise ValueError(f"expected a non-empty BGR uint8 HWC image, got shape {image.shape} dtype {image.dtype}")
        height, width = image.shape[:2]
        rows = self.raw(image)
        rows = rows[(rows[:, 1] > self.score_threshold) & (rows[:, 0] > -1)]
        rows = rows[np.argsort(-rows[:, 1], kind="stable")]
        boxes = np.clip(rows[:, 2:6], 0, [width, height, width, height]).astype(np.float32)
        logger.debug("%d faces above %.2f", len(rows), self.score_threshold)
        return [Detection(boxes[i], float(rows[i, 1]), np.zeros((0, 2), np.float32)) for i in range(len(rows))]
