"""BlazeFace full range: the sparse TFLite graph, the converter, the Paddle net and the detector against MediaPipe.

The expected outputs in ``tests/fixtures/blazeface/full_range_*`` come from the original ``.tflite`` run by the
TFLite interpreter (ai-edge-litert 2.3.0) on faceid's own letterboxed 192x192 inputs (their SHA-256 is checked
first), and from MediaPipe 0.10.21's face-detection solution (``model_selection=1``), on the original photos and
on those same inputs; see ``generated_with`` and ``solution_note`` in the JSON file.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from faceid.ops.detect import box_iou, decode_blazeface, letterbox, letterbox_params, ssd_anchors
from faceid.zoo.blazeface import convert_blazeface_full, load_blazeface
from faceid.zoo.tflite import read_tflite

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "blazeface"
FULL = "blazeface/face_detection_full_range_sparse.tflite"


@pytest.fixture(scope="module")
def model_source(shared_models: Path, shared_model_file) -> Path:
    shared_model_file(FULL)
    return shared_models


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FACEID_HOME", str(tmp_path_factory.mktemp("faceid_home")))
        yield


@pytest.fixture(scope="module")
def net(model_source: Path, home):
    return load_blazeface("blazeface_full", model_source)


@pytest.fixture(scope="module")
def expected() -> tuple[dict, dict[str, np.ndarray]]:
    meta = json.loads((FIXTURES / "full_range_expected.json").read_text())
    with np.load(FIXTURES / "full_range_tflite_outputs.npz", allow_pickle=False) as archive:
        arrays = {key: archive[key] for key in archive.files}
    return meta, arrays


@pytest.fixture(scope="module")
def photos(expected, shared_data: Path) -> list[np.ndarray]:
    import cv2

    meta, _ = expected
    return [cv2.imread(str(shared_data / name), cv2.IMREAD_COLOR) for name in meta["images"]]


# ------------------------------------------------------------------------------------------ graph and record
def test_reader_parses_the_sparse_full_range_graph(model_source: Path) -> None:
    model = read_tflite(model_source / FULL)
    ops = [op.op for op in model.operators]
    assert ops.count("CONV_2D") == 49 and ops.count("DEPTHWISE_CONV_2D") == 42 and ops.count("PAD") == 43
    assert ops.count("DENSIFY") == 46 and ops.count("RESIZE_BILINEAR") == 3 and ops.count("DEPTH_TO_SPACE") == 2
    assert model.tensors[model.inputs[0]].shape == (1, 192, 192, 3)
    assert [model.tensors[i].shape for i in model.outputs] == [(1, 2304, 16), (1, 2304, 1)]
    for op in model.operators:
        if op.op == "RESIZE_BILINEAR":
            assert op.options == {"align_corners": False, "half_pixel_centers": True}
        if op.op == "DEPTH_TO_SPACE":
            assert op.options == {"block_size": 2}
        if op.op == "DENSIFY":
            stored = model.tensors[op.inputs[0]]
            assert stored.sparse and stored.dtype == "float16" and stored.data.ndim == 1
            dense = model.constant(op.outputs[0])  # through DENSIFY (and the DEQUANTIZE after it when asked there)
            assert dense.shape == stored.shape and dense.dtype == np.float32
            assert np.count_nonzero(dense) == np.count_nonzero(stored.data)
            assert 0.25 < stored.data.size / dense.size < 0.35  # about 30% of each sparse kernel is stored
            np.testing.assert_array_equal(np.sort(dense[dense != 0]), np.sort(stored.data[stored.data != 0]))


def test_converter_and_cache(model_source: Path, tmp_path: Path) -> None:
    state = convert_blazeface_full(model_source / FULL)
    assert len(state) == 2 * 91
    assert state["stem.weight"].shape == (32, 3, 3, 3) and state["reg_dw.weight"].shape == (64, 1, 3, 3)
    assert state["encoder.0.pw1.weight"].shape == (8, 32, 1, 1)
    assert np.mean(state["encoder.0.pw1.weight"] == 0) > 0.6  # a densified kernel
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FACEID_HOME", str(tmp_path))
        load_blazeface("blazeface_full", model_source)
        cached = list((tmp_path / "models").glob("blazeface_full-*.npz"))
        assert len(cached) == 1 and cached[0].name.startswith("blazeface_full-2c3728e6da56f21e")
    short = model_source / "blazeface/face_detection_short_range.tflite"
    if short.is_file():
        with pytest.raises(ValueError, match="37 convolutions in the graph, BlazeFaceFull has 91"):
            convert_blazeface_full(short)


# ------------------------------------------------------------------------------------ Paddle ops of the net
def _tflite_resize_bilinear(x: np.ndarray, out_h: int, out_w: int, align_corners: bool, half_pixel: bool):
    """TFLite's RESIZE_BILINEAR (reference kernel) on an NCHW array, written from its sampling formulas."""

    def axis(out: int, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        scale = (size - 1) / (out - 1) if align_corners and out > 1 else size / out
        src = (np.arange(out) + 0.5) * scale - 0.5 if half_pixel else np.arange(out) * scale
        low = np.maximum(np.floor(src), 0).astype(int)
        high = np.minimum(np.ceil(src), size - 1).astype(int)
        return low, high, src - low

    y0, y1, fy = axis(out_h, x.shape[2])
    x0, x1, fx = axis(out_w, x.shape[3])
    top = x[:, :, y0][..., x0] * (1 - fx) + x[:, :, y0][..., x1] * fx
    bottom = x[:, :, y1][..., x0] * (1 - fx) + x[:, :, y1][..., x1] * fx
    return top * (1 - fy)[:, None] + bottom * fy[:, None]


@pytest.mark.parametrize(("align_corners", "half_pixel"), [(False, True), (False, False), (True, False)])
@pytest.mark.parametrize("out_size", [(12, 14), (9, 11)])
def test_interpolate_args_sample_like_tflite(align_corners: bool, half_pixel: bool, out_size) -> None:
    import paddle
    import paddle.nn.functional as F  # noqa: N812

    from faceid.models.blazeface_full import interpolate_args

    x = np.random.default_rng(1).normal(size=(2, 3, 6, 7)).astype(np.float32)
    args = interpolate_args(align_corners, half_pixel)
    got = F.interpolate(paddle.to_tensor(x), size=list(out_size), mode="bilinear", **args).numpy()
    np.testing.assert_allclose(got, _tflite_resize_bilinear(x, *out_size, align_corners, half_pixel), atol=1e-5)
    with pytest.raises(ValueError, match="cannot both"):
        interpolate_args(True, True)


def test_depth_to_rows_is_tflite_depth_to_space_then_reshape() -> None:
    import paddle

    from faceid.models.blazeface_full import BlazeFaceFull

    nhwc = np.random.default_rng(2).normal(size=(2, 3, 5, 4 * 16)).astype(np.float32)
    space = np.zeros((2, 6, 10, 16), dtype=np.float32)
    for i in range(2):
        for j in range(2):  # output pixel (2h + i, 2w + j) takes channels [(2i + j) * 16, (2i + j + 1) * 16)
            space[:, i::2, j::2, :] = nhwc[..., (2 * i + j) * 16 : (2 * i + j + 1) * 16]
    got = BlazeFaceFull._depth_to_rows(paddle.to_tensor(nhwc.transpose(0, 3, 1, 2).copy()), 16).numpy()
    np.testing.assert_array_equal(got, space.reshape(2, 60, 16))


# ------------------------------------------------------------------------------- against the original model
def test_converted_net_matches_tflite(net, expected, photos) -> None:
    import paddle

    meta, ref = expected
    inputs = np.stack([letterbox(image[:, :, ::-1], 192)[0] for image in photos])
    shas = [hashlib.sha256(np.ascontiguousarray(x, dtype=np.float32).tobytes()).hexdigest() for x in inputs]
    assert shas == meta["input_sha256"], "letterboxing changed since the fixtures were made"
    with paddle.no_grad():
        regressors, logits = (t.numpy() for t in net(paddle.to_tensor(inputs.transpose(0, 3, 1, 2).copy())))
    assert regressors.shape == (len(inputs), 2304, 16) and logits.shape == (len(inputs), 2304, 1)
    logits = logits[..., 0]
    np.testing.assert_allclose(logits, ref["classificators"].astype(np.float32), rtol=1e-3, atol=2e-3)  # fp16 kept
    top = ref["top_index"].astype(np.int64)
    assert np.abs(np.take_along_axis(logits, top, axis=1) - ref["top_classificators"]).max() < 1e-3
    got_top = np.take_along_axis(regressors, top[..., None], axis=1)
    assert np.abs(got_top - ref["top_regressors"]).max() < 1e-3
    full = regressors[int(ref["full_regressors_image"])]
    np.testing.assert_allclose(full, ref["full_regressors"].astype(np.float32), rtol=1e-3, atol=1e-3)
    anchors = ssd_anchors(192, (4,), anchors_per_layer=1)
    for i in range(len(inputs)):
        rows = top[i][ref["top_classificators"][i] > 0]  # sigmoid > 0.5
        ours, _ = decode_blazeface(regressors[i, rows], anchors[rows], 192)
        theirs, _ = decode_blazeface(ref["top_regressors"][i][ref["top_classificators"][i] > 0], anchors[rows], 192)
        ious = [box_iou(a, b[None])[0] for a, b in zip(ours, theirs, strict=True)]
        assert min(ious, default=1.0) >= 0.999, meta["images"][i]


# ------------------------------------------------------------------------------------------- the detector
@pytest.fixture(scope="module")
def detector(model_source: Path, home):
    from faceid.pipeline.detector import FaceDetector

    return FaceDetector("blazeface_full", model_source=model_source, score_threshold=0.5)


def test_detector_defaults_for_full_range(detector) -> None:
    assert detector.input_size == 192 and detector.anchors.shape == (2304, 2) and detector.tiling is False


# The detector's own tile prep ("reference": OpenCV, exactly the fixture's input) and the native one, whose float
# resize is within one uint8 level of it (seen: scores 4.3e-3 apart): (score, keypoint pixels) tolerances.
_SAME_INPUT_TOLERANCE = {"reference": (1e-4, 0.05), "native": (1e-2, 0.5)}


@pytest.mark.parametrize("tile_prep", ["reference", "native"])
def test_detector_equals_the_solution_on_the_same_input(detector, expected, photos, tile_prep: str) -> None:
    """MediaPipe's solution run on faceid's letterboxed input: same network input, so the whole pipeline (net,
    decoding, weighted NMS, letterbox mapping) must agree exactly, at the solution's candidate threshold (the
    native tile prep within what its unrounded input changes)."""
    meta, _ = expected
    score_tolerance, keypoint_tolerance = _SAME_INPUT_TOLERANCE[tile_prep]
    detector.score_threshold = meta["solution_min_score"]
    detector.tile_prep = tile_prep
    try:
        for name, image, theirs in zip(meta["images"], photos, meta["mediapipe_solution_on_input"], strict=True):
            ours = detector.detect(image)
            assert len(ours) == len(theirs), name
            box = letterbox_params(image.shape[0], image.shape[1], 192)
            for det, face in zip(ours, theirs, strict=True):  # both best first
                got = box.to_input(det.box.reshape(2, 2)).ravel()
                assert box_iou(got, np.array(face["box"])[None])[0] >= 0.99, name
                assert abs(det.score - face["score"]) < score_tolerance, name
                np.testing.assert_allclose(
                    box.to_input(det.keypoints), face["keypoints"], atol=keypoint_tolerance, err_msg=name
                )
    finally:
        detector.score_threshold = 0.5
        detector.tile_prep = "native"


def test_detector_agrees_with_the_solution_on_photos(detector, expected, photos) -> None:
    """The solution on the original photos: same faces; boxes close (it resizes without area averaging)."""
    meta, _ = expected
    for name, image, theirs in zip(meta["images"], photos, meta["mediapipe_solution"], strict=True):
        ours = detector.detect(image)
        assert len(ours) == len(theirs), name
        for face in theirs:
            ious = box_iou(np.array(face["box"]), np.stack([d.box for d in ours]))
            assert ious.max() >= 0.85, (name, face)
            assert abs(ours[int(ious.argmax())].score - face["score"]) < 0.15, name


def test_inference_backend_equals_the_eager_network(detector) -> None:
    import paddle

    batch = np.random.default_rng(3).uniform(-1, 1, size=(2, 3, 192, 192)).astype(np.float32)
    with paddle.no_grad():
        eager = [t.numpy() for t in detector.net(paddle.to_tensor(batch))]
    fast = detector.run(batch)
    for a, b in zip(fast, eager, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4 * max(1.0, float(np.abs(b).max())))
