"""Native BlazeFace decoding and weighted NMS (``faceid._C``) against the numpy references in faceid.ops.detect."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from faceid import _C
from faceid.ops.detect import (
    SCORE_CLIP,
    blazeface_candidates,
    blazeface_candidates_reference,
    decode_blazeface,
    decode_blazeface_reference,
    ssd_anchors,
    weighted_nms,
    weighted_nms_reference,
)

SHORT = "blazeface/face_detection_short_range.tflite"
ANCHORS = ssd_anchors()


def _raw(rng: np.random.Generator, count: int, num_keypoints: int = 6) -> np.ndarray:
    raw = rng.normal(0, 8, size=(count, 4 + 2 * num_keypoints))
    raw[:, 2:4] = rng.uniform(-2, 60, size=(count, 2))  # a few negative sizes too
    return raw.astype(np.float32)


def _detections(rng: np.random.Generator, count: int, ties: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    centres = rng.uniform(0, 100, size=(count, 2))
    sizes = rng.uniform(0, 40, size=(count, 2))
    boxes = np.concatenate([centres - sizes / 2, centres + sizes / 2], axis=1)
    if ties:  # repeated scores, duplicated boxes and boxes that touch edge to edge
        scores = rng.choice([0.5, 0.75, 0.9], size=count)
        boxes = np.round(boxes / 10) * 10
    else:
        scores = rng.uniform(0, 1, size=count)
    keypoints = rng.uniform(0, 100, size=(count, 6, 2))
    return boxes.astype(np.float32), scores.astype(np.float32), keypoints.astype(np.float32)


def _assert_same(got: tuple[np.ndarray, ...], expected: tuple[np.ndarray, ...]) -> None:
    assert len(got) == len(expected)
    for g, e in zip(got, expected, strict=True):
        assert g.dtype == np.float32 and g.shape == e.shape, (g.shape, e.shape)
        np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-5)


# ------------------------------------------------------------------------------------------- against numpy
@pytest.mark.parametrize("seed", range(25))
def test_decode_matches_reference(seed: int) -> None:
    rng = np.random.default_rng(seed)
    count = int(rng.integers(0, 900))
    anchors = rng.uniform(0, 1, size=(count, 2)).astype(np.float32)
    raw = _raw(rng, count, num_keypoints=int(rng.integers(0, 8)))
    got = decode_blazeface(raw, anchors, 128)
    expected = decode_blazeface_reference(raw, anchors, 128)
    for g, e in zip(got, expected, strict=True):
        assert g.tobytes() == e.tobytes()  # same float64 arithmetic, so bit-identical


@pytest.mark.parametrize("seed", range(25))
def test_candidates_match_reference(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    raw = _raw(rng, len(ANCHORS))
    logits = rng.normal(0, 3, size=(len(ANCHORS), 1)).astype(np.float32)
    logits[:5, 0] = [-1e4, 1e4, 0.0, np.float32(np.log(3.0)), 150.0]  # clipped, exactly 0.5, exactly 0.75
    for threshold in (0.0, 0.5, 0.75, 1.0):
        got = blazeface_candidates(raw, logits, ANCHORS, 128, threshold)
        _assert_same(got, blazeface_candidates_reference(raw, logits, ANCHORS, 128, threshold))
    flat = blazeface_candidates(raw, logits.reshape(-1), ANCHORS, 128, 0.5)
    _assert_same(flat, blazeface_candidates_reference(raw, logits, ANCHORS, 128, 0.5))


@pytest.mark.parametrize("seed", range(40))
@pytest.mark.parametrize("ties", [False, True])
def test_weighted_nms_matches_reference(seed: int, ties: bool) -> None:
    rng = np.random.default_rng(seed)
    count = int(rng.integers(0, 120))
    boxes, scores, keypoints = _detections(rng, count, ties)
    for threshold in (0.0, 0.3, 0.7, 1.0):
        got = weighted_nms(boxes, scores, keypoints, threshold)
        _assert_same(got, weighted_nms_reference(boxes, scores, keypoints, threshold))


def test_weighted_nms_edge_cases() -> None:
    kps = np.zeros((3, 6, 2), dtype=np.float32)
    cases = {
        "touching": (np.array([[0, 0, 10, 10], [10, 0, 20, 10], [0, 10, 10, 20]]), np.array([0.9, 0.9, 0.9])),
        "identical ties": (np.array([[0, 0, 10, 10]] * 3), np.array([0.8, 0.8, 0.8])),
        "degenerate": (np.array([[5, 5, 5, 5], [5, 5, 5, 5], [0, 0, -1, -1]]), np.array([0.7, 0.9, 0.8])),
        "zero scores": (np.array([[0, 0, 10, 10], [1, 1, 11, 11], [2, 2, 12, 12]]), np.array([0.0, 0.0, 0.0])),
    }
    for name, (box_values, score_values) in cases.items():
        boxes, scores = box_values.astype(np.float32), score_values.astype(np.float32)
        for threshold in (0.0, 0.3):
            got = weighted_nms(boxes, scores, kps, threshold)
            _assert_same(got, weighted_nms_reference(boxes, scores, kps, threshold))
            assert got[1].size, name
    one = weighted_nms(np.array([[1, 2, 3, 4]]), np.array([0.6]), np.ones((1, 6, 2)), 0.3)
    np.testing.assert_array_equal(one[0], [[1, 2, 3, 4]])
    empty = weighted_nms(np.zeros((0, 4)), np.zeros(0), np.zeros((0, 6, 2)), 0.3)
    assert [a.shape for a in empty] == [(0, 4), (0,), (0, 6, 2)]


def test_empty_one_anchor_and_all_below_threshold() -> None:
    rng = np.random.default_rng(0)
    raw = _raw(rng, 1)
    for logit in (-5.0, 5.0):
        logits = np.array([[logit]], dtype=np.float32)
        got = blazeface_candidates(raw, logits, ANCHORS[:1], 128, 0.5)
        _assert_same(got, blazeface_candidates_reference(raw, logits, ANCHORS[:1], 128, 0.5))
        assert got[1].size == (logit > 0)
    low = blazeface_candidates(_raw(rng, 896), np.full((896, 1), -3, np.float32), ANCHORS, 128, 0.5)
    assert [a.shape for a in low] == [(0, 4), (0,), (0, 6, 2)]
    empty = blazeface_candidates(np.zeros((0, 16), np.float32), np.zeros((0, 1), np.float32), ANCHORS[:0], 128, 0.5)
    assert [a.shape for a in empty] == [(0, 4), (0,), (0, 6, 2)]
    assert [a.shape for a in decode_blazeface(np.zeros((0, 16)), np.zeros((0, 2)))] == [(0, 4), (0, 6, 2)]


def test_non_contiguous_inputs() -> None:
    rng = np.random.default_rng(1)
    boxes, scores, keypoints = _detections(rng, 50, ties=False)
    wide = np.zeros((50, 8), dtype=np.float32)
    wide[:, ::2] = boxes
    got = _C.weighted_nms(wide[:, ::2], scores, keypoints, 0.3)
    _assert_same(got, weighted_nms_reference(boxes, scores, keypoints, 0.3))
    raw = _raw(rng, 896)
    got = _C.decode_blazeface(np.asfortranarray(raw), ANCHORS, 128)
    _assert_same(got, decode_blazeface_reference(raw, ANCHORS, 128))


# --------------------------------------------------------------------------------------------- bad arguments
def test_argument_errors() -> None:
    raw, logits = np.zeros((896, 16), np.float32), np.zeros((896, 1), np.float32)
    boxes, scores, kps = np.zeros((3, 4), np.float32), np.zeros(3, np.float32), np.zeros((3, 6, 2), np.float32)
    bad = [
        (lambda: _C.decode_blazeface(raw[:, :5], ANCHORS, 128), r"raw: expected shape \(A, 4 \+ 2K\), got \(896, 5\)"),
        (lambda: _C.decode_blazeface(raw, ANCHORS[:10], 128), r"anchors: expected shape \(896, 2\).*got \(10, 2\)"),
        (lambda: _C.decode_blazeface(raw.astype(np.float64), ANCHORS, 128), "raw: expected dtype float32, got float64"),
        (lambda: _C.decode_blazeface(raw, ANCHORS, 0), "input_size: expected a positive size, got 0"),
        (lambda: _C.blazeface_candidates(raw, logits[:5], ANCHORS, 128, 0.5, SCORE_CLIP), r"logits: expected shape"),
        (lambda: _C.blazeface_candidates(raw, logits, ANCHORS, 128, 1.5, SCORE_CLIP), r"score_threshold.*\[0, 1\]"),
        (lambda: _C.blazeface_candidates(raw, logits, ANCHORS, 128, 0.5, -1.0), "score_clip: expected a positive"),
        (lambda: _C.weighted_nms(boxes[:, :3], scores, kps, 0.3), r"boxes: expected shape \(N, 4\), got \(3, 3\)"),
        (lambda: _C.weighted_nms(boxes, scores[:2], kps, 0.3), r"scores: expected shape \(3,\).*got \(2,\)"),
        (lambda: _C.weighted_nms(boxes, scores, kps[:, :, :1], 0.3), r"keypoints: expected shape \(3, K, 2\)"),
        (lambda: _C.weighted_nms(boxes, scores, kps.astype(np.float16), 0.3), "keypoints: expected dtype float32"),
        (lambda: _C.weighted_nms(boxes, scores, kps, -0.1), r"iou_threshold: expected a value in \[0, 1\]"),
        (lambda: _C.weighted_nms(boxes, scores, kps, float("nan")), "iou_threshold"),
        (lambda: _C.weighted_nms(boxes, np.array([0.5, np.nan, 1], np.float32), kps, 0.3), "scores: expected finite"),
    ]
    for call, message in bad:
        with pytest.raises(ValueError, match=message):
            call()


# ------------------------------------------------------------------------------------------------ real photo
@pytest.fixture(scope="module")
def detector(shared_models: Path, shared_data: Path, shared_model_file, tmp_path_factory: pytest.TempPathFactory):
    from faceid.pipeline.detector import FaceDetector

    shared_model_file(SHORT)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FACEID_HOME", str(tmp_path_factory.mktemp("faceid_home")))
        return FaceDetector(model_source=shared_models)


@pytest.mark.parametrize("name", ["faces/two_people.jpg", "faces/obama_small.jpg", "faces/astronaut.png"])
def test_real_outputs_match_reference(detector, shared_data: Path, name: str) -> None:
    import cv2

    from faceid.ops.detect import letterbox

    image = cv2.imread(str(shared_data / name), cv2.IMREAD_COLOR)
    batch, _ = letterbox(image[:, :, ::-1], detector.input_size)
    regressors, logits = detector.run(batch[None].transpose(0, 3, 1, 2))
    for threshold in (0.5, 0.75):
        got = blazeface_candidates(regressors[0], logits[0], detector.anchors, 128, threshold)
        expected = blazeface_candidates_reference(regressors[0], logits[0], detector.anchors, 128, threshold)
        _assert_same(got, expected)
        assert got[1].size > 0
        _assert_same(weighted_nms(*got, 0.3), weighted_nms_reference(*expected, 0.3))
