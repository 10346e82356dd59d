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
    times = _in_turns({name: {"": run} for name, run in paths.items()}, warmup, repeats, block, block > 1)
    return {name: _summary(times[name, ""]) for name in paths}


def interleaved_pipelines(
    sides: dict[str, dict[str, Callable[[], Any]]], warmup: int, repeats: int, block: int = 4
) -> dict[str, dict[str, float]]:
    """Pipelines compared in turns of whole runs: each side runs its stages in order (as a user runs them on a
    stream of photos) ``block + 1`` times per turn, the first run untimed, then the other side has its turn; so
    each side is timed in its own steady state (its thread pools, caches and spinning threads, not the other
    side's), and load on the machine still hits both alike. ``repeats`` timed runs per side;
    ``{"<side> <stage>": {"mean_ms", "median_ms"}}``."""
    times = _in_turns(sides, warmup, repeats, block, True)
    return {f"{side} {stage}": _summary(values) for (side, stage), values in times.items()}


def _in_turns(
    groups: dict[str, dict[str, Callable[[], Any]]], warmup: int, repeats: int, block: int, untimed_first: bool
) -> dict[tuple[str, str], list[float]]:
    """Seconds per ``(group, stage)`` call: each group's stages in order, ``warmup`` times untimed, then in turns
    of ``block`` timed runs of one group (after one untimed run when ``untimed_first``) until ``repeats``."""
    for stages in groups.values():
        for _ in range(warmup):
            for run in stages.values():
                run()
    times: dict[tuple[str, str], list[float]] = {(g, s): [] for g, stages in groups.items() for s in stages}
    extra = int(untimed_first)
    for _ in range(-(-repeats // block)):
        for group, stages in groups.items():
            for call in range(block + extra):
                for stage, run in stages.items():
                    started = time.perf_counter()
                    run()
                    if call >= extra:
                        times[group, stage].append(time.perf_counter() - started)
    return times


def _summary(seconds: list[float]) -> dict[str, float]:
    return {"mean_ms": float(np.mean(seconds)) * 1e3, "median_ms": float(np.median(seconds)) * 1e3}
