"""Recognizer: both backends agree with each other and with the dygraph model."""

from __future__ import annotations

import threading

import numpy as np
import paddle
import pytest

import faceid
from faceid.ops.image import hwc_to_chw_reference
from faceid.pipeline import Recognizer


def _faces(n: int, seed: int = 2) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, 112, 112, 3), dtype=np.uint8)


def _dygraph(model, faces: np.ndarray, bgr: bool = True) -> np.ndarray:
    return model(paddle.to_tensor(hwc_to_chw_reference(faces, src_is_bgr=bgr))).numpy()


def _close(actual: np.ndarray, expected: np.ndarray) -> None:
    np.testing.assert_allclose(actual, expected, rtol=0, atol=1e-5 * max(1.0, float(np.abs(expected).max())))


@pytest.mark.parametrize("backend", ["python", "auto"])
def test_embeddings_match_the_dygraph_model_for_any_batch(exported_model, backend: str) -> None:
    directory, model = exported_model
    recognizer = Recognizer(directory, backend=backend, batch_size=4)
    faces = _faces(10)
    expected = _dygraph(model, faces)
    _close(recognizer.embed(faces), expected)
    _close(recognizer.embed(faces, batch_size=32), expected)
    _close(recognizer.embed(faces[3]), expected[3:4])
    _close(recognizer.embed(faces[:, :, :, ::-1], color="rgb"), expected)
    normed = recognizer.embed_normalized(faces)
    np.testing.assert_allclose(np.linalg.norm(normed, axis=1), 1.0, rtol=1e-5)
    assert recognizer.backend in ("python", "native") and recognizer.backend_reason


@pytest.mark.parametrize("backend", ["python", "auto"])
def test_embed_warped_equals_the_model_on_the_reference_warp(exported_model, backend: str) -> None:
    from faceid.ops.image import warp_faces_reference
    from faceid.pipeline.align import ARCFACE_TEMPLATE, alignment_matrix

    directory, model = exported_model
    recognizer = Recognizer(directory, backend=backend, batch_size=2)
    image = np.random.default_rng(4).integers(0, 256, size=(240, 320, 3), dtype=np.uint8)
    points = [ARCFACE_TEMPLATE * s + (x, y) for s, x, y in ((1.5, 20, 30), (0.8, 200, 100), (2.0, -40, 60))]
    matrices = np.stack([alignment_matrix(p) for p in points])
    expected = model(paddle.to_tensor(warp_faces_reference(image, matrices))).numpy()
    _close(recognizer.embed_warped(image, matrices), expected)
    rgb = np.ascontiguousarray(image[:, :, ::-1])
    _close(recognizer.embed_warped(rgb, matrices, color="rgb"), expected)
    with pytest.raises(ValueError, match=r"expected a uint8 \(H, W, 3\) image"):
        recognizer.embed_warped(image[:, :, 0], matrices)


def test_native_and_python_backends_agree(exported_model, require_native_loop: None) -> None:
    directory, _ = exported_model
    native = Recognizer(directory, backend="auto")
    assert native.backend == "native", native.backend_reason
    python = Recognizer(directory, backend="python")
    faces = _faces(7, seed=9)
    _close(native.embed(faces, batch_size=3), python.embed(faces))


