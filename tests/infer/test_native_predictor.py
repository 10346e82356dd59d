"""The native (C++) Paddle Inference loop against dygraph, the Python predictor, and its own argument checks."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

import faceid
from faceid import _C
from faceid.export.onednn_bf16 import save_bf16_program
from faceid.infer import PaddlePredictor, native
from faceid.infer.native import NativeEmbedder, load_native_predictor, native_status
from faceid.ops.image import hwc_to_chw, hwc_to_chw_reference

paddle = pytest.importorskip("paddle")

FORMATS = ("json", "pdmodel")
TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def require_native(require_native_loop: None) -> None:
    """The conftest check (skip here, fail in CI on the pinned Paddle), under this module's old name."""


def test_native_loop_is_active_on_the_pinned_paddle(require_native_loop: None) -> None:
    # Reached only where the loop is usable (elsewhere the fixture skips, or fails in CI on the pinned build).
    assert native.pinned_paddle_installed()
    info = faceid.info()
    assert info["native_inference"] == "available"
    assert info["native_inference_target"] == native.pinned_paddle()


def test_faceid_info_shows_the_native_loop_state() -> None:
    result = subprocess.run([sys.executable, "-m", "faceid", "info"], capture_output=True, text=True, check=True)
    lines = dict(line.split(": ", 1) for line in result.stdout.splitlines() if ": " in line)
    ok, why = native_status()
    assert lines["native_inference"] == ("available" if ok else f"unavailable: {why}")
    version, commit = _C.native_infer_target()
    assert lines["native_inference_target"] == f"Paddle {version} (commit {commit[:7]})"


def _small_net():
    """Conv(3->8, s2) + BN + PReLU + Conv(8->16, s2) + Linear: (N, 3, 112, 112) -> (N, 32)."""
    nn = paddle.nn
    paddle.seed(7)
    net = nn.Sequential(
        nn.Conv2D(3, 8, 3, stride=2),  # 112 -> 55
        nn.BatchNorm2D(8),
        nn.PReLU(),
        nn.Conv2D(8, 16, 3, stride=2),  # 55 -> 27
        nn.Flatten(),
        nn.Linear(16 * 27 * 27, 32),
    )
    bn = net[1]
    rng = np.random.default_rng(7)  # running statistics that are not the identity
    bn._mean.set_value(rng.normal(0, 0.5, 8).astype("float32"))
    bn._variance.set_value(rng.uniform(0.5, 2.0, 8).astype("float32"))
    net.eval()
    return net


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory, require_native: None):
    """``(net, {format: (program, params)})``: one small net saved as PIR ``.json``, legacy ``.pdmodel`` and the
    PReLU-packed bf16 variant (``onednn_bf16``, for bf16 predictors only)."""
    from paddle.static import InputSpec

    net = _small_net()
    spec = [InputSpec([None, 3, 112, 112], "float32", "x")]
    root = tmp_path_factory.mktemp("native")
    paddle.jit.save(net, str(root / "pir" / "model"), input_spec=spec)
    with paddle.pir_utils.OldIrGuard():
        paddle.jit.save(net, str(root / "legacy" / "model"), input_spec=spec)
    assert save_bf16_program(net, root / "bf16" / "model")
    files = {
        "json": (root / "pir" / "model.json", root / "pir" / "model.pdiparams"),
        "pdmodel": (root / "legacy" / "model.pdmodel", root / "legacy" / "model.pdiparams"),
        "onednn_bf16": (root / "bf16" / "model.json", root / "bf16" / "model.pdiparams"),
    }
    for program, params in files.values():
        assert program.is_file() and params.is_file()
    return net, files


@pytest.fixture(scope="module")
def embedders(exported) -> dict[str, NativeEmbedder]:
    _, files = exported
    out = {}
    for fmt in FORMATS:
        program, params = files[fmt]
        embedder = load_native_predictor(program, params, threads=1)
        assert embedder is not None, f"the native predictor refused the {fmt} model"
        out[fmt] = embedder
    return out


def _dygraph(net, batch: np.ndarray) -> np.ndarray:
    with paddle.no_grad():
        return net(paddle.to_tensor(batch)).numpy()


