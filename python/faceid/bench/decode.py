"""Decode throughput: cv2.imdecode alone vs the numpy pipeline vs faceid's native decoder.

All measured in one process on the same corpus; each row is the best of ``repeats`` passes
(the least disturbed by other load), reported as images per second, and compared as ratios.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from faceid.data.batch_reader import NativeBatchReader, PythonBatchReader


def _best_rate(run: Callable[[], int], repeats: int) -> float:
    best = float("inf")
    count = 0
    for _ in range(repeats):
        start = time.perf_counter()
        count = run()
        best = min(best, time.perf_counter() - start)
    return count / best


def cv2_decode_pass(blobs: Sequence[np.ndarray]) -> Callable[[], int]:
    """cv2.imdecode of every image, bytes already in memory: the floor of decoding."""
    import cv2

    def run() -> int:
        for blob in blobs:
            cv2.imdecode(blob, cv2.IMREAD_COLOR)
        return len(blobs)

    return run


def reader_pass(
    reader: NativeBatchReader | PythonBatchReader, count: int, batch_size: int, dtype: type = np.float32
) -> Callable[[], int]:
    """Decode every image into ``dtype`` batches through ``reader`` (files read from disk)."""
    out = np.empty((batch_size, 3, 112, 112), dtype=dtype)
    flips = np.random.default_rng(0).integers(0, 2, count).astype(np.uint8)

    def run() -> int:
        for start in range(0, count, batch_size):
            indices = np.arange(start, min(start + batch_size, count))
            failures = reader.submit(indices, flips[indices], out[: len(indices)]).wait()
            if failures:
                raise failures[0].error()
        return count

    return run


def run_decode_benchmark(paths: Sequence[Path], *, batch_size: int = 128, repeats: int = 3) -> dict:
    """Rows of img/s and the ratios the README reports."""
    import cv2

    cv2.setNumThreads(1)  # imdecode is single-threaded; keep OpenCV's pool out of the numbers
    blobs = [np.fromfile(p, dtype=np.uint8) for p in paths]
    passes = {
        "cv2.imdecode (bytes in memory)": cv2_decode_pass(blobs),
        "numpy pipeline (cv2 + flip + normalise + CHW)": reader_pass(PythonBatchReader(paths), len(paths), batch_size),
        "faceid native, 1 thread": reader_pass(NativeBatchReader(paths, 1), len(paths), batch_size),
        "faceid native, 2 threads": reader_pass(NativeBatchReader(paths, 2), len(paths), batch_size),
        "faceid native, 1 thread, uint8 output (no normalise)": reader_pass(
            NativeBatchReader(paths, 1), len(paths), batch_size, np.uint8
        ),
    }
    rates = {name: _best_rate(run, repeats) for name, run in passes.items()}
    names = list(rates)
    return {
        "rows": [{"name": name, "img_per_s": round(rate, 1)} for name, rate in rates.items()],
        "ratios": {
            "native_1t_vs_numpy": round(rates[names[2]] / rates[names[1]], 3),
            "native_1t_vs_cv2_decode": round(rates[names[2]] / rates[names[0]], 3),
            "native_2t_vs_1t": round(rates[names[3]] / rates[names[2]], 3),
            "native_1t_uint8_vs_cv2_decode": round(rates[names[4]] / rates[names[0]], 3),
        },
        "images": len(paths),
        "batch_size": batch_size,
    }


def format_table(result: dict) -> str:
    width = max(len(r["name"]) for r in result["rows"])
    lines = [f"{'path':<{width}}  img/s", f"{'-' * width}  --------"]
    lines += [f"{r['name']:<{width}}  {r['img_per_s']:>8.1f}" for r in result["rows"]]
    lines += [f"{name}: {value:.2f}x" for name, value in result["ratios"].items()]
    return "\n".join(lines)