def test_concurrent_callers_get_the_sequential_results(exported_model) -> None:
    directory, _ = exported_model
    recognizer = Recognizer(directory, threads=1)
    inputs = [_faces(6, seed=s) for s in range(4)]
    expected = [recognizer.embed(x) for x in inputs]
    results: dict[int, np.ndarray] = {}
    threads = [
        threading.Thread(target=lambda i=i: results.__setitem__(i, recognizer.embed(inputs[i]))) for i in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i in range(4):
        np.testing.assert_array_equal(results[i], expected[i])


def test_bad_inputs_name_the_problem(exported_model, tmp_path) -> None:
    directory, _ = exported_model
    recognizer = Recognizer(directory, backend="python")
    with pytest.raises(ValueError, match=r"expected uint8 faces \(N, 112, 112, 3\) or \(112, 112, 3\), got float32"):
        recognizer.embed(np.zeros((2, 112, 112, 3), np.float32))
    with pytest.raises(ValueError, match="color must be 'bgr' or 'rgb'"):
        recognizer.embed(_faces(1), color="gray")
    with pytest.raises(FileNotFoundError, match="not an export folder"):
        Recognizer(tmp_path / "missing")
    assert faceid.Recognizer is Recognizer


def test_bf16_runs_where_the_cpu_has_it_and_agrees_with_a_separate_fp32_recognizer(
    exported_model, cpu_has_bf16: bool
) -> None:
    directory, _ = exported_model
    faces = _faces(6, seed=4)  # not the Recognizer's own probe batch
    fp32 = Recognizer(directory, precision="fp32")
    bf16 = Recognizer(directory, precision="bf16")
    assert fp32.precision == "fp32"
    if cpu_has_bf16:
        assert bf16.precision == "bf16", "this CPU has bf16 instructions: the bf16 program must be taken"
    expected, actual = fp32.embed_normalized(faces), bf16.embed_normalized(faces)
    difference = float(np.abs(actual - expected).max())
    if bf16.precision == "bf16":  # really computed in bf16 (8-bit mantissa), yet close to fp32
        assert difference > 1e-4, "precision says bf16 but the embeddings are fp32's"
        assert (actual * expected).sum(axis=1).min() >= 0.99
    else:  # the fallback is plain fp32 (logged)
        assert difference <= 1e-5


def _aged_copy(directory, target):
    """A copy of an export whose files were last modified an hour ago (older than the digest cache's racy window)."""
    import os
    import shutil
    import time

    shutil.copytree(directory, target)
    hour_ago = time.time_ns() - 3600 * 10**9
    for path in target.iterdir():
        os.utime(path, ns=(hour_ago, hour_ago))
    return target


def test_a_changed_export_file_is_refused_by_name_and_verdicts_are_cached(exported_model, tmp_path, monkeypatch):
    from faceid.errors import InputError
    from faceid.export import exporter

    hashed = []
    real_sha256 = exporter.sha256_file
    monkeypatch.setattr(exporter, "sha256_file", lambda path: hashed.append(path.name) or real_sha256(path))
    good = _aged_copy(exported_model[0], tmp_path / "good")
    Recognizer(good, backend="python")
    assert sorted(hashed) == ["inference.pdiparams", "inference.pdmodel"]  # the files it loads, once each
    Recognizer(good, backend="python")
    Recognizer(good, backend="python", device="cpu", threads=2)
    assert len(hashed) == 2  # unchanged files (same path, size, mtime): nothing hashed again
    bad = _aged_copy(exported_model[0], tmp_path / "bad")
    params = bad / "inference.pdiparams"
    data = bytearray(params.read_bytes())
    data[1000:1400] = bytes(b ^ 0xFF for b in data[1000:1400])  # the 400 flipped bytes
    params.write_bytes(bytes(data))
    with pytest.raises(InputError, match="does not match the SHA-256") as caught:
        Recognizer(bad, backend="python")
    assert caught.value.path == str(params)
    with pytest.raises(InputError, match="does not match"):  # a failed verdict is never cached as good
        Recognizer(bad, backend="python")


@pytest.mark.parametrize("device", ["GPU", "cuda", "gpu:", "gpu:-1", "cpu:0", "gpu0", ""])
def test_device_accepts_only_cpu_gpu_and_gpu_n(exported_model, device: str) -> None:
    from faceid.errors import InputError

    with pytest.raises(InputError, match=r"'cpu', 'gpu' or 'gpu:<id>'"):
        Recognizer(exported_model[0], device=device)


def test_a_gpu_that_paddle_cannot_use_is_an_error_not_a_silent_cpu_fallback(exported_model) -> None:
    from faceid.errors import FaceidError

    has_gpu = paddle.is_compiled_with_cuda() and paddle.device.cuda.device_count() > 0
    devices = ["gpu:99"] if has_gpu else ["gpu", "gpu:0", "gpu:1"]
    for device in devices:
        with pytest.raises(FaceidError, match=r"built without CUDA|sees \d+ GPU"):
            Recognizer(exported_model[0], device=device)
