"""The native (C++) Paddle Inference loop: uint8 faces in, embeddings out, the GIL released while it runs.

The C++ side calls the Paddle Inference C++ API of the libpaddle.so that ``import paddle`` loaded, through
prototypes written by hand for one Paddle build (see ``csrc/infer/paddle_api.h``). So it is used only when
:func:`native_status` says so: the running Paddle is that exact build, on Linux x86-64, and the library
exports every function the loop calls. :func:`load_native_predictor` also checks the numbers once against
the Python ``paddle.inference`` predictor, and otherwise logs one warning and returns None, so that the
caller keeps the Python predictor.
"""

from __future__ import annotations

import logging
import os
import platform
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from faceid import _C
from faceid.infer.paddle_predictor import PaddlePredictor
from faceid.ops.image import TRAIN_MEAN, TRAIN_STD, hwc_to_chw

__all__ = ["NativeEmbedder", "load_native_predictor", "native_status", "pinned_paddle", "pinned_paddle_installed"]

logger = logging.getLogger(__name__)

# Largest |native - Python predictor| the first-call self-test accepts.
SELF_TEST_TOLERANCE = 1e-4
_PRECISIONS = ("fp32", "bf16")


def _expected_paddle() -> tuple[str, str]:
    """``(version, full commit)`` of the Paddle build the C++ code was written against."""
    return _C.native_infer_target()


def _same_commit(a: str, b: str) -> bool:
    # Either may be abbreviated; a common prefix of at least 7 hex digits is the same commit.
    n = min(len(a), len(b))
    return n >= 7 and a[:n] == b[:n]


def pinned_paddle() -> str:
    """The Paddle build the native loop runs on, e.g. ``"Paddle 3.3.1 (commit 1a2b3c4)"``."""
    version, commit = _expected_paddle()
    return f"Paddle {version} (commit {commit[:7]})"


def pinned_paddle_installed() -> bool:
    """Whether the importable Paddle is exactly the build the native loop was written against. Imports Paddle."""
    try:
        import paddle
    except ImportError:
        return False
    version, commit = _expected_paddle()
    return paddle.version.full_version == version and _same_commit(paddle.version.commit, commit)


def _libpaddle_path() -> str:
    from paddle.base import libpaddle

    return os.path.realpath(libpaddle.__file__)


def native_status() -> tuple[bool, str]:
    """``(True, "")`` when the native loop can run in this process, else ``(False, why)``. Imports Paddle."""
    if sys.platform != "linux" or platform.machine() not in ("x86_64", "AMD64"):
        return False, f"the native predictor runs on Linux x86-64 only, this is {sys.platform} {platform.machine()}"
    try:
        import paddle
    except ImportError as e:
        return False, f"paddle cannot be imported: {e}"
    version, commit = _expected_paddle()
    running_version, running_commit = paddle.version.full_version, paddle.version.commit
    if running_version != version or not _same_commit(running_commit, commit):
        return False, (
            f"the native predictor was written against Paddle {version} (commit {commit[:7]}), "
            f"but Paddle {running_version} (commit {running_commit[:7]}) is installed"
        )
    try:
        path = _libpaddle_path()
    except (ImportError, AttributeError) as e:
        return False, f"paddle's libpaddle.so was not found: {e}"
    why = _C.native_infer_probe(path)
    return not why, why


def _triple(values: Sequence[float], name: str) -> tuple[float, float, float]:
    values = tuple(float(v) for v in values)
    if len(values) != 3:
        raise ValueError(f"{name}: expected 3 values (one per RGB channel), got {len(values)}")
    return values  # type: ignore[return-value]


class NativeEmbedder:
    """Embeds aligned faces with the native loop. Thread safe: concurrent callers run in parallel, each on a
    predictor of its own; the pool grows to the most concurrent callers (one copy of the weights each), up to
    ``max_predictors``, and further callers wait for a free predictor."""

    def __init__(self, predictor: _C.NativePredictor) -> None:
        self._predictor = predictor

    @property
    def output_dim(self) -> int:
        """Embedding size (0 until the first call)."""
        return self._predictor.output_dim

    @property
    def pool_size(self) -> int:
        """Predictors in the pool (independent predictors, one copy of the weights each)."""
        return self._predictor.pool_size

    @property
    def max_predictors(self) -> int:
        """The most predictors the pool makes."""
        return self._predictor.max_predictors

    def embed(
        self,
        images: np.ndarray,
        *,
        src_is_bgr: bool = True,
        mean: Sequence[float] = TRAIN_MEAN,
        std: Sequence[float] = TRAIN_STD,
        batch_size: int = 32,
    ) -> np.ndarray:
        """(N, H, W, 3) uint8 BGR (or RGB) faces -> (N, D) float32 raw embeddings (not L2-normalised).

        Normalised exactly like :func:`faceid.ops.image.hwc_to_chw` (``mean``/``std`` per RGB channel),
        run ``batch_size`` images at a time.
        """
        images = np.ascontiguousarray(images)
        return self._predictor.embed(images, bool(src_is_bgr), _triple(mean, "mean"), _triple(std, "std"), batch_size)

    def run_raw(self, batch: np.ndarray) -> np.ndarray:
        """(N, 3, H, W) float32 -> (N, D) float32 in one run, no preprocessing."""
        return self._predictor.run_raw(np.ascontiguousarray(batch))


