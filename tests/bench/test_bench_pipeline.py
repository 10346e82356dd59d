"""`faceid bench pipeline`'s peer (LiteRT + numpy decoding/NMS + ONNX Runtime) against faceid's own code, and its
fairness check."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from faceid.bench.peer import (
    PeerDetector,
    PeerDetectorConfig,
    mediapipe_anchors,
    peer_candidates,
    peer_weighted_nms,
)
from faceid.bench.pipeline import check_same_embeddings, check_same_faces, group_photo
from faceid.errors import FaceidError
from faceid.ops.detect import (
    blazeface_candidates,
    letterbox_params,
    ssd_anchors,
    tile_grid,
    weighted_nms,
    weighted_nms_reference,
)

REPO = Path(__file__).resolve().parents[2]
SHORT = "blazeface/face_detection_short_range.tflite"


@pytest.fixture(scope="module")
def photo(shared_data: Path) -> np.ndarray:
    return group_photo(shared_data)


@pytest.fixture(scope="module")
def tiles(photo: np.ndarray) -> tuple[tuple[int, int, int, int], ...]:
    return tuple(tile_grid(*photo.shape[:2]))


@pytest.fixture(scope="module")
def litert_outputs(shared_model_file, photo: np.ndarray, tiles) -> tuple[np.ndarray, np.ndarray, PeerDetector]:
    """Real LiteRT outputs of the group photo's 22 tiles (one batched invoke), at thresholds that keep plenty."""
    config = PeerDetectorConfig(tiles, 0.5, 0.5, 0.3, *photo.shape[:2])
    detector = PeerDetector(shared_model_file(SHORT), config, threads=1)
    regressors, logits = detector.infer(detector.prepare(photo))
    return regressors, logits, detector


def test_peer_anchors_are_faceids_ssd_anchors() -> None:
    anchors = mediapipe_anchors()
    assert anchors.shape == (896, 2)
    np.testing.assert_allclose(anchors, ssd_anchors(128, (8, 16, 16, 16), 2), atol=1e-7)


def test_batched_invoke_is_split_back_into_tiles(litert_outputs, photo: np.ndarray) -> None:
    """The batched output (each head's rows over the whole batch, then the next head) equals one invoke per tile."""
    regressors, logits, detector = litert_outputs
    batch = detector.prepare(photo)
    single = PeerDetector(
        detector.tflite, PeerDetectorConfig(detector.config.tiles[:1], 0.5, 0.5, 0.3, 1, 1), threads=1
    )
    for i in (0, 7, len(batch) - 1):
        one_reg, one_logit = single.infer(batch[i : i + 1])
        np.testing.assert_allclose(regressors[i], one_reg[0], atol=1e-3)
        np.testing.assert_allclose(logits[i], one_logit[0], atol=1e-3)


def test_peer_decoding_matches_faceid_on_real_tflite_outputs(litert_outputs, tiles) -> None:
    """Per tile, the peer's numpy decoding equals faceid's native decoding mapped back by its Letterbox."""
    regressors, logits, _ = litert_outputs
    anchors = ssd_anchors(128, (8, 16, 16, 16), 2)
    found = 0
    for i, (x0, y0, x1, y1) in enumerate(tiles):
        width, height = x1 - x0, y1 - y0  # the tile alone, as a whole image: no tile-edge rule
        alone = PeerDetectorConfig(((0, 0, width, height),), 0.6, 0.6, 0.3, height, width)
        boxes, scores, keypoints = peer_candidates(regressors[i : i + 1], logits[i : i + 1], anchors, alone)
        ref_boxes, ref_scores, ref_keypoints = blazeface_candidates(regressors[i], logits[i], anchors, 128, 0.6)
        fit = letterbox_params(height, width, 128)
        np.testing.assert_allclose(scores, ref_scores, rtol=1e-5)
        np.testing.assert_allclose(boxes.reshape(-1, 2, 2), fit.to_image(ref_boxes.reshape(-1, 2, 2)), atol=1e-3)
        np.testing.assert_allclose(keypoints, fit.to_image(ref_keypoints), atol=1e-3)
        found += len(scores)
    assert found > 20  # the photo's 6 faces, seen from several tiles


