"""Exported programs (legacy .pdmodel, PIR .json, ONNX) compute what the dygraph model computes."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import paddle
import pytest

from faceid.export import export_model, read_export_meta
from faceid.infer import PaddlePredictor, find_program


def _batch(n: int = 5) -> np.ndarray:
    return np.random.default_rng(1).uniform(-1, 1, size=(n, 3, 112, 112)).astype(np.float32)


def _close(actual: np.ndarray, expected: np.ndarray) -> None:
    # 1e-5 of the output scale: float32 reassociation in oneDNN's fused kernels.
    np.testing.assert_allclose(actual, expected, rtol=0, atol=1e-5 * max(1.0, float(np.abs(expected).max())))


@pytest.mark.parametrize("prefer", ["pdmodel", "json"])
@pytest.mark.parametrize("onednn", [True, False])
def test_exported_programs_equal_dygraph(exported_model, prefer: str, onednn: bool) -> None:
    directory, model = exported_model
    program, params = find_program(directory, prefer=prefer)
    assert program.suffix == f".{prefer}"
    expected = model(paddle.to_tensor(_batch())).numpy()
    assert 0.1 < np.abs(expected).max() < 1e3  # calibrated BatchNorm: a realistic output scale
    _close(PaddlePredictor(program, params, onednn=onednn).run(_batch()), expected)


def test_faceid_json_describes_the_export(exported_model) -> None:
    directory, _ = exported_model
    meta = read_export_meta(directory)
    assert (meta["network"], meta["embedding_size"]) == ("MobileFaceNet_slim", 64)
    assert meta["input"] == {
        "name": "x",
        "shape": [None, 3, 112, 112],
        "dtype": "float32",
        "color": "RGB",
        "layout": "NCHW",
        "mean": [127.5] * 3,
        "std": [127.5] * 3,
    }
    for entry in meta["files"].values():
        assert hashlib.sha256((directory / entry["name"]).read_bytes()).hexdigest() == entry["sha256"]
    assert sorted(p.name for p in directory.iterdir()) == [
        "faceid.json",
        "inference.json",
        "inference.onednn_bf16.json",  # MobileFaceNet has PReLU (see test_onednn_bf16.py)
        "inference.onednn_bf16.pdiparams",
        "inference.pdiparams",
        "inference.pdmodel",
    ]
    with pytest.raises(FileNotFoundError, match="not a faceid export"):
        read_export_meta(directory.parent)


def test_onnx_export_runs_in_onnxruntime_with_a_dynamic_batch(exported_model, tmp_path: Path) -> None:
    pytest.importorskip("paddle2onnx", reason="paddle2onnx is not installed (pip install 'faceid[onnx]')")
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed")
    _, model = exported_model
    files = export_model(model, tmp_path, network="MobileFaceNet_slim", embedding_size=64, onnx=True)
    session = ort.InferenceSession(str(files["onnx"]), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    for n in (1, 5):
        expected = model(paddle.to_tensor(_batch(n))).numpy()
        _close(session.run(None, {name: _batch(n)})[0], expected)
    assert json.loads((tmp_path / "faceid.json").read_text())["files"]["onnx"]["name"] == "inference.onnx"


_EXPORT_FILES = sorted(
    [
        "faceid.json",
        "inference.json",
        "inference.onednn_bf16.json",
        "inference.onednn_bf16.pdiparams",
        "inference.pdiparams",
        "inference.pdmodel",
    ]
)


@pytest.mark.slow
def test_an_export_replaces_an_older_one_whole_and_refuses_other_folders(exported_model, tmp_path: Path) -> None:
    from faceid.errors import InputError
    from faceid.export import exporter

    directory, model = exported_model
    target = tmp_path / "exp"
    shutil.copytree(directory, target)
    (target / "inference.onnx").write_bytes(b"an ONNX file of another model")
    export_model(model, target, network="MobileFaceNet_slim", embedding_size=64)
    assert sorted(p.name for p in target.iterdir()) == _EXPORT_FILES  # the stale ONNX file is gone
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exp"]  # no staging or old folder left
    # A failure mid-export leaves the previous export exactly as it was.
    before = {p.name: p.read_bytes() for p in target.iterdir()}
    original = exporter._meta
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(exporter, "_meta", lambda *a: (_ for _ in ()).throw(OSError("disk full")))
        with pytest.raises(OSError, match="disk full"):
            export_model(model, target, network="MobileFaceNet_slim", embedding_size=64)
    assert exporter._meta is original and {p.name: p.read_bytes() for p in target.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exp"]
    # A folder that is not a faceid export is never replaced.
    other = tmp_path / "photos"
    other.mkdir()
    (other / "me.jpg").write_bytes(b"precious")
    with pytest.raises(InputError, match="not a faceid export") as caught:
        export_model(model, other, network="MobileFaceNet_slim", embedding_size=64)
    assert caught.value.path == str(other) and [p.name for p in other.iterdir()] == ["me.jpg"]