def default_max_predictors() -> int:
    """One predictor per core: each runs at least one thread, so more concurrent predictors only cost memory."""
    return max(1, min(os.cpu_count() or 1, 256))


def _check_arguments(model_file: Path, params_file: Path, threads: int, precision: str, onednn: bool) -> None:
    for name, path in (("model_file", model_file), ("params_file", params_file)):
        if not path.is_file():
            raise ValueError(f"{name}: no such file: '{path}'")
    if precision not in _PRECISIONS:
        raise ValueError(f"precision: expected one of {_PRECISIONS}, got {precision!r}")
    if precision == "bf16" and not onednn:
        raise ValueError("precision='bf16' needs onednn=True")
    if not 1 <= threads <= 256:
        raise ValueError(f"threads: expected 1..256, got {threads}")


def load_native_predictor(
    model_file: str | os.PathLike[str],
    params_file: str | os.PathLike[str],
    *,
    threads: int = 1,
    precision: str = "fp32",
    onednn: bool = True,
    input_size: tuple[int, int] = (112, 112),
    reference: PaddlePredictor | None = None,
    max_predictors: int | None = None,
) -> NativeEmbedder | None:
    """The native embedder for an exported model (``.json`` or ``.pdmodel`` + ``.pdiparams``), or None.

    None (with one warning logged) when the native loop is not usable here or when its output on a fixed
    random batch of ``input_size`` (H, W) faces differs from the Python predictor's by more than
    ``SELF_TEST_TOLERANCE``. ``reference``: the Python predictor to compare with, configured the same way
    (built here when not given). ``max_predictors``: the most predictors (copies of the weights) that
    concurrent callers get, :func:`default_max_predictors` when None. Bad arguments raise ValueError; a model
    that the Python predictor cannot run either raises RuntimeError.
    """
    model_file, params_file = Path(model_file), Path(params_file)
    _check_arguments(model_file, params_file, threads, precision, onednn)
    if max_predictors is None:
        max_predictors = default_max_predictors()
    if not 1 <= max_predictors <= 256:
        raise ValueError(f"max_predictors: expected 1..256, got {max_predictors}")
    ok, why = native_status()
    if not ok:
        logger.warning("native predictor unavailable, use the Python predictor: %s", why)
        return None
    bf16 = precision == "bf16"
    images = np.random.default_rng(0).integers(0, 256, (4, *input_size, 3), dtype=np.uint8)
    try:
        if reference is None:
            reference = PaddlePredictor(model_file, params_file, threads=threads, precision=precision, onednn=onednn)
        expected = reference.run(hwc_to_chw(images))
        expected = expected.reshape(len(images), -1)  # a (N, A, K) output comes back flat from the native loop
    except Exception as e:  # Paddle raises ValueError, RuntimeError, ... for a model it cannot run
        raise RuntimeError(f"the Python paddle.inference predictor cannot run {model_file}: {e}") from e
    try:
        native = NativeEmbedder(
            _C.NativePredictor(
                _libpaddle_path(), str(model_file), str(params_file), threads, onednn, bf16, max_predictors
            )
        )
        got = native.embed(images, batch_size=len(images))
    except RuntimeError as e:
        logger.warning("native predictor failed its self-test, use the Python predictor: %s", e)
        return None
    diff = float(np.max(np.abs(got - expected))) if got.shape == expected.shape else float("inf")
    if not diff <= SELF_TEST_TOLERANCE:
        logger.warning(
            "native predictor failed its self-test, use the Python predictor: output %s differs from the Python "
            "predictor's %s by up to %.3g (tolerance %.0e)",
            got.shape,
            expected.shape,
            diff,
            SELF_TEST_TOLERANCE,
        )
        return None
    return native
