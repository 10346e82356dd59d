"""``FaceDetector``: faces, scores and 6 keypoints from BGR photos, with MediaPipe's BlazeFace (short or full range).

One pass letterboxes the image to the model's square input (128 short range, 192 full range) as RGB in [-1, 1],
runs the network, decodes its anchors (896 / 2304), applies a sigmoid and MediaPipe's weighted NMS (IoU 0.3).
Short range only sees faces that fill a good part of the frame, so by default it also runs square tiles of 0.5
and 0.35 of the long side (50% overlap) in the same batch, drops tile detections cut by an inner tile edge, and
merges everything with one global weighted NMS; full range finds small faces in one pass and does not tile.
"""

from __future__ import annotations

import functools
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from faceid.ops.detect import (
    Letterbox,
    blazeface_candidates,
    ssd_anchors,
    tile_batch,
    tile_batch_reference,
    tile_grid,
    weighted_nms,
)

__all__ = ["KEYPOINT_NAMES", "Detection", "FaceDetector"]

logger = logging.getLogger(__name__)

# Subject's right eye is on the image's left for a frontal face.
KEYPOINT_NAMES = ("right_eye", "left_eye", "nose_tip", "mouth_center", "right_ear", "left_ear")
_EDGE_MARGIN = 0.02  # tile detections within this fraction of an inner tile edge are dropped


@dataclass(frozen=True)
class Detection:
    """One face in original-image pixels: ``box`` (4,) float32 xyxy, ``score`` in [0, 1], ``keypoints`` (6, 2)
    float32 (x, y) in the order of :data:`KEYPOINT_NAMES`."""

    box: np.ndarray
    score: float
    keypoints: np.ndarray


@dataclass
class _Candidates:
    boxes: np.ndarray
    scores: np.ndarray
    keypoints: np.ndarray


@functools.cache
def _resize_pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1), thread_name_prefix="faceid-resize")