def _python_predictor(program: Path, params: Path, batch: np.ndarray) -> np.ndarray:
    import paddle.inference as pi

    config = pi.Config(str(program), str(params))
    config.disable_gpu()
    config.disable_glog_info()
    config.set_cpu_math_library_num_threads(1)
    config.enable_onednn()
    predictor = pi.create_predictor(config)
    handle = predictor.get_input_handle(predictor.get_input_names()[0])
    handle.reshape(list(batch.shape))
    handle.copy_from_cpu(batch)
    predictor.run()
    return predictor.get_output_handle(predictor.get_output_names()[0]).copy_to_cpu()


def _faces(n: int, seed: int = 0, size: int = 112) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


def _max_diff(a: np.ndarray, b: np.ndarray) -> float:
    assert a.shape == b.shape
    return float(np.max(np.abs(a - b)))


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(("n", "batch_size"), [(1, 1), (7, 1), (7, 3), (7, 32), (40, 32)])
def test_embed_matches_dygraph_and_python_predictor(exported, embedders, fmt: str, n: int, batch_size: int) -> None:
    net, files = exported
    images = _faces(n, seed=n)
    got = embedders[fmt].embed(images, batch_size=batch_size)
    assert got.shape == (n, 32) and got.dtype == np.float32
    assert _max_diff(got, _dygraph(net, hwc_to_chw_reference(images))) <= TOLERANCE
    assert _max_diff(got, _python_predictor(*files[fmt], hwc_to_chw(images))) <= TOLERANCE
    assert embedders[fmt].output_dim == 32


@pytest.mark.parametrize("fmt", FORMATS)
def test_run_raw_matches_embed_and_dygraph(exported, embedders, fmt: str) -> None:
    net, _ = exported
    images = _faces(5, seed=11)
    batch = hwc_to_chw(images)
    raw = embedders[fmt].run_raw(batch)
    assert raw.shape == (5, 32) and raw.dtype == np.float32
    assert _max_diff(raw, embedders[fmt].embed(images, batch_size=5)) == 0.0
    assert _max_diff(raw, _dygraph(net, batch)) <= TOLERANCE


@pytest.mark.parametrize("fmt", FORMATS)
def test_colour_order_mean_and_std(exported, embedders, fmt: str) -> None:
    net, _ = exported
    images = _faces(4, seed=5)
    embedder = embedders[fmt]
    rgb = embedder.embed(images, src_is_bgr=False)
    assert np.array_equal(rgb, embedder.embed(np.ascontiguousarray(images[..., ::-1]), src_is_bgr=True))
    assert _max_diff(rgb, embedder.embed(images, src_is_bgr=True)) > 1e-3
    assert _max_diff(rgb, _dygraph(net, hwc_to_chw_reference(images, src_is_bgr=False))) <= TOLERANCE
    mean, std = (100.0, 120.0, 140.0), (50.0, 60.0, 70.0)
    custom = embedder.embed(images, mean=mean, std=std, batch_size=3)
    assert _max_diff(custom, _dygraph(net, hwc_to_chw_reference(images, mean=mean, std=std))) <= TOLERANCE


def test_empty_batch(embedders) -> None:
    out = embedders["json"].embed(np.zeros((0, 112, 112, 3), np.uint8))
    assert out.shape == (0, 32) and out.dtype == np.float32


def _min_cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.min(np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))))


# PIR (.json) only: for legacy programs Paddle 3.3.1's own Python bf16 predictor fails on this net
# ("elementwise_add: ... float32 does not match ... bfloat16"), whether faceid is there or not.
def test_bf16_matches_python_bf16_and_is_close_to_fp32(exported, cpu_has_bf16: bool) -> None:
    if not cpu_has_bf16:
        pytest.skip("CPU without avx512_bf16/amx_bf16: oneDNN has no bf16 kernels")
    net, files = exported
    images = _faces(6, seed=3)
    fp32 = _dygraph(net, hwc_to_chw_reference(images))
    cosines = {}
    # The plain program, then the PReLU-packed variant that Paddle 3.3.1's bf16 PReLU kernel reads correctly
    # (faceid.export.onednn_bf16); the Recognizer picks the same way.
    for fmt in ("json", "onednn_bf16"):
        embedder = load_native_predictor(*files[fmt], precision="bf16")
        assert embedder is not None
        got = embedder.embed(images, batch_size=6)
        python_bf16 = PaddlePredictor(*files[fmt], threads=1, precision="bf16").run(hwc_to_chw(images))
        assert _max_diff(got, python_bf16) <= TOLERANCE, fmt
        assert _max_diff(got, fp32) > 0.0  # bf16 really ran
        cosines[fmt] = _min_cosine(got, fp32)
    assert max(cosines.values()) >= 0.99, cosines


