"""BlazeFace short range: the TFLite reader, the converter, and the converted Paddle net against the original.

The expected outputs in ``tests/fixtures/blazeface/`` come from the original ``.tflite`` run by the TFLite
interpreter (ai-edge-litert 2.3.0) on the same letterboxed inputs (their SHA-256 is checked first), and from
MediaPipe 0.10.21's own face-detection solution; see ``generated_with`` in the JSON file.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from faceid.ops.detect import box_iou, decode_blazeface, letterbox, ssd_anchors
from faceid.zoo.blazeface import convert_blazeface_short, load_blazeface
from faceid.zoo.tflite import read_tflite

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "blazeface"
SHORT = "blazeface/face_detection_short_range.tflite"


@pytest.fixture(scope="module")
def model_source(shared_models: Path, shared_model_file) -> Path:
    shared_model_file(SHORT)
    return shared_models


@pytest.fixture(scope="module")
def net(model_source: Path, tmp_path_factory: pytest.TempPathFactory):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FACEID_HOME", str(tmp_path_factory.mktemp("faceid_home")))
        return load_blazeface("blazeface_short", model_source)


@pytest.fixture(scope="module")
def expected() -> tuple[dict, dict[str, np.ndarray]]:
    meta = json.loads((FIXTURES / "short_range_expected.json").read_text())
    with np.load(FIXTURES / "short_range_tflite_outputs.npz", allow_pickle=False) as archive:
        arrays = {key: archive[key] for key in archive.files}
    return meta, arrays


def test_reader_parses_the_short_range_graph(model_source: Path) -> None:
    model = read_tflite(model_source / SHORT)
    ops = [op.op for op in model.operators]
    assert ops.count("CONV_2D") == 21 and ops.count("DEPTHWISE_CONV_2D") == 16 and ops.count("ADD") == 16
    assert ops.count("DEQUANTIZE") == 74  # every weight and bias is fp16
    assert model.tensors[model.inputs[0]].shape == (1, 128, 128, 3)
    assert {model.tensors[i].name: model.tensors[i].shape for i in model.outputs} == {
        "regressors": (1, 896, 16),
        "classificators": (1, 896, 1),
    }
    first_conv = next(op for op in model.operators if op.op == "CONV_2D")
    assert first_conv.options["stride_h"] == 2 and first_conv.options["padding"] == "SAME"
    weight = model.constant(first_conv.inputs[1])
    assert weight.dtype == np.float32 and weight.shape == (24, 5, 5, 3) and np.isfinite(weight).all()
    assert model.tensors[model.producer(first_conv.inputs[1]).inputs[0]].dtype == "float16"


def test_reader_rejects_other_files(tmp_path: Path) -> None:
    path = tmp_path / "not.tflite"
    path.write_bytes(b"\x00" * 64)
    with pytest.raises(ValueError, match="not a TFLite flatbuffer"):
        read_tflite(path)


def test_source_hash_is_checked(model_source: Path, tmp_path: Path) -> None:
    bad = tmp_path / "blazeface"
    bad.mkdir()
    data = bytearray((model_source / SHORT).read_bytes())
    data[-1] ^= 0xFF
    (bad / Path(SHORT).name).write_bytes(bytes(data))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FACEID_HOME", str(tmp_path / "home"))
        with pytest.raises(ValueError, match="SHA-256"):
            load_blazeface("blazeface_short", tmp_path)


def test_converted_weights_are_cached_as_npz(model_source: Path, tmp_path: Path) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FACEID_HOME", str(tmp_path))
        load_blazeface("blazeface_short", model_source)
        cached = list((tmp_path / "models").glob("blazeface_short-*.npz"))
        assert len(cached) == 1
        with np.load(cached[0], allow_pickle=False) as archive:
            assert len(archive.files) == 74
        copy = tmp_path / "elsewhere"
        shutil.copytree(model_source / "blazeface", copy / "blazeface")
        (copy / SHORT).unlink()  # the cache alone must be enough now
        assert load_blazeface("blazeface_short", copy) is not None
    state = convert_blazeface_short(model_source / SHORT)
    assert state["blocks.2.dw.weight"].shape == (28, 1, 3, 3) and state["reg8.weight"].shape == (96, 96, 1, 1)


def _inputs(shared_data: Path, names: list[str]) -> np.ndarray:
    import cv2

    batch = []
    for name in names:
        image = cv2.imread(str(shared_data / name), cv2.IMREAD_COLOR)
        batch.append(letterbox(image[:, :, ::-1], 128)[0])
    return np.stack(batch)


def test_converted_net_matches_tflite(net, expected, shared_data: Path) -> None:
    import paddle

    meta, ref = expected
    inputs = _inputs(shared_data, meta["images"])
    shas = [hashlib.sha256(np.ascontiguousarray(x, dtype=np.float32).tobytes()).hexdigest() for x in inputs]
    assert shas == meta["input_sha256"], "letterboxing changed since the fixtures were made"
    with paddle.no_grad():
        regressors, logits = (t.numpy() for t in net(paddle.to_tensor(inputs.transpose(0, 3, 1, 2).copy())))
    assert regressors.shape == (len(inputs), 896, 16) and logits.shape == (len(inputs), 896, 1)
    logits = logits[..., 0]
    np.testing.assert_allclose(logits, ref["classificators"], rtol=1e-3, atol=2e-3)
    top = ref["top_index"].astype(np.int64)
    got_top = np.take_along_axis(regressors, top[..., None], axis=1)
    assert np.abs(got_top - ref["top_regressors"]).max() < 1e-3
    full = regressors[int(ref["full_regressors_image"])]
    np.testing.assert_allclose(full, ref["full_regressors"], rtol=1e-3, atol=1e-3)
    anchors = ssd_anchors()
    for i in range(len(inputs)):
        keep = 1 / (1 + np.exp(-ref["classificators"][i, top[i]])) > 0.5
        rows = top[i][keep]
        ours, _ = decode_blazeface(regressors[i, rows], anchors[rows])
        theirs, _ = decode_blazeface(ref["top_regressors"][i][keep], anchors[rows])
        ious = [box_iou(a, b[None])[0] for a, b in zip(ours, theirs, strict=True)]
        assert min(ious, default=1.0) >= 0.99, meta["images"][i]
