"""FaceDetector and its numpy reference ops: anchors, decoding, weighted NMS, letterboxing, tiling, real photos."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from faceid.ops.detect import (
    box_iou,
    decode_blazeface,
    letterbox,
    letterbox_params,
    ssd_anchors,
    tile_grid,
    tile_inputs,
    weighted_nms,
)

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "blazeface"
SHORT = "blazeface/face_detection_short_range.tflite"


# ----------------------------------------------------------------------------------------------- reference ops
def test_anchor_count_and_layout() -> None:
    anchors = ssd_anchors()
    assert anchors.shape == (896, 2) and anchors.dtype == np.float32
    np.testing.assert_allclose(anchors[0], anchors[1])  # 2 anchors per 16x16 cell
    np.testing.assert_allclose(anchors[:2], [[0.5 / 16, 0.5 / 16]] * 2)
    np.testing.assert_allclose(anchors[2], [1.5 / 16, 0.5 / 16])  # x runs fastest
    np.testing.assert_allclose(anchors[32], [0.5 / 16, 1.5 / 16])
    np.testing.assert_allclose(anchors[512:518], [[0.5 / 8, 0.5 / 8]] * 6)  # 6 per 8x8 cell
    np.testing.assert_allclose(anchors[-1], [7.5 / 8, 7.5 / 8])
    assert ssd_anchors(192, (4,), anchors_per_layer=1).shape == (2304, 2)  # full range


def test_decode_hand_made_rows() -> None:
    anchors = np.array([[0.5, 0.25], [0.0, 1.0]], dtype=np.float32)
    raw = np.zeros((2, 16), dtype=np.float32)
    raw[0, :4] = [3, -2, 20, 10]
    raw[0, 4:6] = [-5, 1]
    raw[1, 2:4] = [8, 8]
    boxes, keypoints = decode_blazeface(raw, anchors, 128)
    np.testing.assert_allclose(boxes[0], [64 + 3 - 10, 32 - 2 - 5, 64 + 3 + 10, 32 - 2 + 5])
    np.testing.assert_allclose(boxes[1], [-4, 124, 4, 132])
    assert keypoints.shape == (2, 6, 2)
    np.testing.assert_allclose(keypoints[0, 0], [59, 33])
    np.testing.assert_allclose(keypoints[0, 1:], [[64, 32]] * 5)
    with pytest.raises(ValueError, match=r"\(A, 4 \+ 2K\)"):
        decode_blazeface(raw[:, :5], anchors)


def _naive_weighted_nms(boxes, scores, keypoints, threshold):
    """Straightforward loops, as written in MediaPipe's NonMaxSuppressionCalculator (weighted)."""

    def iou(a, b):
        iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
        ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
        union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - iw * ih
        return iw * ih / union if union > 0 else 0.0

    remaining = sorted(range(len(scores)), key=lambda i: -scores[i])
    out = []
    while remaining:
        top = remaining[0]
        cluster = [i for i in remaining if i == top or iou(boxes[top], boxes[i]) > threshold]
        remaining = [i for i in remaining if i not in cluster]
        total = sum(scores[i] for i in cluster)
        box = sum(scores[i] * boxes[i] for i in cluster) / total
        kps = sum(scores[i] * keypoints[i] for i in cluster) / total
        out.append((box, scores[top], kps))
    return out


def test_weighted_nms_matches_a_naive_loop() -> None:
    rng = np.random.default_rng(7)
    for trial in range(20):
        count = int(rng.integers(0, 40))
        centres = rng.uniform(0, 100, size=(count, 2))
        sizes = rng.uniform(5, 40, size=(count, 2))
        boxes = np.concatenate([centres - sizes / 2, centres + sizes / 2], axis=1)
        scores = rng.permutation(np.linspace(0.5, 1.0, count)) if trial % 2 else rng.uniform(0.5, 1.0, count)
        keypoints = rng.uniform(0, 100, size=(count, 6, 2))
        got_boxes, got_scores, got_kps = weighted_nms(boxes, scores, keypoints, 0.3)
        expected = _naive_weighted_nms(boxes, scores, keypoints, 0.3)
        assert len(got_scores) == len(expected)
        for i, (box, score, kps) in enumerate(expected):
            np.testing.assert_allclose(got_boxes[i], box, rtol=1e-5, atol=1e-4)
            np.testing.assert_allclose(got_scores[i], score, rtol=1e-6)
            np.testing.assert_allclose(got_kps[i], kps, rtol=1e-5, atol=1e-4)


def test_weighted_nms_merges_overlaps_and_keeps_the_best_score() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [50, 50, 60, 60]], dtype=np.float32)
    scores = np.array([0.6, 0.9, 0.8], dtype=np.float32)
    out_boxes, out_scores, out_kps = weighted_nms(boxes, scores, np.zeros((3, 6, 2)), 0.3)
    np.testing.assert_allclose(out_scores, [0.9, 0.8])
    np.testing.assert_allclose(out_boxes[0], [0.6, 0, 10.6, 10], atol=1e-5)  # (0.6*0 + 0.9*1) / 1.5
    assert out_kps.shape == (2, 6, 2)
    empty = weighted_nms(np.zeros((0, 4)), np.zeros(0), np.zeros((0, 6, 2)))
    assert [a.shape for a in empty] == [(0, 4), (0,), (0, 6, 2)]


