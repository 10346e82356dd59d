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


def test_bf16_is_used_only_where_it_agrees_with_fp32(exported_model) -> None:
    directory, _ = exported_model
    faces = _faces(6, seed=4)
    fp32 = Recognizer(directory).embed_normalized(faces)
    bf16 = Recognizer(directory, precision="bf16")
    assert bf16.precision in ("bf16", "fp32")  # fp32 when this CPU/Paddle's bf16 is off (logged)
    cosine = (bf16.embed_normalized(faces) * fp32).sum(axis=1)
    assert cosine.min() >= 0.99
