"""Arcface-Paddle's training log (stdout + ``<output>/training.log``) and optional VisualDL scalars."""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path
from typing import Any

__all__ = ["ScalarWriter", "SpeedMeter", "close_training_log", "setup_training_log"]

LOG_FORMAT = "Training: %(asctime)s - %(message)s"
_HANDLER_TAG = "_faceid_training_handler"


def _tagged(handler: logging.Handler, fmt: str, level: int = logging.NOTSET) -> logging.Handler:
    handler.setFormatter(logging.Formatter(fmt))
    handler.setLevel(level)
    setattr(handler, _HANDLER_TAG, True)
    return handler


def setup_training_log(output: str | Path, rank: int) -> logging.Logger:
    """Send ``faceid.train`` records to stdout and ``<output>/training.log`` (rank 0; other ranks: warnings).

    On rank 0 the warnings of the rest of faceid (a skipped corrupt sample, a missing validation target) are
    written to ``training.log`` too (they still reach the console through the root logger).
    """
    close_training_log()
    logger, library = logging.getLogger("faceid.train"), logging.getLogger("faceid")
    logger.setLevel(logging.INFO if rank == 0 else logging.WARNING)
    logger.propagate = False
    if rank != 0:
        logger.addHandler(_tagged(logging.StreamHandler(sys.stderr), LOG_FORMAT))
        return logger
    Path(output).mkdir(parents=True, exist_ok=True)
    log_file = Path(output) / "training.log"
    logger.addHandler(_tagged(logging.FileHandler(log_file), LOG_FORMAT))
    logger.addHandler(_tagged(logging.StreamHandler(sys.stdout), LOG_FORMAT))
    warning_format = "Training: %(asctime)s - %(levelname)s %(name)s: %(message)s"
    library.addHandler(_tagged(logging.FileHandler(log_file), warning_format, logging.WARNING))
    return logger


def close_training_log() -> None:
    """Detach and close the handlers :func:`setup_training_log` added (the end of a run)."""
    for owner in (logging.getLogger("faceid.train"), logging.getLogger("faceid")):
        for handler in [h for h in owner.handlers if getattr(h, _HANDLER_TAG, False)]:
            owner.removeHandler(handler)
            handler.close()


class SpeedMeter:
    """Average loss and throughput over each logging window; formats Arcface-Paddle v1's line."""

    def __init__(self, samples_per_step: int, total_steps: int) -> None:
        self.samples_per_step, self.total_steps = samples_per_step, total_steps
        self._losses: list[float] = []
        self._start = time.perf_counter()

    def update(self, loss: float) -> None:
        self._losses.append(loss)

    def line(self, *, epoch: int, step: int, lr_backbone: float, lr_classifier: float) -> str:
        """``Speed ... samples/sec   Loss ...   Epoch: ...   Global Step: ...   Required: ... hours, ...``."""
        elapsed = max(time.perf_counter() - self._start, 1e-9)
        steps = max(len(self._losses), 1)
        speed = steps * self.samples_per_step / elapsed
        loss = sum(self._losses) / steps
        required = (self.total_steps - step) * elapsed / steps / 3600
        self._losses.clear()
        self._start = time.perf_counter()
        self.last_speed, self.last_loss = speed, loss
        return (
            f"Speed {speed:.2f} samples/sec   Loss {loss:.4f}   Epoch: {epoch}   Global Step: {step}   "
            f"Required: {required:1.0f} hours, lr_backbone_value: {lr_backbone:f}, lr_pfc_value: {lr_classifier:f}"
        )


class ScalarWriter:
    """VisualDL scalars under ``logdir`` on rank 0 when ``visualdl`` is installed; otherwise does nothing."""

    def __init__(self, logdir: str | Path, rank: int) -> None:
        self._writer: Any = None
        if rank != 0:
            return
        try:
            from visualdl import LogWriter
        except ImportError:
            logging.getLogger("faceid.train").info("visualdl is not installed: no VisualDL logs (pip install visualdl)")
            return
        self._writer = LogWriter(logdir=str(logdir))

    def add(self, tag: str, value: float, step: int) -> None:
        if self._writer is not None:
            self._writer.add_scalar(tag=tag, value=float(value), step=step)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