@pytest.mark.parametrize("shape", [(100, 300), (301, 97), (128, 128), (17, 18), (1000, 999)])
def test_letterbox_round_trip(shape: tuple[int, int]) -> None:
    height, width = shape
    params = letterbox_params(height, width, 128)
    points = np.array([[0, 0], [width, height], [width / 3, height / 2]], dtype=np.float64)
    np.testing.assert_allclose(params.to_image(params.to_input(points)), points, atol=1e-9)
    corners = params.to_input(np.array([[0, 0], [width, height]]))
    assert corners.min() >= 0 and corners.max() <= 128
    assert max(corners[1] - corners[0]) == pytest.approx(128)
    # a bright square lands where the mapping says
    image = np.zeros((height, width, 3), dtype=np.uint8)
    y0, y1, x0, x1 = height // 4, height // 2, width // 4, width // 2
    image[y0:y1, x0:x1] = 255
    tensor, same = letterbox(image, 128)
    assert same == params and tensor.shape == (128, 128, 3) and tensor.dtype == np.float32
    assert tensor.min() >= -1 and tensor.max() <= 1
    centre = params.to_input(np.array([(x0 + x1) / 2, (y0 + y1) / 2]))
    assert tensor[int(centre[1]), int(centre[0]), 0] > 0.9


@pytest.mark.parametrize("shape", [(300, 500), (50, 40), (128, 128)])
def test_letterbox_of_bgr_equals_letterbox_of_the_rgb_view(shape: tuple[int, int]) -> None:
    bgr = np.random.default_rng(shape[0]).integers(0, 256, (*shape, 3), dtype=np.uint8)
    from_bgr, params_bgr = letterbox(bgr, 128, bgr=True)
    from_rgb, params_rgb = letterbox(bgr[:, :, ::-1], 128)
    assert params_bgr == params_rgb
    np.testing.assert_array_equal(from_bgr, from_rgb)


def test_tile_inputs_map_tiles_back_to_image_pixels() -> None:
    height, width = 600, 1000
    image = np.zeros((height, width, 3), dtype=np.uint8)
    image[300:340, 700:740] = (0, 0, 255)  # a red (BGR) square, centre (720, 320)
    tiles = tile_grid(height, width)
    prepared = tile_inputs(image, tiles, 128)
    whole, params = letterbox(image, 128, bgr=True)
    np.testing.assert_array_equal(prepared[0][0], whole)  # the whole-image tile is exactly the letterbox
    assert prepared[0][1] == params and prepared[0][2] == (0.0, 0.0, float(width), float(height))
    seen = 0
    for (x0, y0, x1, y1), (tensor, box, bounds) in zip(tiles, prepared, strict=True):
        assert tensor.shape == (128, 128, 3) and tensor.dtype == np.float32
        step = 1 / box.scale_x  # image pixels per resized pixel: bounds start within half of one
        assert all(abs(a - b) <= step / 2 + 1e-9 for a, b in zip(bounds[:2], (x0, y0), strict=True))
        assert all(abs(a - b) <= step + 1e-9 for a, b in zip(bounds[2:], (x1, y1), strict=True))
        if bounds[0] + 20 <= 720 <= bounds[2] - 20 and bounds[1] + 20 <= 320 <= bounds[3] - 20:
            cx, cy = box.to_input(np.array([720.0, 320.0]))
            assert tensor[int(cy), int(cx), 0] > 0.9 and tensor[int(cy), int(cx), 2] < -0.9  # red, now RGB
            np.testing.assert_allclose(box.to_image(box.to_input(np.array([720.0, 320.0]))), [720, 320])
            seen += 1
    assert seen >= 3  # the whole image and a tile of each scale


def test_tiles_cover_the_image_with_overlap() -> None:
    tiles = tile_grid(600, 1000)
    assert tiles[0] == (0, 0, 1000, 600)
    covered = np.zeros((600, 1000), dtype=int)
    for x0, y0, x1, y1 in tiles:
        assert 0 <= x0 < x1 <= 1000 and 0 <= y0 < y1 <= 600
        covered[y0:y1, x0:x1] += 1
    assert covered.min() >= 2  # the whole image plus at least one tile per scale
    sides = {x1 - x0 for x0, _, x1, _ in tiles[1:]}
    assert sides == {500, 350}
    assert tile_grid(40, 40) == [(0, 0, 40, 40)]  # tiles below the minimum size are skipped


# ------------------------------------------------------------------------------------------------ the detector
@pytest.fixture(scope="module")
def detector(shared_models: Path, shared_data: Path, shared_model_file, tmp_path_factory: pytest.TempPathFactory):
    from faceid.pipeline.detector import FaceDetector

    source = shared_models
    shared_model_file(SHORT)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FACEID_HOME", str(tmp_path_factory.mktemp("faceid_home")))
        return FaceDetector(model_source=source)


