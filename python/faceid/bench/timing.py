"""Interleaved timing: the paths being compared take turns call by call, so that other load on the machine hits
them alike."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["interleaved", "interleaved_pipelines"]


def interleaved(
    paths: dict[str, Callable[[], Any]], warmup: int, repeats: int, block: int = 1
) -> dict[str, dict[str, float]]:
    """``warmup`` untimed then ``repeats`` timed calls per path, in turns; ``{"mean_ms", "median_ms"}`` per path.
    ``block`` > 1: each turn is ``block + 1`` calls of one path, the first untimed, so that a path is timed in its
    own steady state (for example not while another path's OpenMP threads still spin; Paddle's spin 200 ms)."""
    for run in paths.values():
        for _ in range(warmup):
            run()
    times: dict[str, list[float]] = {name: [] for name in paths}
    extra = 1 if block > 1 else 0
    for _ in range(-(-repeats // block)):
        for name, run in paths.items():
            for call in range(block + extra):
                started = time.perf_counter()
                run()
                if call >= extra:
                    times[name].append(time.perf_counter() - started)
    return {n: {"mean_ms": float(np.mean(t)) * 1e3, "median_ms": float(np.median(t)) * 1e3} for n, t in times.items()}


def interleaved_pipelines(
    sides: dict[str, dict[str, Callable[[], Any]]], warmup: int, repeats: int, block: int = 4
) -> dict[str, dict[str, float]]:
    """Pipelines compared in turns of whole runs: each side runs its stages in order (as a user runs them on a
    stream of photos) ``block + 1`` times per turn, the first run untimed, then the other side has its turn; so
    each side is timed in its own steady state (its thread pools, caches and spinning threads, not the other
    side's), and load on the machine still hits both alike. ``repeats`` timed runs per side;
    ``{"<side> <stage>": {"mean_ms", "median_ms"}}``."""
    for stages in sides.values():
        for _ in range(warmup):
            for run in stages.values():
                run()
    times: dict[str, list[float]] = {f"{side} {stage}": [] for side, stages in sides.items() for stage in stages}
    for _ in range(-(-repeats // block)):
        for side, stages in sides.items():
            for timed_run in range(block + 1):
                for stage, run in stages.items():
                    started = time.perf_counter()
                    run()
                    if timed_run:
                        times[f"{side} {stage}"].append(time.perf_counter() - started)
    return {n: {"mean_ms": float(np.mean(t)) * 1e3, "median_ms": float(np.median(t)) * 1e3} for n, t in times.items()}
