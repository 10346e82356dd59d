"""The peer of ``faceid bench pipeline``: the detect -> align -> embed -> search pipeline a user would assemble from
the peers' own runtimes, with no faceid code on its hot path.

* Detection: LiteRT (``ai-edge-litert``, XNNPACK) runs MediaPipe's original ``face_detection_short_range.tflite``
  on every tile in one invoke; each tile is cropped and letterboxed with OpenCV (``INTER_AREA``, a black
  border, RGB, ``/127.5 - 1``); anchors, decoding and weighted NMS are this module's own numpy, written from
  MediaPipe's ``SsdAnchorsCalculator``, ``TensorsToDetectionsCalculator`` and ``NonMaxSuppressionCalculator``
  (weighted) options for the short-range model.
* Alignment: least-squares similarity (numpy) + ``cv2.warpAffine``, face by face, as insightface's package does.
* Recognition: ONNX Runtime (insightface's runtime) on an ONNX export of the recogniser, fed a
  ``cv2.dnn.blobFromImages`` blob.
* Search: a numpy matrix product and argmax.

Only configuration comes from faceid, once, outside the hot path: the tile geometry, the score thresholds, the
alignment template's points, the model files and the gallery matrix.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass

import numpy as np

__all__ = [
    "PeerDetector",
    "PeerDetectorConfig",
    "PeerPipeline",
    "mediapipe_anchors",
    "peer_candidates",
    "peer_weighted_nms",
    "require_peer_runtimes",
]

INPUT_SIZE = 128  # face_detection_short_range.tflite: 1x128x128x3 float32 RGB in [-1, 1]
# SsdAnchorsCalculator options of MediaPipe's short-range face detection graph
_STRIDES = (8, 16, 16, 16)
_ANCHOR_OFFSET = 0.5
_ASPECT_RATIOS = (1.0,)
_INTERPOLATED_SCALE_ASPECT_RATIO = 1.0  # adds one more anchor per layer and cell
_ANCHORS_PER_LAYER = len(_ASPECT_RATIOS) + (_INTERPOLATED_SCALE_ASPECT_RATIO > 0)  # per cell
_SCORE_CLIPPING = 100.0  # TensorsToDetectionsCalculator's score_clipping_thresh
_EDGE_MARGIN = 0.02  # tile detections this close (fraction of the tile) to an inner tile edge are dropped


def require_peer_runtimes() -> None:
    """A :class:`faceid.errors.FaceidError` naming the ``bench`` extra when LiteRT, ONNX Runtime or paddle2onnx
    (which exports the recogniser to ONNX) is missing."""
    import importlib.util

    from faceid.errors import FaceidError

    wanted = {"ai_edge_litert": "ai-edge-litert", "onnxruntime": "onnxruntime", "paddle2onnx": "paddle2onnx",
              "threadpoolctl": "threadpoolctl"}  # fmt: skip
    missing = [package for module, package in wanted.items() if importlib.util.find_spec(module) is None]
    if missing:
        raise FaceidError(
            f'the peer pipeline (LiteRT + ONNX Runtime) needs {", ".join(missing)}: pip install "faceid[bench]"'
        )


def mediapipe_anchors(input_size: int = INPUT_SIZE, strides: tuple[int, ...] = _STRIDES) -> np.ndarray:
    """Anchor centres ``(A, 2)`` ``(x, y)`` normalised to the input, in MediaPipe's order: layers of one stride
    share a feature map, cells row-major, each cell's anchors together (fixed anchor size 1)."""
    out = []
    layer = 0
    while layer < len(strides):
        last = layer
        while last < len(strides) and strides[last] == strides[layer]:
            last += 1
        per_cell = (last - layer) * _ANCHORS_PER_LAYER
        cells = -(-input_size // strides[layer])
        for y in range(cells):
            for x in range(cells):
                out.extend([((x + _ANCHOR_OFFSET) / cells, (y + _ANCHOR_OFFSET) / cells)] * per_cell)
        layer = last
    return np.asarray(out, dtype=np.float32)


def _anchors_per_head(input_size: int = INPUT_SIZE, strides: tuple[int, ...] = _STRIDES) -> list[int]:
    """Rows each output head contributes per image (short range: 512 from stride 8, 384 from stride 16)."""
    counts: dict[int, int] = {}
    for stride in strides:
        counts[stride] = counts.get(stride, 0) + _ANCHORS_PER_LAYER * (-(-input_size // stride)) ** 2
    return list(counts.values())


@dataclass(frozen=True)
class PeerDetectorConfig:
    """What the peer's detector shares with faceid's, read once: the tiles ``(x0, y0, x1, y1)`` (the whole
    image first), the whole image's and a tile's minimum score, the NMS IoU and the image size."""

    tiles: tuple[tuple[int, int, int, int], ...]
    score_threshold: float
    tile_score_threshold: float
    iou_threshold: float
    height: int
    width: int


def _tile_letterbox(tile: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    """``(new_w, new_h, left, top)``: a tile fitted into the square input, aspect kept, centred."""
    width, height = tile[2] - tile[0], tile[3] - tile[1]
    scale = INPUT_SIZE / max(width, height)
    new_w = min(INPUT_SIZE, max(1, round(width * scale)))
    new_h = min(INPUT_SIZE, max(1, round(height * scale)))
    return new_w, new_h, (INPUT_SIZE - new_w) // 2, (INPUT_SIZE - new_h) // 2


def peer_candidates(
    regressors: np.ndarray, logits: np.ndarray, anchors: np.ndarray, config: PeerDetectorConfig
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-tile raw outputs ``(T, A, 16)`` and ``(T, A, 1)`` -> the candidates in image pixels that pass the
    thresholds and the tile-edge rule: ``(boxes (K, 4) xyxy, scores (K,), keypoints (K, 6, 2))``."""
    tiles = np.asarray(config.tiles, dtype=np.float64)
    logits = np.clip(logits.reshape(len(tiles), -1).astype(np.float64), -_SCORE_CLIPPING, _SCORE_CLIPPING)
    scores = 1 / (1 + np.exp(-logits))
    minimum = np.full(len(tiles), max(config.tile_score_threshold, config.score_threshold))
    minimum[0] = config.score_threshold  # the whole image
    tile, anchor = np.nonzero(scores >= minimum[:, None])  # decode only these rows
    fit = np.asarray([_tile_letterbox(t) for t in config.tiles], dtype=np.float64)[tile]
    # input pixel p -> image pixel: (p - pad) * tile_side / new_side + tile_origin, per axis
    gain = (tiles[tile, 2:4] - tiles[tile, 0:2]) / fit[:, 0:2]  # (K, 2)
    origin = tiles[tile, 0:2] - fit[:, 2:4] * gain
    raw = regressors[tile, anchor].astype(np.float64)
    anchor_px = anchors[anchor] * INPUT_SIZE  # x_scale = w_scale = the input size; anchors have size 1
    centre = raw[:, 0:2] + anchor_px
    corners = np.stack([centre - raw[:, 2:4] / 2, centre + raw[:, 2:4] / 2], axis=1)  # (K, 2, 2)
    points = raw[:, 4:].reshape(len(raw), (raw.shape[1] - 4) // 2, 2) + anchor_px[:, None, :]
    corners, points = corners * gain[:, None] + origin[:, None], points * gain[:, None] + origin[:, None]
    keep = np.ones(len(raw), dtype=bool)
    margin = _EDGE_MARGIN * np.max(tiles[tile, 2:4] - tiles[tile, 0:2], axis=1)
    for axis, limit in ((0, config.width), (1, config.height)):
        low, high = tiles[tile, axis], tiles[tile, axis + 2]
        keep &= (low <= 0) | (corners[:, 0, axis] >= low + margin)
        keep &= (high >= limit) | (corners[:, 1, axis] <= high - margin)
    return corners[keep].reshape(-1, 4), scores[tile, anchor][keep], points[keep]


def peer_weighted_nms(
    boxes: np.ndarray, scores: np.ndarray, keypoints: np.ndarray, iou_threshold: float = 0.3
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """MediaPipe's weighted NMS: the best remaining detection and every remaining one overlapping it by IoU
    ``> iou_threshold`` merge into their score-weighted mean box and keypoints, with the best score."""
    order = np.argsort(-scores, kind="stable")
    boxes, scores, keypoints = boxes[order], scores[order], keypoints[order]
    areas = (boxes[:, 2] - boxes[:, 0]).clip(0) * (boxes[:, 3] - boxes[:, 1]).clip(0)
    alive = np.ones(len(scores), dtype=bool)
    out_boxes, out_scores, out_points = [], [], []
    for top in range(len(scores)):
        if not alive[top]:
            continue
        lo, hi = np.maximum(boxes[top, :2], boxes[:, :2]), np.minimum(boxes[top, 2:], boxes[:, 2:])
        inter = np.prod((hi - lo).clip(0), axis=1)
        union = areas[top] + areas - inter
        cluster = alive & (inter > iou_threshold * np.where(union > 0, union, np.inf))
        cluster[top] = True
        weights = scores[cluster] / scores[cluster].sum()
        out_boxes.append(weights @ boxes[cluster])
        out_points.append(np.tensordot(weights, keypoints[cluster], axes=1))
        out_scores.append(scores[top])
        alive &= ~cluster
    count = len(out_scores)
    return (
        np.asarray(out_boxes, dtype=np.float32).reshape(count, 4),
        np.asarray(out_scores, dtype=np.float32),
        np.asarray(out_points, dtype=np.float32).reshape(count, keypoints.shape[1], 2),
    )


class PeerDetector:
    """MediaPipe's short-range BlazeFace in LiteRT (XNNPACK, ``threads``) on every tile of ``config`` in one
    invoke, with OpenCV letterboxes and this module's numpy decoding and NMS."""

    def __init__(self, tflite: str | os.PathLike[str], config: PeerDetectorConfig, *, threads: int) -> None:
        from ai_edge_litert.interpreter import Interpreter

        self.tflite, self.config = os.fspath(tflite), config
        self.anchors = mediapipe_anchors()
        self.heads = _anchors_per_head()
        self.interpreter = Interpreter(model_path=os.fspath(tflite), num_threads=threads)
        self._input = self.interpreter.get_input_details()[0]["index"]
        self.interpreter.resize_tensor_input(self._input, [len(config.tiles), INPUT_SIZE, INPUT_SIZE, 3])
        self.interpreter.allocate_tensors()
        outputs = {d["name"]: d["index"] for d in self.interpreter.get_output_details()}
        self._regressors, self._logits = outputs["regressors"], outputs["classificators"]
        self._pixels = np.zeros((len(config.tiles), INPUT_SIZE, INPUT_SIZE, 3), dtype=np.uint8)

    def prepare(self, image_bgr: np.ndarray) -> np.ndarray:
        """The tiles of a BGR uint8 HWC image as the model's (T, 128, 128, 3) float32 RGB [-1, 1] batch."""
        import cv2

        for i, (x0, y0, x1, y1) in enumerate(self.config.tiles):
            new_w, new_h, left, top = _tile_letterbox((x0, y0, x1, y1))
            shrink = new_w < x1 - x0 or new_h < y1 - y0
            resized = cv2.resize(image_bgr[y0:y1, x0:x1], (new_w, new_h),
                                 interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)  # fmt: skip
            square = cv2.copyMakeBorder(resized, top, INPUT_SIZE - new_h - top, left, INPUT_SIZE - new_w - left,
                                        cv2.BORDER_CONSTANT, value=(0, 0, 0))  # fmt: skip
            cv2.cvtColor(square, cv2.COLOR_BGR2RGB, dst=self._pixels[i])
        return self._pixels * np.float32(1 / 127.5) - np.float32(1)

    def infer(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One LiteRT invoke on the tile batch -> per-tile ``(T, 896, 16)`` regressors, ``(T, 896, 1)`` logits.

        The converted graph flattens each head's rows over the batch before concatenating the heads, so the
        batched output is every tile's stride-8 rows, then every tile's stride-16 rows."""
        self.interpreter.set_tensor(self._input, batch)
        self.interpreter.invoke()
        cuts = np.cumsum([0] + [len(batch) * n for n in self.heads])
        per_tile = []
        for index in (self._regressors, self._logits):
            flat = self.interpreter.get_tensor(index)[0]
            heads = [flat[a:b].reshape(len(batch), -1, flat.shape[-1]) for a, b in itertools.pairwise(cuts)]
            per_tile.append(np.concatenate(heads, axis=1))
        return per_tile[0], per_tile[1]

    def detect(self, image_bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Faces ``(boxes (F, 4), scores (F,), keypoints (F, 6, 2))`` of a BGR photo, best first."""
        regressors, logits = self.infer(self.prepare(image_bgr))
        boxes, scores, keypoints = peer_candidates(regressors, logits, self.anchors, self.config)
        return peer_weighted_nms(boxes, scores, keypoints, self.config.iou_threshold)


class PeerPipeline:
    """LiteRT detection (:class:`PeerDetector`) + OpenCV alignment + ONNX Runtime recognition + numpy search,
    ``threads`` each.

    ``tflite``: MediaPipe's short-range model; ``onnx``: the recogniser (dynamic batch, NCHW RGB); ``mean`` and
    ``std`` its per-channel input normalisation (pixel units; ``blobFromImages`` takes one scale, the first
    channel's); ``template``: the 112x112 target of the eyes, nose tip and mouth centre (4, 2);
    ``gallery``: unit rows (G, D).
    """

    def __init__(
        self,
        tflite: str | os.PathLike[str],
        onnx: str | os.PathLike[str],
        config: PeerDetectorConfig,
        *,
        threads: int,
        mean: tuple[float, ...],
        std: tuple[float, ...],
        template: np.ndarray,
        gallery: np.ndarray,
    ) -> None:
        import onnxruntime as ort

        self.detector = PeerDetector(tflite, config, threads=threads)
        options = ort.SessionOptions()
        options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(os.fspath(onnx), options, providers=["CPUExecutionProvider"])
        self._face_input = self.session.get_inputs()[0].name
        self.blob_mean, self.blob_scale = tuple(float(m) for m in mean), 1.0 / float(std[0])
        self.template = np.asarray(template, dtype=np.float64)
        self.gallery = np.ascontiguousarray(gallery, dtype=np.float32)

    def detect(self, image_bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`PeerDetector.detect`."""
        return self.detector.detect(image_bgr)

    def align(self, image_bgr: np.ndarray, keypoints: np.ndarray) -> list[np.ndarray]:
        """112x112 BGR chips, one ``cv2.warpAffine`` per face, by the least-squares similarity (4 parameters)
        taking each face's eyes, nose tip and mouth centre onto the template."""
        import cv2

        chips = []
        for points in keypoints:
            x, y = points[: len(self.template), 0].astype(np.float64), points[: len(self.template), 1]
            one, zero = np.ones_like(x), np.zeros_like(x)
            rows = np.concatenate([np.stack([x, -y, one, zero], 1), np.stack([y, x, zero, one], 1)])
            a, b, tx, ty = np.linalg.lstsq(rows, self.template.T.reshape(-1), rcond=None)[0]
            chips.append(cv2.warpAffine(image_bgr, np.array([[a, -b, tx], [b, a, ty]]), (112, 112), borderValue=0))
        return chips

    def embed(self, chips: list[np.ndarray]) -> np.ndarray:
        """Raw embeddings (F, D) of BGR chips: one ``blobFromImages`` (RGB, normalised) and one ONNX Runtime run."""
        import cv2

        blob = cv2.dnn.blobFromImages(chips, self.blob_scale, (112, 112), self.blob_mean, swapRB=True)
        return self.session.run(None, {self._face_input: blob})[0]

    def search(self, embeddings: np.ndarray) -> np.ndarray:
        """The best gallery row of each embedding (cosine)."""
        unit = embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)
        return np.argmax(unit @ self.gallery.T, axis=1)
