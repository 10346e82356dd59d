"""Detection building blocks: SSD anchors, letterboxing, BlazeFace decoding, weighted NMS, tiles.

``decode_blazeface``, ``blazeface_candidates``, ``weighted_nms`` and ``tile_batch`` run natively (``faceid._C``,
float32); their ``*_reference`` twins are the numpy (and, for tiles, OpenCV) references the native code is tested
against, plain and exact rather than fast. Coordinates are continuous pixels (a pixel ``i`` spans ``[i, i + 1)``),
boxes are ``xyxy`` without any "+1". The MediaPipe conventions followed here are those of ``SsdAnchorsCalculator``,
``TensorsToDetectionsCalculator`` and ``NonMaxSuppressionCalculator`` (weighted mode).
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from faceid import _C

__all__ = [
    "Letterbox",
    "blazeface_candidates",
    "blazeface_candidates_reference",
    "box_iou",
    "decode_blazeface",
    "decode_blazeface_reference",
    "letterbox",
    "letterbox_params",
    "ssd_anchors",
    "tile_batch",
    "tile_batch_reference",
    "tile_grid",
    "tile_inputs",
    "weighted_nms",
    "weighted_nms_reference",
]

SCORE_CLIP = 100.0  # MediaPipe clips logits to +-100 before the sigmoid

logger = logging.getLogger(__name__)


def ssd_anchors(
    input_size: int = 128, strides: tuple[int, ...] = (8, 16, 16, 16), anchors_per_layer: int = 2, offset: float = 0.5
) -> np.ndarray:
    """Anchor centres ``(A, 2)`` float32 ``(x, y)`` in ``[0, 1]`` of the input, as MediaPipe lays them out.

    Consecutive layers with the same stride share one feature map (``ceil(input_size / stride)`` cells a side)
    and stack their anchors per cell; cells are row-major, anchors fastest. Anchors have a fixed size of 1 (the
    regressors carry absolute sizes). BlazeFace short range: ``(8, 16, 16, 16)`` x 2 -> 16*16*2 + 8*8*6 = 896;
    full range: ``input_size=192, strides=(4,), anchors_per_layer=1`` -> 2304.
    """
    centres = []
    layer = 0
    while layer < len(strides):
        stride = strides[layer]
        same = 1
        while layer + same < len(strides) and strides[layer + same] == stride:
            same += 1
        side = math.ceil(input_size / stride)
        grid = (np.arange(side, dtype=np.float64) + offset) / side
        ys, xs = np.meshgrid(grid, grid, indexing="ij")
        cells = np.stack([xs.ravel(), ys.ravel()], axis=1)
        centres.append(np.repeat(cells, same * anchors_per_layer, axis=0))
        layer += same
    return np.concatenate(centres).astype(np.float32)


def decode_blazeface(raw: np.ndarray, anchors: np.ndarray, input_size: int = 128) -> tuple[np.ndarray, np.ndarray]:
    """Native :func:`decode_blazeface_reference` (inputs cast to float32): raw regressors ``(A, 4 + 2K)``, anchor
    centres ``(A, 2)`` -> (boxes ``(A, 4)`` xyxy, keypoints ``(A, K, 2)``), float32, in input pixels."""
    return _C.decode_blazeface(_f32(raw), _f32(anchors), int(input_size))


def blazeface_candidates(
    raw: np.ndarray, logits: np.ndarray, anchors: np.ndarray, input_size: int = 128, score_threshold: float = 0.5
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Native :func:`blazeface_candidates_reference`: the decoded rows whose score passes the threshold."""
    return _C.blazeface_candidates(
        _f32(raw), _f32(logits), _f32(anchors), int(input_size), float(score_threshold), SCORE_CLIP
    )