def _detect(detector, path: Path, tiling: bool):
    import cv2

    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    detector.tiling = tiling
    try:
        return image, detector.detect(image)
    finally:
        detector.tiling = True


@pytest.mark.parametrize("tiling", [False, True])
@pytest.mark.parametrize(
    ("name", "count"),
    [("faces/no_face.png", 0), ("faces/no_face_landscape.jpg", 0), ("faces/obama_small.jpg", 1),
     ("faces/two_people.jpg", 2)],
)  # fmt: skip
def test_face_counts(detector, shared_data: Path, name: str, count: int, tiling: bool) -> None:
    image, found = _detect(detector, shared_data / name, tiling)
    assert len(found) == count, [(d.score, d.box.tolist()) for d in found]
    for det in found:
        assert det.box.shape == (4,) and det.keypoints.shape == (6, 2) and 0.75 <= det.score <= 1
        assert 0 <= det.box[0] < det.box[2] <= image.shape[1] and 0 <= det.box[1] < det.box[3] <= image.shape[0]


def test_group_photo_needs_tiling(detector, shared_data: Path) -> None:
    _, whole = _detect(detector, shared_data / "gallery_dev/query/obama_and_biden.jpg", tiling=False)
    _, tiled = _detect(detector, shared_data / "gallery_dev/query/obama_and_biden.jpg", tiling=True)
    assert len(whole) < 2 <= len(tiled)
    biden, obama = np.array([753, 441, 947, 635]), np.array([1144, 406, 1337, 600])  # checked by eye
    for face in (biden, obama):
        assert max(box_iou(face, np.stack([d.box for d in tiled]))) > 0.7


def test_keypoint_order(detector, shared_data: Path) -> None:
    for name in ("faces/obama_small.jpg", "faces/two_people.jpg", "gallery_dev/train/obama/obama.jpg"):
        _, found = _detect(detector, shared_data / name, tiling=False)
        for det in found:
            right_eye, left_eye, nose, mouth, right_ear, left_ear = det.keypoints
            assert right_eye[0] < nose[0] < left_eye[0]  # the subject's right eye is on the image's left
            assert right_ear[0] < right_eye[0] and left_eye[0] < left_ear[0]
            assert max(right_eye[1], left_eye[1]) < nose[1] < mouth[1]
            x0, y0, x1, y1 = det.box
            assert (x0 <= nose[0] <= x1) and (y0 <= nose[1] <= y1)


def test_agrees_with_mediapipe(detector, shared_data: Path) -> None:
    """MediaPipe's own solution (fixture): same confident faces; boxes close (its resize differs from ours)."""
    meta = json.loads((FIXTURES / "short_range_expected.json").read_text())
    for name, theirs in zip(meta["images"], meta["mediapipe_solution"], strict=True):
        _, ours = _detect(detector, shared_data / name, tiling=False)
        for face in (f for f in theirs if f["score"] >= 0.8):
            ious = box_iou(np.array(face["box"]), np.stack([d.box for d in ours]).reshape(-1, 4))
            assert ious.size and ious.max() >= 0.75, (name, face)
            assert abs(ours[int(ious.argmax())].score - face["score"]) < 0.05, name


@pytest.mark.parametrize(
    "name", ["faces/two_people.jpg", "gallery_dev/query/obama_and_biden.jpg", "faces/obama_small.jpg"]
)
def test_native_tile_prep_finds_what_the_reference_prep_finds(detector, shared_data: Path, name: str) -> None:
    """The native tile batch (float resizes) against the OpenCV one (uint8 resizes): the same faces."""
    _, native = _detect(detector, shared_data / name, tiling=True)
    detector.tile_prep = "reference"
    try:
        _, reference = _detect(detector, shared_data / name, tiling=True)
    finally:
        detector.tile_prep = "native"
    assert len(native) == len(reference) > 0
    for face in reference:
        ious = box_iou(face.box, np.stack([d.box for d in native]))
        match = native[int(ious.argmax())]
        assert ious.max() >= 0.99 and abs(match.score - face.score) < 0.01, (face, match)


def test_rejects_bad_images(detector) -> None:
    with pytest.raises(ValueError, match="BGR uint8 HWC"):
        detector.detect(np.zeros((10, 10), dtype=np.uint8))
    with pytest.raises(ValueError, match="BGR uint8 HWC"):
        detector.detect(np.zeros((10, 10, 3), dtype=np.float32))


def test_inference_backend_equals_the_eager_network(detector) -> None:
    batch = np.random.default_rng(3).uniform(-1, 1, size=(3, 3, 128, 128)).astype(np.float32)
    import paddle

    with paddle.no_grad():
        eager = [t.numpy() for t in detector.net(paddle.to_tensor(batch))]
    fast = detector.run(batch)
    for a, b in zip(fast, eager, strict=False):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4 * max(1.0, float(np.abs(b).max())))
