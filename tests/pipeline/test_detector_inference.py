"""FaceDetector's Paddle Inference engine: the native loop against the eager (dygraph) reference and the TFLite
fixtures, bf16 against fp32 on real photos, the drawn-face probe that gates bf16, and the fp32 fallback."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import numpy as np
import pytest

from faceid.ops.detect import box_iou, letterbox, letterbox_params, weighted_nms

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "blazeface"
SHORT = "blazeface/face_detection_short_range.tflite"
TILED = ("two_people.jpg", "obama_and_biden.jpg", "kit_with_rose.jpg")
BF16_IOU, BF16_SCORE = 0.9, 0.02  # what bf16 detections must keep: same faces, IoU, score difference


@pytest.fixture(scope="module")
def make(shared_models: Path, shared_model_file, tmp_path_factory: pytest.TempPathFactory):
    """``make(**options)``: a short-range FaceDetector, weights converted into a private FACEID_HOME."""
    from faceid.pipeline.detector import FaceDetector

    shared_model_file(SHORT)
    home = tmp_path_factory.mktemp("faceid_home")

    def build(**options):
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("FACEID_HOME", str(home))
            return FaceDetector(model_source=shared_models, **options)

    return build


@pytest.fixture(scope="module")
def fp32(make):
    return make()


@pytest.fixture(scope="module")
def dygraph(make):
    return make(backend="dygraph")


@pytest.fixture(scope="module")
def fixture_meta() -> dict:
    return json.loads((FIXTURES / "short_range_expected.json").read_text())


def _detect(detector, image: np.ndarray, tiling: bool):
    detector.tiling = tiling
    try:
        return detector.detect(image)
    finally:
        detector.tiling = True


def _photos(shared_data: Path, names: list[str]) -> list[np.ndarray]:
    import cv2

    return [cv2.imread(str(shared_data / name), cv2.IMREAD_COLOR) for name in names]


def test_native_engine_matches_dygraph_and_tflite(
    fp32, dygraph, fixture_meta: dict, shared_data: Path, require_native_loop
) -> None:
    """The TFLite-fixture inputs through the native loop: equal to the eager net, and to the original TFLite
    outputs within the tolerances the converted net is held to (tests/zoo/test_blazeface.py)."""
    assert fp32.engine == "native" and fp32.precision == "fp32"
    inputs = np.stack([letterbox(image[:, :, ::-1], 128)[0] for image in _photos(shared_data, fixture_meta["images"])])
    shas = [hashlib.sha256(np.ascontiguousarray(x, dtype=np.float32).tobytes()).hexdigest() for x in inputs]
    assert shas == fixture_meta["input_sha256"], "letterboxing changed since the fixtures were made"
    batch = np.ascontiguousarray(inputs.transpose(0, 3, 1, 2))
    regressors, logits = fp32.run(batch)
    eager_regressors, eager_logits = dygraph.run(batch)
    assert regressors.shape == (len(batch), 896, 16) and logits.shape == (len(batch), 896, 1)
    np.testing.assert_allclose(regressors, eager_regressors, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(logits, eager_logits, rtol=1e-4, atol=1e-3)
    with np.load(FIXTURES / "short_range_tflite_outputs.npz", allow_pickle=False) as ref:
        np.testing.assert_allclose(logits[..., 0], ref["classificators"], rtol=1e-3, atol=2e-3)
        top = ref["top_index"].astype(np.int64)
        got_top = np.take_along_axis(regressors, top[..., None], axis=1)
        assert np.abs(got_top - ref["top_regressors"]).max() < 1e-3


@pytest.mark.slow
def test_native_detections_equal_dygraph(fp32, dygraph, fixture_meta: dict, shared_data: Path) -> None:
    """Whole-image detections of every fixture photo, tiled ones of the group photos (eager tiles are slow)."""
    for name, image in zip(fixture_meta["images"], _photos(shared_data, fixture_meta["images"]), strict=True):
        for tiling in (False, True) if name.endswith(TILED) else (False,):
            ours, reference = _detect(fp32, image, tiling), _detect(dygraph, image, tiling)
            assert len(ours) == len(reference), (name, tiling)
            for a, b in zip(ours, reference, strict=True):
                np.testing.assert_allclose(a.box, b.box, atol=0.01)
                np.testing.assert_allclose(a.keypoints, b.keypoints, atol=0.01)
                assert a.score == pytest.approx(b.score, abs=1e-5)


def _unmatched(ours, theirs, threshold: float) -> list[str]:
    """Faces clearly above ``threshold`` in ``ours`` that ``theirs`` lacks (IoU, score)."""
    problems = []
    for face in ours:
        if face.score < threshold + BF16_SCORE:
            continue  # may land on either side of the threshold
        ious = box_iou(face.box, np.stack([f.box for f in theirs]).reshape(-1, 4))
        if not ious.size or ious.max() < BF16_IOU:
            problems.append(f"score {face.score:.3f}: best IoU {ious.max() if ious.size else 0:.3f}")
        elif abs(theirs[int(ious.argmax())].score - face.score) > BF16_SCORE:
            problems.append(f"score {face.score:.3f} vs {theirs[int(ious.argmax())].score:.3f}")
    return problems


@pytest.mark.slow
def test_bf16_detections_match_fp32(make, fp32, fixture_meta: dict, shared_data: Path, cpu_has_bf16: bool) -> None:
    """Same faces (IoU >= 0.9, scores within 0.02) on the TFLite-fixture photos, whole image and tiled."""
    if not cpu_has_bf16:
        pytest.skip("this CPU has no bf16 instructions (avx512_bf16 / amx_bf16): bf16 detection falls back to fp32")
    bf16 = make(precision="bf16")
    assert bf16.precision == "bf16"
    found = 0
    for name, image in zip(fixture_meta["images"], _photos(shared_data, fixture_meta["images"]), strict=True):
        for tiling in (False, True):
            ours, reference = _detect(bf16, image, tiling), _detect(fp32, image, tiling)
            problems = _unmatched(ours, reference, bf16.score_threshold)
            problems += _unmatched(reference, ours, fp32.score_threshold)
            assert not problems, (name, tiling, problems)
            found += len(reference)
    assert found >= 30  # the photos do have faces


def test_bf16_falls_back_to_fp32_without_cpu_support(make, monkeypatch, caplog) -> None:
    import faceid.pipeline.detector_engine as engine

    monkeypatch.setattr(engine, "cpu_has_bf16", lambda: False)
    with caplog.at_level(logging.WARNING, logger="faceid.pipeline.detector_engine"):
        detector = make(precision="bf16")
    assert detector.precision == "fp32"
    assert "needs a CPU with AVX512-BF16 or AMX-BF16; using fp32" in caplog.text


def test_the_probe_has_faces_for_the_bf16_check(fp32) -> None:
    """The drawn probe faces are detected (one each, in fp32), the noise inputs are not: the bf16 check at
    load compares real detections, not empty lists."""
    from faceid.pipeline.detector_engine import probe_batch

    probe = probe_batch(128)
    regressors, logits = fp32.run(probe)
    whole = letterbox_params(128, 128, 128)  # the probe inputs are the model's input: no letterbox
    for i in range(len(probe)):
        found = fp32._decode(regressors[i], logits[i], whole)
        _, scores, _ = weighted_nms(found.boxes, found.scores, found.keypoints, fp32.iou_threshold)
        assert len(scores) == (1 if i < 4 else 0), (i, scores)


def test_disagreement_is_caught(fp32) -> None:
    from faceid.pipeline.detector_engine import detections_disagree, probe_batch

    probe = probe_batch(128)
    output = fp32._engine.run(probe)
    assert detections_disagree(output, output.copy(), fp32.anchors, 128) == ""
    moved = output.copy()
    moved[..., 0] += 12.0  # every box 12 input pixels to the right: IoU < 0.9 for faces of ~30-60 pixels
    assert "no match" in detections_disagree(output, moved, fp32.anchors, 128)
    nothing = output.copy()
    nothing[..., 16] = -20.0  # no face anywhere: nothing to compare, which must not pass as agreement
    assert detections_disagree(nothing, nothing.copy(), fp32.anchors, 128) == "no face in the reference to compare"
    doubted = output.copy()
    doubted[..., 16] -= 0.4  # logits: the sigmoid scores (~0.85) drop by about 0.06
    assert "differ" in detections_disagree(output, doubted, fp32.anchors, 128)


def test_rejects_an_unknown_precision(make) -> None:
    with pytest.raises(ValueError, match=r"precision must be fp32, bf16 or auto, got .fp16."):
        make(precision="fp16")


def test_the_native_run_releases_the_gil(make, require_native_loop) -> None:
    """Another Python thread runs while the native loop does (the Python predictor holds the GIL throughout)."""
    import sys
    import threading
    import time

    detector = make(threads=1)  # one predictor: run() calls the native loop on this thread, no pool in between
    assert detector.engine == "native"
    batch = np.random.default_rng(0).uniform(-1, 1, (16, 3, 128, 128)).astype(np.float32)
    detector.run(batch)  # plans this batch shape
    ticks, stop = [0], threading.Event()

    def tick() -> None:  # runs only while no other thread holds the GIL
        while not stop.is_set():
            ticks[0] += 1
            time.sleep(0.0005)

    interval = sys.getswitchinterval()
    sys.setswitchinterval(100)  # this thread gives up the GIL only where it releases it
    thread = threading.Thread(target=tick)
    try:
        thread.start()
        while ticks[0] == 0:
            time.sleep(0.001)
        before = ticks[0]
        for _ in range(3):
            detector.run(batch)
        during = ticks[0] - before
    finally:
        stop.set()
        sys.setswitchinterval(interval)
        thread.join()
    assert during > 0


def test_the_python_predictor_path_gives_the_same_output(fp32) -> None:
    """Where the native loop is not usable the engine runs the same program on the Python predictor."""
    from faceid.pipeline.detector_engine import DetectorEngine

    engine = DetectorEngine(fp32.net, size=128, anchors=fp32.anchors, threads=2, native=False)
    assert engine.engine == "python" and engine.precision == "fp32"
    batch = np.random.default_rng(5).uniform(-1, 1, (7, 3, 128, 128)).astype(np.float32)
    regressors, logits = fp32.run(batch)
    np.testing.assert_allclose(engine.run(batch), np.concatenate([regressors, logits], -1), rtol=1e-5, atol=1e-4)