def weighted_nms(
    boxes: np.ndarray, scores: np.ndarray, keypoints: np.ndarray, iou_threshold: float = 0.3
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Native :func:`weighted_nms_reference` (inputs cast to float32): boxes ``(N, 4)``, scores ``(N,)``,
    keypoints ``(N, K, 2)`` -> the merged ``(boxes, scores, keypoints)`` float32, best first."""
    boxes, keypoints = _f32(boxes).reshape(-1, 4), _f32(keypoints)
    return _C.weighted_nms(boxes, _f32(scores).reshape(-1), keypoints, float(iou_threshold))


def _f32(array: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(array, dtype=np.float32)


def decode_blazeface_reference(
    raw: np.ndarray, anchors: np.ndarray, input_size: int = 128
) -> tuple[np.ndarray, np.ndarray]:
    """Raw regressor rows ``(A, 4 + 2K)`` -> (boxes ``(A, 4)`` xyxy, keypoints ``(A, K, 2)``), float32, in pixels
    of the ``input_size`` network input.

    A row is ``[dx, dy, w, h, kx0, ky0, ...]`` in input pixels; centre and keypoints are offsets from the anchor
    centre ``anchors`` (``(A, 2)`` in ``[0, 1]``).
    """
    raw = np.asarray(raw, dtype=np.float64)
    if raw.ndim != 2 or raw.shape[1] < 4 or raw.shape[1] % 2 or raw.shape[0] != anchors.shape[0]:
        raise ValueError(f"raw regressors must be (A, 4 + 2K) with A={anchors.shape[0]}, got {raw.shape}")
    centre = anchors.astype(np.float64) * input_size
    cx, cy = raw[:, 0] + centre[:, 0], raw[:, 1] + centre[:, 1]
    half_w, half_h = raw[:, 2] / 2, raw[:, 3] / 2
    boxes = np.stack([cx - half_w, cy - half_h, cx + half_w, cy + half_h], axis=1)
    keypoints = raw[:, 4:].reshape(raw.shape[0], (raw.shape[1] - 4) // 2, 2) + centre[:, None, :]
    return boxes.astype(np.float32), keypoints.astype(np.float32)


def blazeface_candidates_reference(
    raw: np.ndarray, logits: np.ndarray, anchors: np.ndarray, input_size: int = 128, score_threshold: float = 0.5
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One input's raw outputs -> (boxes ``(K, 4)``, scores ``(K,)``, keypoints ``(K, k, 2)``) float32 of the rows
    whose score ``sigmoid(clip(logit, -100, 100))`` is ``>= score_threshold``, in input order and input pixels.

    ``raw`` ``(A, 4 + 2k)`` as in :func:`decode_blazeface_reference`, ``logits`` ``(A, 1)`` or ``(A,)``.
    """
    logits = np.asarray(logits, dtype=np.float64).reshape(-1)
    scores = 1.0 / (1.0 + np.exp(-np.clip(logits, -SCORE_CLIP, SCORE_CLIP)))
    keep = scores >= score_threshold
    boxes, keypoints = decode_blazeface_reference(np.asarray(raw)[keep], np.asarray(anchors)[keep], input_size)
    return boxes, scores[keep].astype(np.float32), keypoints


def box_iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one xyxy ``box`` with each row of ``boxes`` ``(N, 4)``; 0 where the union is empty."""
    box, boxes = np.asarray(box, dtype=np.float64), np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    inter_w = np.clip(np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0]), 0, None)
    inter_h = np.clip(np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1]), 0, None)
    inter = inter_w * inter_h
    area = max(box[2] - box[0], 0) * max(box[3] - box[1], 0)
    areas = np.clip(boxes[:, 2] - boxes[:, 0], 0, None) * np.clip(boxes[:, 3] - boxes[:, 1], 0, None)
    union = area + areas - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def weighted_nms_reference(
    boxes: np.ndarray, scores: np.ndarray, keypoints: np.ndarray, iou_threshold: float = 0.3
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """MediaPipe's weighted non-maximum suppression.

    Repeatedly take the best remaining detection; every remaining detection with IoU ``> iou_threshold`` with
    it (itself included) joins its cluster and is removed. The cluster becomes one detection: box and keypoints
    are the score-weighted means of the members', the score is the best member's. Ties in score keep input order.
    Returns ``(boxes (M, 4), scores (M,), keypoints (M, K, 2))`` float32, best first.
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    keypoints = np.asarray(keypoints, dtype=np.float64)
    if keypoints.ndim != 3 or keypoints.shape[0] != boxes.shape[0] or scores.shape[0] != boxes.shape[0]:
        raise ValueError(
            f"need boxes (N, 4), scores (N,), keypoints (N, K, 2); got {boxes.shape}, {scores.shape}, {keypoints.shape}"
        )
    remaining = np.argsort(-scores, kind="stable")
    out_boxes, out_scores, out_kps = [], [], []
    while remaining.size:
        top = remaining[0]
        member = box_iou(boxes[top], boxes[remaining]) > iou_threshold
        member[0] = True  # a degenerate (zero-area) box still suppresses itself
        cluster = remaining[member]
        weights = scores[cluster] / scores[cluster].sum() if scores[cluster].sum() > 0 else None
        out_boxes.append(np.average(boxes[cluster], axis=0, weights=weights))
        out_kps.append(np.average(keypoints[cluster], axis=0, weights=weights))
        out_scores.append(scores[top])
        remaining = remaining[~member]
    count = len(out_scores)
    return (
        np.asarray(out_boxes, dtype=np.float32).reshape(count, 4),
        np.asarray(out_scores, dtype=np.float32),
        np.asarray(out_kps, dtype=np.float32).reshape(count, keypoints.shape[1], 2),
    )


@dataclass(frozen=True)
class Letterbox:
    """How an image was fitted into a square network input: ``input = image * scale + pad`` per axis."""

    scale_x: float
    scale_y: float
    pad_x: float
    pad_y: float
    size: int
    resized: tuple[int, int]  # (height, width) of the image inside the square

    def to_image(self, points: np.ndarray) -> np.ndarray:
        """Network-input pixel coordinates ``(..., 2)`` (x, y) -> image pixel coordinates."""
        points = np.asarray(points, dtype=np.float64)
        return np.stack(
            [(points[..., 0] - self.pad_x) / self.scale_x, (points[..., 1] - self.pad_y) / self.scale_y], -1
        )

    def to_input(self, points: np.ndarray) -> np.ndarray:
        """Image pixel coordinates ``(..., 2)`` (x, y) -> network-input pixel coordinates."""
        points = np.asarray(points, dtype=np.float64)
        return np.stack([points[..., 0] * self.scale_x + self.pad_x, points[..., 1] * self.scale_y + self.pad_y], -1)


def letterbox_params(height: int, width: int, size: int) -> Letterbox:
    """Fit ``height x width`` into ``size x size`` keeping the aspect ratio, centred (pads split evenly, the odd
    pixel at the bottom/right)."""
    if height < 1 or width < 1:
        raise ValueError(f"image must be at least 1x1, got {height}x{width}")
    scale = size / max(height, width)
    new_h, new_w = max(1, min(size, round(height * scale))), max(1, min(size, round(width * scale)))
    return Letterbox(new_w / width, new_h / height, (size - new_w) // 2, (size - new_h) // 2, size, (new_h, new_w))


def letterbox(image_uint8_hwc: np.ndarray, size: int, *, bgr: bool = False) -> tuple[np.ndarray, Letterbox]:
    """An RGB (or, with ``bgr``, BGR) uint8 HWC image -> ``(size, size, 3)`` float32 **RGB** HWC in ``[-1, 1]``,
    letterboxed on black (-1).

    Downscaling uses area averaging, upscaling bilinear (OpenCV). Channels are resized independently, so a BGR
    image is resized as it is and swapped after: the same result as resizing a reversed view, ~2.4x faster.
    """
    image = np.asarray(image_uint8_hwc)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected an RGB/BGR uint8 HWC image, got shape {image.shape} dtype {image.dtype}")
    params = letterbox_params(image.shape[0], image.shape[1], size)
    resized = _resize(image, *params.resized)
    return _on_canvas(resized[:, :, ::-1] if bgr else resized, size, int(params.pad_x), int(params.pad_y)), params


def _resize(image: np.ndarray, new_h: int, new_w: int) -> np.ndarray:
    """``image`` resized to ``new_h x new_w``: area averaging when shrinking, bilinear otherwise (OpenCV)."""
    import cv2

    shrinking = new_h < image.shape[0] or new_w < image.shape[1]
    return cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)


def _on_canvas(pixels: np.ndarray, size: int, pad_x: int, pad_y: int) -> np.ndarray:
    """uint8 HWC ``pixels`` at (``pad_x``, ``pad_y``) of a black ``size x size`` canvas, as float32 in [-1, 1]."""
    canvas = np.zeros((size, size, 3), dtype=np.uint8)
    canvas[pad_y : pad_y + pixels.shape[0], pad_x : pad_x + pixels.shape[1]] = pixels
    return canvas.astype(np.float32) / 127.5 - 1.0


def _starts(length: int, tile: int) -> list[int]:
    """Tile origins along one axis: 50% overlap, the last tile flush with the end."""
    if tile >= length:
        return [0]
    count = math.ceil((length - tile) / (tile / 2)) + 1
    return sorted({round(v) for v in np.linspace(0, length - tile, count)})


def tile_grid(
    height: int, width: int, scales: tuple[float, ...] = (1.0, 0.5, 0.35), min_side: int = 48
) -> list[tuple[int, int, int, int]]:
    """Square tiles ``(x0, y0, x1, y1)`` whose side is ``scale`` x the image's long side, 50% overlap, clipped
    to the image; the whole image comes first. Tiles smaller than ``min_side`` pixels are skipped."""
    tiles = [(0, 0, width, height)]
    for scale in scales:
        side = round(scale * max(height, width))
        if side >= max(height, width) or side < min_side:
            continue
        for y0 in _starts(height, side):
            for x0 in _starts(width, side):
                tile = (x0, y0, min(x0 + side, width), min(y0 + side, height))
                if tile not in tiles:
                    tiles.append(tile)
    return tiles


@dataclass(frozen=True)
class _TilePlan:
    """Where each tile's network input comes from: the whole-image resizes (one per distinct tile side, ascending)
    and per tile its crop of one of them, its place on the canvas, its letterbox and its bounds."""

    resizes: list[tuple[int, int]]  # (height, width)
    crops: list[tuple[int, int, int, int, int, int, int]]  # (resize, rx0, ry0, tw, th, pad_x, pad_y)
    placed: list[tuple[Letterbox, tuple[float, float, float, float]]]


def _tile_plan(height: int, width: int, tiles: Sequence[Sequence[int]], size: int) -> _TilePlan:
    """The geometry of :func:`tile_inputs` (and :func:`tile_batch`): the one place it is computed."""
    tiles = [tuple(int(v) for v in tile) for tile in tiles]
    for i, tile in enumerate(tiles):
        if len(tile) != 4 or not (0 <= tile[0] < tile[2] <= width and 0 <= tile[1] < tile[3] <= height):
            raise ValueError(
                f"tiles[{i}]: expected (x0, y0, x1, y1) with 0 <= x0 < x1 <= {width} and 0 <= y0 < y1 <= {height}, "
                f"got {tile}"
            )
    sides = sorted({max(x1 - x0, y1 - y0) for x0, y0, x1, y1 in tiles})
    # For the whole image the factor is letterbox_params' scale, so the same resize.
    resizes = [(max(1, round(height * size / side)), max(1, round(width * size / side))) for side in sides]
    crops, placed = [], []
    for x0, y0, x1, y1 in tiles:
        index = sides.index(max(x1 - x0, y1 - y0))
        scaled_h, scaled_w = resizes[index]
        fx, fy = scaled_w / width, scaled_h / height
        rx0, ry0 = min(round(x0 * fx), scaled_w - 1), min(round(y0 * fy), scaled_h - 1)
        tw = max(1, min(size, scaled_w - rx0, round((x1 - x0) * fx)))
        th = max(1, min(size, scaled_h - ry0, round((y1 - y0) * fy)))
        pad_x, pad_y = (size - tw) // 2, (size - th) // 2
        crops.append((index, rx0, ry0, tw, th, pad_x, pad_y))
        box = Letterbox(fx, fy, pad_x - rx0, pad_y - ry0, size, (th, tw))
        placed.append((box, (rx0 / fx, ry0 / fy, (rx0 + tw) / fx, (ry0 + th) / fy)))
    return _TilePlan(resizes, crops, placed)


def tile_inputs(
    image_bgr_uint8_hwc: np.ndarray,
    tiles: list[tuple[int, int, int, int]],
    size: int,
    map_fn: Callable[..., Iterable[Any]] = map,
) -> list[tuple[np.ndarray, Letterbox, tuple[float, float, float, float]]]:
    """Network inputs for ``tiles`` of a BGR image: ``(input, letterbox, bounds)`` per tile, the input as
    :func:`letterbox` makes it (float32 RGB HWC in [-1, 1]), the letterbox mapping input pixels straight to
    *image* pixels, and the tile's bounds in image pixels.

    All tiles of one side length are cut from a single resize of the whole image (area averaging; ``map_fn``
    may run the resizes in parallel) instead of resizing every tile: 3 resizes instead of 22 on a 1080p photo.
    A tile then starts on the resized grid, within half a resized pixel of its own origin, which ``bounds``
    reports. A tile covering the whole image is exactly ``letterbox(image)``.
    """
    plan = _tile_plan(*image_bgr_uint8_hwc.shape[:2], tiles, size)
    resized = list(map_fn(lambda shape: _resize(image_bgr_uint8_hwc, *shape), plan.resizes))
    out = []
    for (index, rx0, ry0, tw, th, pad_x, pad_y), (box, bounds) in zip(plan.crops, plan.placed, strict=True):
        tensor = _on_canvas(resized[index][ry0 : ry0 + th, rx0 : rx0 + tw, ::-1], size, pad_x, pad_y)
        out.append((tensor, box, bounds))
    return out


def tile_batch_reference(
    image_bgr_uint8_hwc: np.ndarray,
    tiles: list[tuple[int, int, int, int]],
    size: int,
    map_fn: Callable[..., Iterable[Any]] = map,
) -> tuple[np.ndarray, list[tuple[Letterbox, tuple[float, float, float, float]]]]:
    """:func:`tile_inputs` as one batch: the ``(N, 3, size, size)`` float32 RGB NCHW inputs (OpenCV resizes,
    rounded to uint8 before normalising) and each tile's ``(letterbox, bounds)``. The reference of
    :func:`tile_batch`."""
    prepared = tile_inputs(image_bgr_uint8_hwc, tiles, size, map_fn)
    batch = np.stack([p[0] for p in prepared]).transpose(0, 3, 1, 2) if prepared else np.empty((0, 3, size, size))
    return np.ascontiguousarray(batch, dtype=np.float32), [(p[1], p[2]) for p in prepared]


def tile_batch(
    image_bgr_uint8_hwc: np.ndarray, tiles: list[tuple[int, int, int, int]], size: int, num_threads: int | None = None
) -> tuple[np.ndarray, list[tuple[Letterbox, tuple[float, float, float, float]]]]:
    """Native :func:`tile_batch_reference`: the ``(N, 3, size, size)`` float32 RGB NCHW batch of ``tiles`` of a
    BGR uint8 HWC image, in [-1, 1] with -1 padding, and each tile's ``(letterbox, bounds)`` (the same geometry).

    One resize per distinct tile side (area averaging when shrinking, as OpenCV's INTER_AREA; bilinear when
    enlarging, as INTER_LINEAR), cropped, swapped to RGB and normalised straight into the batch, on
    ``num_threads`` threads (default: up to 4, as many as there are cores) without the GIL. The resized values
    stay float instead of being rounded to uint8 as OpenCV's are: they differ from the reference by at most
    about one uint8 level (1 / 127.5). A build without the native op falls back to the reference.
    """
    if not hasattr(_C, "prepare_tiles"):
        logger.debug("faceid._C has no prepare_tiles (an older build): tiles prepared with OpenCV")
        return tile_batch_reference(image_bgr_uint8_hwc, tiles, size)
    image = np.ascontiguousarray(image_bgr_uint8_hwc)
    if image.ndim != 3:
        raise ValueError(f"image: expected shape (H, W, 3), got {image.shape}")
    plan = _tile_plan(image.shape[0], image.shape[1], tiles, size)
    threads = min(4, os.cpu_count() or 1) if num_threads is None else int(num_threads)
    resizes = np.asarray(plan.resizes, dtype=np.int64).reshape(-1, 2)
    crops = np.asarray(plan.crops, dtype=np.int64).reshape(-1, 7)
    return _C.prepare_tiles(image, resizes, crops, int(size), threads), plan.placed
