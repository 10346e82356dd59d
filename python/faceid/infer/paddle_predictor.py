"""Paddle Inference driven from Python: the reference path (and the fallback of the native loop)."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np

__all__ = ["PaddlePredictor", "check_device", "find_program", "quiet_pass_logs"]

logger = logging.getLogger(__name__)

_PASS_LOG = re.compile(r"^(\x1b\[\d+m)?---    ")  # oneDNN bf16 pass summaries ("---    marked 181 operators ...")
_STDERR_LOCK = threading.Lock()  # one process-wide stderr: one capture at a time
_CAPTURING = threading.local()


@contextlib.contextmanager
def quiet_pass_logs() -> Iterator[None]:
    """Drop the summary lines Paddle 3.3.1's oneDNN bf16 passes write straight to the process's stderr while a
    legacy program's predictor is made (``DisableGlogInfo`` does not silence them), when Paddle's logging is
    quiet (``GLOG_minloglevel`` >= 1: the CLI without ``-v``). Everything else written meanwhile is passed on;
    nested uses are the outer one."""
    level = os.environ.get("GLOG_minloglevel", "0")  # noqa: SIM112 (glog's own spelling)
    if not level.isdigit() or int(level) < 1 or getattr(_CAPTURING, "active", False):
        yield
        return
    with _STDERR_LOCK, tempfile.TemporaryFile() as capture:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(capture.fileno(), 2)
        _CAPTURING.active = True
        try:
            yield
        finally:
            _CAPTURING.active = False
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            lines = capture.read().decode(errors="replace").splitlines(keepends=True)
            kept = "".join(line for line in lines if not _PASS_LOG.match(line))
            if kept:
                sys.stderr.write(kept)
                sys.stderr.flush()


def check_device(device: str) -> str:
    """``device`` if Paddle can run on it: ``cpu``, ``gpu`` or ``gpu:<id>``.

    Another spelling is an :class:`~faceid.errors.InputError` listing the valid forms; a GPU with a CPU-only
    Paddle, with no visible device or with an id past the last one is a :class:`~faceid.errors.FaceidError`
    (never a silent fallback to the CPU).
    """
    from faceid.errors import FaceidError, InputError

    match = re.fullmatch(r"cpu|gpu(?::(\d+))?", device) if isinstance(device, str) else None
    if match is None:
        raise InputError(f"device must be 'cpu', 'gpu' or 'gpu:<id>' (e.g. gpu:0), got {device!r}")
    if device == "cpu":
        return device
    import paddle

    if not paddle.is_compiled_with_cuda():
        raise FaceidError(
            f"device={device!r}, but this Paddle ({paddle.__version__}) is built without CUDA: use device='cpu' "
            "or install the paddlepaddle-gpu build"
        )
    count = paddle.device.cuda.device_count()
    gpu = int(match.group(1) or 0)
    if gpu >= count:
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        where = f" (CUDA_VISIBLE_DEVICES={visible!r})" if visible is not None else ""
        raise FaceidError(f"device={device!r}, but Paddle sees {count} GPU(s){where}")
    return device


def find_program(directory: str | os.PathLike[str], prefer: str = "pdmodel") -> tuple[Path, Path]:
    """``(program, params)`` of an export folder; ``prefer`` the legacy ``.pdmodel`` (faster on CPU) or ``json``."""
    directory = Path(directory)
    params = directory / "inference.pdiparams"
    order = ["inference.pdmodel", "inference.json"]
    if prefer == "json":
        order.reverse()
    for name in order:
        if (directory / name).is_file() and params.is_file():
            return directory / name, params
    raise FileNotFoundError(f"{directory}: no inference.pdmodel/inference.json with inference.pdiparams")


class PaddlePredictor:
    """A ``paddle.inference`` predictor (one per calling thread): ``run(float32 NCHW) -> (N, D)``.

    CPU: oneDNN on, ``threads`` math threads, bf16 through oneDNN where asked. GPU: ``device="gpu"``.
    """

    def __init__(
        self,
        program: str | os.PathLike[str],
        params: str | os.PathLike[str],
        *,
        device: str = "cpu",
        threads: int = 1,
        precision: str = "fp32",
        onednn: bool = True,
    ) -> None:
        if precision not in ("fp32", "bf16", "fp16"):
            raise ValueError(f"precision must be fp32, bf16 or fp16, got {precision!r}")
        if threads < 1:
            raise ValueError(f"threads must be at least 1, got {threads}")
        device = check_device(device)
        for path in (program, params):
            if not Path(path).is_file():
                raise FileNotFoundError(f"model file not found: {path}")
        self.program, self.params, self.device, self.precision = Path(program), Path(params), device, precision
        self.threads, self.onednn = threads, onednn
        self._local = threading.local()
        first = self._predictor()
        self.input_name = first.get_input_names()[0]
        self.output_name = first.get_output_names()[0]

    def _config(self):
        import paddle.inference as pi

        config = pi.Config(str(self.program), str(self.params))
        config.disable_glog_info()
        if self.device.startswith("gpu"):
            gpu = int(self.device.partition(":")[2] or 0)
            precision = pi.PrecisionType.Half if self.precision == "fp16" else pi.PrecisionType.Float32
            config.enable_use_gpu(256, gpu, precision)
            return config
        config.disable_gpu()
        config.set_cpu_math_library_num_threads(self.threads)
        if self.onednn:
            config.enable_onednn()
            if self.precision == "bf16":
                config.enable_onednn_bfloat16()
        else:
            config.disable_onednn()
        return config

    def _predictor(self):
        # One predictor per thread, each built from its own config: clones of a oneDNN predictor that has
        # already run share weights converted to oneDNN layouts and fail ("Filter tensor's layout should be
        # ONEDNN") in Paddle 3.3.1.
        predictor = getattr(self._local, "predictor", None)
        if predictor is None:
            import paddle.inference as pi

            with quiet_pass_logs():
                predictor = pi.create_predictor(self._config())
            self._local.predictor = predictor
        return predictor

    def run(self, batch: np.ndarray) -> np.ndarray:
        """float32 (N, 3, H, W) -> float32 (N, D)."""
        return self.run_outputs(batch)[self.output_name]

    def run_outputs(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        """Every output of the program for a float32 (N, 3, H, W) batch, by output name."""
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        if batch.ndim != 4 or batch.shape[1] != 3:
            raise ValueError(f"expected a float32 (N, 3, H, W) batch, got shape {batch.shape}")
        return self.run_feeds({self.input_name: batch})

    def run_feeds(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Every output of the program, by name, for inputs given by name (a program with several inputs, such as
        PaddleDetection's ``image`` + ``im_shape`` + ``scale_factor``)."""
        predictor = self._predictor()
        for name, value in feeds.items():
            handle = predictor.get_input_handle(name)
            handle.reshape(list(value.shape))
            handle.copy_from_cpu(np.ascontiguousarray(value))
        predictor.run()
        return {name: predictor.get_output_handle(name).copy_to_cpu() for name in predictor.get_output_names()}