@pytest.mark.parametrize("fmt", FORMATS)
def test_concurrent_callers_match_sequential(exported, fmt: str) -> None:
    _, files = exported
    embedder = load_native_predictor(*files[fmt], max_predictors=2)
    assert embedder is not None
    inputs = [_faces(9, seed=20 + i) for i in range(2)]
    expected = [embedder.embed(x, batch_size=4) for x in inputs]
    assert embedder.pool_size == 1
    # Overlap forced: one predictor is taken, so this call needs a second one, made independently.
    embedder._predictor._hold(1)
    try:
        assert _max_diff(embedder.embed(inputs[0], batch_size=4), expected[0]) <= 1e-6
    finally:
        embedder._predictor._release_held()
    assert embedder.pool_size == 2
    results: dict[int, list[np.ndarray]] = {0: [], 1: []}
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def work(i: int) -> None:
        try:
            barrier.wait()
            for _ in range(5):
                results[i].append(embedder.embed(inputs[i], batch_size=4))
        except BaseException as e:  # reported by the main thread
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    for i in range(2):
        assert len(results[i]) == 5
        for got in results[i]:
            assert _max_diff(got, expected[i]) <= 1e-6
    assert embedder.pool_size == 2  # both predictors served the two threads; none more was made


def test_the_pool_never_grows_past_its_cap(exported) -> None:
    _, files = exported
    embedder = load_native_predictor(*files["pdmodel"], max_predictors=2)
    assert embedder is not None and embedder.max_predictors == 2
    faces = _faces(3, seed=5)
    expected = embedder.embed(faces)
    embedder._predictor._hold(2)  # the whole pool (a second predictor is made for it)
    assert embedder.pool_size == 2
    got: list[np.ndarray] = []
    caller = threading.Thread(target=lambda: got.append(embedder.embed(faces)))
    caller.start()
    caller.join(timeout=1.0)
    assert caller.is_alive() and not got  # waits for a predictor instead of making a third
    embedder._predictor._release_held()
    caller.join(timeout=60)
    assert not caller.is_alive()
    assert _max_diff(got[0], expected) <= 1e-6
    # Many concurrent callers: still two predictors.
    outputs: list[np.ndarray] = []
    barrier = threading.Barrier(6)

    def work() -> None:
        barrier.wait()
        outputs.append(embedder.embed(faces))

    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(outputs) == 6 and all(_max_diff(o, expected) <= 1e-6 for o in outputs)
    assert embedder.pool_size == 2
    with pytest.raises(ValueError, match=r"max_predictors: expected 1\.\.256, got 0"):
        load_native_predictor(*files["pdmodel"], max_predictors=0)


def test_argument_errors(embedders) -> None:
    embedder = embedders["json"]
    images = _faces(2)
    with pytest.raises(ValueError, match=r"images: expected dtype uint8, got float32"):
        embedder.embed(images.astype(np.float32))
    with pytest.raises(ValueError, match=r"images: expected shape \(N, H, W, 3\), got \(112, 112, 3\)"):
        embedder.embed(images[0])
    with pytest.raises(ValueError, match=r"images: expected 3 channels .* got \(2, 112, 112, 4\)"):
        embedder.embed(np.zeros((2, 112, 112, 4), np.uint8))
    for bad in (0, -3):
        with pytest.raises(ValueError, match=rf"batch_size: expected 1\.\.\d+, got {bad}"):
            embedder.embed(images, batch_size=bad)
    with pytest.raises(ValueError, match="std: expected non-zero values"):
        embedder.embed(images, std=(1.0, 0.0, 1.0))
    with pytest.raises(ValueError, match="mean: expected 3 values"):
        embedder.embed(images, mean=(1.0, 2.0))
    with pytest.raises(ValueError, match=r"input: expected dtype float32, got float64"):
        embedder.run_raw(np.zeros((1, 3, 112, 112)))
    with pytest.raises(ValueError, match=r"input: expected 3 channels in shape \(N, 3, H, W\)"):
        embedder.run_raw(np.zeros((1, 112, 112, 3), np.float32))
    # A size the model cannot take: Paddle's own error, named; the predictor still works afterwards.
    before = embedder.embed(images)
    with pytest.raises(RuntimeError, match="Paddle Inference Predictor::Run failed"):
        embedder.embed(_faces(1, size=96))
    assert np.array_equal(embedder.embed(images), before)