class FaceDetector:
    """BlazeFace face detector.

    ``model``: a pretrained record name (``blazeface_short`` or ``blazeface_full``); ``model_source``: the folder
    holding the source ``.tflite`` (default ``$FACEID_MODEL_SOURCE``; converted weights are cached under
    ``$FACEID_HOME``); ``score_threshold``: minimum sigmoid score; ``tiling``: also search tiles (group photos,
    small faces; ``None``: the record's default, on for short range, off for full range);
    ``tile_score_threshold``: the (stricter) minimum score of a detection found in a tile, since tiles magnify
    background texture (the default rejects a 0.79 "face" in the White House facade of ``obama1.jpg``);
    ``backend``: ``inference`` (Paddle Inference, oneDNN) or ``dygraph`` (eager Paddle, the reference);
    ``precision`` (inference): ``fp32``, ``bf16`` (used only on a CPU with bf16 whose detections agree with fp32
    on a probe batch, else fp32 with a log line; :attr:`precision` says which runs) or ``auto`` (bf16 tried only
    where the CPU has it, quietly); ``threads`` (inference): CPU threads one call uses. The inference backend
    runs the native loop (GIL released; a batch of tiles split between ``threads`` single-threaded predictors)
    when it is usable, else the Python predictor; :attr:`engine` says which (``native``, ``python`` or
    ``dygraph``).
    """

    def __init__(
        self,
        model: str = "blazeface_short",
        *,
        model_source: str | os.PathLike[str] | None = None,
        score_threshold: float = 0.75,
        tiling: bool | None = None,
        iou_threshold: float = 0.3,
        tile_scales: tuple[float, ...] = (1.0, 0.5, 0.35),
        tile_score_threshold: float = 0.85,
        backend: str = "inference",
        precision: str = "fp32",
        threads: int = 2,
    ) -> None:
        if backend not in ("inference", "dygraph"):
            raise ValueError(f"backend must be 'inference' or 'dygraph', got {backend!r}")
        from faceid.zoo import get_record, list_records, load

        self.record = get_record(model)
        if self.record.task != "detection" or self.record.loads != "layer":
            runnable = [r.name for r in list_records() if r.task == "detection" and r.loads == "layer"]
            raise ValueError(f"{model} is not a detector FaceDetector runs; use one of {', '.join(runnable)}")
        self.net = load(model, model_source)
        self.backend = backend
        self.input_size = self.record.input_size[0]
        extra = self.record.extra
        self.anchors = ssd_anchors(self.input_size, tuple(extra["strides"]), extra["anchors_per_layer"])
        self._engine = None
        self.precision, self.engine = "fp32", "dygraph"
        if backend == "inference":
            from faceid.pipeline.detector_engine import DetectorEngine

            self._engine = DetectorEngine(
                self.net, size=self.input_size, anchors=self.anchors, threads=threads, precision=precision, name=model
            )
            self.precision, self.engine = self._engine.precision, self._engine.engine
        self.score_threshold = score_threshold
        self.iou_threshold = iou_threshold
        self.tiling = bool(extra["tiling"]) if tiling is None else tiling
        self.tile_scales = tile_scales
        self.tile_score_threshold = tile_score_threshold

    def run(self, batch_rgb_float_nchw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Raw network outputs for a (N, 3, S, S) float32 RGB [-1, 1] NCHW batch (S: ``input_size``): regressors
        (N, A, 16) and score logits (N, A, 1), float32 numpy (A: 896 short range, 2304 full range)."""
        batch = np.ascontiguousarray(batch_rgb_float_nchw, dtype=np.float32)
        if self._engine is not None:
            output = self._engine.run(batch)  # (N, A, 17): the regressors, then the logit
            return output[..., :-1], output[..., -1:]
        import paddle

        with paddle.no_grad():
            regressors, scores = self.net(paddle.to_tensor(batch))
        return regressors.numpy(), scores.numpy()

    def _decode(self, regressors: np.ndarray, logits: np.ndarray, box: Letterbox) -> _Candidates:
        """One input's raw outputs -> candidates above the threshold, in the pixels ``box`` maps back to."""
        boxes, scores, keypoints = blazeface_candidates(
            regressors, logits, self.anchors, self.input_size, self.score_threshold
        )
        corners = box.to_image(boxes.reshape(-1, 2, 2)).reshape(-1, 4)
        return _Candidates(corners, scores, box.to_image(keypoints))

    #: How the tiles' network inputs are made: ``"native"`` (:func:`~faceid.ops.detect.tile_batch`, one C++ op) or
    #: ``"reference"`` (OpenCV + numpy, :func:`~faceid.ops.detect.tile_batch_reference`); set it on an instance to
    #: compare them.
    tile_prep: str = "native"

    def _tile_batch(
        self, image_bgr_uint8_hwc: np.ndarray, tiles: list[tuple[int, int, int, int]]
    ) -> tuple[np.ndarray, list[tuple[Letterbox, tuple[float, float, float, float]]]]:
        """The (N, 3, S, S) float32 RGB NCHW inputs of ``tiles`` and each tile's (letterbox, bounds)."""
        if self.tile_prep == "native":
            return tile_batch(image_bgr_uint8_hwc, tiles, self.input_size)
        if self.tile_prep != "reference":
            raise ValueError(f"tile_prep must be 'native' or 'reference', got {self.tile_prep!r}")
        # OpenCV resizes without the GIL: the per-scale resizes run in parallel.
        pool_map = _resize_pool().map if len(tiles) > 1 else map
        return tile_batch_reference(image_bgr_uint8_hwc, tiles, self.input_size, pool_map)

    def _candidates(self, image_bgr_uint8_hwc: np.ndarray, tiles: list[tuple[int, int, int, int]]) -> _Candidates:
        """Detections (before NMS) of every tile, in image pixels; tile detections cut by an inner edge dropped."""
        height, width = image_bgr_uint8_hwc.shape[:2]
        batch, placed = self._tile_batch(image_bgr_uint8_hwc, tiles)
        regressors, logits = self.run(batch)
        parts = []
        for i, (box, (x0, y0, x1, y1)) in enumerate(placed):
            found = self._decode(regressors[i], logits[i], box)  # in image pixels already
            margin = _EDGE_MARGIN * max(x1 - x0, y1 - y0)
            inside = np.ones(found.scores.shape, dtype=bool)
            if i > 0:  # tiles[0] is the whole image
                inside &= found.scores >= self.tile_score_threshold
            for axis, low, high, limit in ((0, x0, x1, width), (1, y0, y1, height)):
                if low > 0:
                    inside &= found.boxes[:, axis] >= low + margin
                if high < limit:
                    inside &= found.boxes[:, axis + 2] <= high - margin
            parts.append(_Candidates(found.boxes[inside], found.scores[inside], found.keypoints[inside]))
        return _Candidates(
            np.concatenate([p.boxes for p in parts]).reshape(-1, 4),
            np.concatenate([p.scores for p in parts]),
            np.concatenate([p.keypoints for p in parts]).reshape(-1, len(KEYPOINT_NAMES), 2),
        )

    def detect(self, image_bgr_uint8_hwc: np.ndarray) -> list[Detection]:
        """Faces in a BGR uint8 HWC image, best first, in its pixel coordinates."""
        image = np.asarray(image_bgr_uint8_hwc)
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8 or 0 in image.shape:
            raise ValueError(f"expected a non-empty BGR uint8 HWC image, got shape {image.shape} dtype {image.dtype}")
        height, width = image.shape[:2]
        tiles = tile_grid(height, width, self.tile_scales) if self.tiling else [(0, 0, width, height)]
        found = self._candidates(image, tiles)
        boxes, scores, keypoints = weighted_nms(found.boxes, found.scores, found.keypoints, self.iou_threshold)
        logger.debug("%d tiles, %d candidates, %d faces", len(tiles), found.scores.size, scores.size)
        return [Detection(boxes[i], float(scores[i]), keypoints[i]) for i in range(scores.size)]