def test_peer_weighted_nms_matches_faceid_on_real_candidates(litert_outputs) -> None:
    regressors, logits, detector = litert_outputs
    boxes, scores, keypoints = peer_candidates(regressors, logits, detector.anchors, detector.config)
    assert len(scores) > 20
    ours = peer_weighted_nms(boxes, scores, keypoints, 0.3)
    for reference in (weighted_nms(boxes, scores, keypoints, 0.3), weighted_nms_reference(boxes, scores, keypoints)):
        assert len(ours[1]) == len(reference[1]) == 6
        for mine, theirs in zip(ours, reference, strict=True):
            np.testing.assert_allclose(mine, theirs, rtol=1e-4, atol=1e-2)


def _faceid_rule_candidates(outputs, tiles, size: tuple[int, int], thresholds: tuple[float, float]) -> np.ndarray:
    """Boxes that FaceDetector's rule keeps, from faceid's decoding: the whole image at score ``thresholds[0]``,
    a tile at ``thresholds[1]`` and nothing within 2% of the tile's side from an inner tile edge."""
    (regressors, logits), (height, width) = outputs, size
    anchors = ssd_anchors(128, (8, 16, 16, 16), 2)
    kept = []
    for i, (x0, y0, x1, y1) in enumerate(tiles):
        boxes, _, _ = blazeface_candidates(regressors[i], logits[i], anchors, 128, thresholds[min(i, 1)])
        boxes = letterbox_params(y1 - y0, x1 - x0, 128).to_image(boxes.reshape(-1, 2, 2)).reshape(-1, 4)
        boxes += [x0, y0, x0, y0]
        margin = 0.02 * max(x1 - x0, y1 - y0)
        inside = np.ones(len(boxes), dtype=bool)
        for axis, low, high, limit in ((0, x0, x1, width), (1, y0, y1, height)):
            if low > 0:
                inside &= boxes[:, axis] >= low + margin
            if high < limit:
                inside &= boxes[:, axis + 2] <= high - margin
        kept.append(boxes[inside])
    return np.concatenate(kept)


@pytest.mark.parametrize(("thresholds", "dropped"), [((0.75, 0.85), 0), ((0.5, 0.5), 30)])
def test_peer_thresholds_and_tile_edge_rule_are_faceids(
    litert_outputs, tiles, photo: np.ndarray, thresholds: tuple[float, float], dropped: int
) -> None:
    """At faceid's thresholds (nothing near an inner edge passes them on this photo) and at low ones (where the
    edge rule drops candidates) the peer keeps exactly the candidates FaceDetector's rule keeps."""
    regressors, logits, detector = litert_outputs
    config = PeerDetectorConfig(tiles, *thresholds, 0.3, *photo.shape[:2])
    boxes, scores, _ = peer_candidates(regressors, logits, detector.anchors, config)
    expected = _faceid_rule_candidates((regressors, logits), tiles, photo.shape[:2], thresholds)
    assert len(boxes) >= 6 and len(expected) == len(boxes)
    key = lambda b: np.lexsort(np.round(b, 1).T)  # noqa: E731
    np.testing.assert_allclose(boxes[key(boxes)], expected[key(expected)], atol=1e-2)
    probabilities = 1 / (1 + np.exp(-logits.reshape(len(tiles), -1).astype(np.float64)))
    passing = int((probabilities[0] >= thresholds[0]).sum() + (probabilities[1:] >= thresholds[1]).sum())
    assert passing - len(scores) >= dropped  # what the edge rule dropped