def test_constructor_errors(exported, tmp_path: Path) -> None:
    _, files = exported
    program, params = files["json"]
    missing = tmp_path / "nope.json"
    with pytest.raises(ValueError, match="model_file: no such file"):
        load_native_predictor(missing, params)
    with pytest.raises(ValueError, match="precision: expected one of"):
        load_native_predictor(program, params, precision="fp16")
    with pytest.raises(ValueError, match=r"threads: expected 1\.\.256, got 0"):
        load_native_predictor(program, params, threads=0)
    lib = native._libpaddle_path()
    with pytest.raises(ValueError, match="model_file: no such file"):
        _C.NativePredictor(lib, str(missing), str(params), 1, True, False, 4)
    with pytest.raises(ValueError, match="params_file: expected a regular file"):
        _C.NativePredictor(lib, str(program), str(tmp_path), 1, True, False, 4)
    with pytest.raises(ValueError, match=r"threads: expected 1\.\.256, got 0"):
        _C.NativePredictor(lib, str(program), str(params), 0, True, False, 4)
    with pytest.raises(RuntimeError, match=r"libpaddle\.so is not loaded from"):
        _C.NativePredictor(str(tmp_path / "libpaddle.so"), str(program), str(params), 1, True, False, 4)


def test_probe_explains_unusable_libraries(require_native: None) -> None:
    assert _C.native_infer_probe(native._libpaddle_path()) == ""
    assert "is not loaded" in _C.native_infer_probe("/nonexistent/libpaddle.so")
    # A loaded library without Paddle's symbols: the extension itself.
    why = _C.native_infer_probe(str(Path(_C.__file__).resolve()))
    assert "does not export paddle_infer::GetVersion()" in why


def test_version_mismatch_is_explained(
    exported, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    _, files = exported
    monkeypatch.setattr(native, "_expected_paddle", lambda: ("9.9.9", "0123456789abcdef"))
    ok, why = native_status()
    assert not ok
    assert "written against Paddle 9.9.9 (commit 0123456)" in why
    assert f"Paddle {paddle.version.full_version} (commit {paddle.version.commit[:7]}) is installed" in why
    with caplog.at_level(logging.WARNING, logger="faceid.infer.native"):
        assert load_native_predictor(*files["json"]) is None
    assert len(caplog.records) == 1 and "9.9.9" in caplog.records[0].getMessage()


def test_failed_self_test_returns_none(
    exported, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    _, files = exported
    monkeypatch.setattr(native, "SELF_TEST_TOLERANCE", -1.0)
    with caplog.at_level(logging.WARNING, logger="faceid.infer.native"):
        assert load_native_predictor(*files["pdmodel"]) is None
    assert len(caplog.records) == 1 and "self-test" in caplog.records[0].getMessage()


_EXIT_SCRIPT = """
import sys
import numpy as np
from faceid.infer.native import load_native_predictor
program, params = sys.argv[1:3]
dropped = load_native_predictor(program, params)
dropped.embed(np.zeros((2, 112, 112, 3), np.uint8))
del dropped
kept = load_native_predictor(program, params)  # still alive when the interpreter exits
kept.embed(np.zeros((3, 112, 112, 3), np.uint8), batch_size=2)
print("ok")
"""


@pytest.mark.parametrize("fmt", FORMATS)
def test_no_crash_at_interpreter_exit(exported, fmt: str) -> None:
    _, files = exported
    package_root = str(Path(faceid.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([package_root, os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run(
        [sys.executable, "-c", _EXIT_SCRIPT, *map(str, files[fmt])],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().endswith("ok")
