"""Interleaved timing: the paths being compared take turns call by call, so that other load on the machine hits
them alike."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["interleaved"]


def interleaved(paths: dict[str, Callable[[], Any]], warmup: int, repeats: int) -> dict[str, dict[str, float]]:
    """``warmup`` untimed then ``repeats`` timed calls per path, in turns; ``{"mean_ms", "median_ms"}`` per path."""
    for run in paths.values():
        for _ in range(warmup):
            run()
    times: dict[str, list[float]] = {name: [] for name in paths}
    for _ in range(repeats):
        for name, run in paths.items():
            started = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - started)
    return {n: {"mean_ms": float(np.mean(t)) * 1e3, "median_ms": float(np.median(t)) * 1e3} for n, t in times.items()}