def test_fairness_check_fails_when_the_peers_boxes_are_shifted(litert_outputs, photo: np.ndarray) -> None:
    _, _, detector = litert_outputs
    boxes, _, _ = detector.detect(photo)
    assert len(boxes) == 6
    order, min_iou = check_same_faces(boxes[::-1], boxes)
    assert order.tolist() == [5, 4, 3, 2, 1, 0] and min_iou == pytest.approx(1.0)
    shifted = boxes.copy()
    shifted[3, [0, 2]] += 0.1 * (boxes[3, 2] - boxes[3, 0])  # IoU 0.9 / 1.1 = 0.82
    with pytest.raises(FaceidError, match=r"no peer box of its own with IoU >= 0\.9"):
        check_same_faces(boxes, shifted)
    with pytest.raises(FaceidError, match="faceid found 6 faces, the peer 5"):
        check_same_faces(boxes, boxes[:5])


def test_fairness_check_fails_when_embeddings_differ() -> None:
    rng = np.random.default_rng(0)
    ours = rng.normal(size=(4, 128))
    assert check_same_embeddings(ours, ours * 3 + 1e-4 * rng.normal(size=ours.shape)) > 0.999
    other = ours.copy()
    other[2] = rng.normal(size=128)
    with pytest.raises(FaceidError, match="embeddings of face 2 differ"):
        check_same_embeddings(ours, other)


def test_bench_pipeline_without_litert_says_which_extra(tmp_path: Path) -> None:
    code = "import sys; sys.modules['ai_edge_litert'] = None; from faceid.cli.main import main; sys.exit(main())"
    result = subprocess.run(
        [sys.executable, "-c", code, "bench", "pipeline", "--json", str(tmp_path / "out.json")],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        'faceid: error: the peer pipeline (LiteRT + ONNX Runtime) needs ai-edge-litert: pip install "faceid[bench]"'
    ]
    assert not (tmp_path / "out.json").exists()


@pytest.mark.slow
def test_bench_pipeline_json_against_the_peer(shared_data: Path, shared_models: Path, tmp_path: Path) -> None:
    env = {**os.environ, "FACEID_HOME": str(tmp_path / "home"), "FACEID_MODEL_SOURCE": str(shared_models)}
    out = tmp_path / "pipeline.json"
    result = subprocess.run(
        [sys.executable, "-m", "faceid", "bench", "pipeline", "--repeats", "1", "--shared", str(shared_data),
         "--json", str(out)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())
    assert report["peer"] == "litert+onnxruntime" and report["faces"] == 6
    assert report["recognizer"] == "mobileface_v1.0_infer" and report["threads"] == 2
    assert report["insightface_style_ms"] == report["peer_ms"]
    stages = {"detect", "align", "embed", "search"}
    assert set(report["faceid_ms"]) == set(report["peer_ms"]) == stages and set(report["ratios"]) == stages | {"total"}
    total = sum(report["faceid_ms"].values()) / sum(report["peer_ms"].values())
    assert report["ratios"]["total"] == pytest.approx(total)
    assert report["ratios"]["detect"] == pytest.approx(report["faceid_ms"]["detect"] / report["peer_ms"]["detect"])
    fair = report["fairness"]
    assert fair["faces"] == 6 and fair["min_iou"] >= 0.9 and fair["min_cosine"] >= 0.99
    assert [row["threads"] for row in report["detection_alone"]["rows"]] == [1, 2]
    assert report["detection_alone"]["tiles"] == 22
    assert all(row["litert_infer_ms"] > 0 for row in report["detection_alone"]["rows"])
    floor = report["mobilefacenet"]
    assert floor["gflop"] == 0.44 and floor["peak_gflops_per_thread"] > 1
    for row in floor["rows"]:
        assert row["floor_ms"] == pytest.approx(
            floor["gflop"] / (floor["peak_gflops_per_thread"] * row["threads"]) * 1e3
        )
    assert {row["precision"] for row in floor["rows"]} >= {"fp32"}
    assert "| stage | faceid ms | peer (LiteRT + ONNX Runtime) ms | faceid / peer |" in result.stdout
