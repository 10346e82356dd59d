"""BlazeFace tile preparation on a 1920x1080 photo with the short-range detector's 22 tiles, side by side in one run:
the native op (``tile_batch``, one C++ pass into the NCHW batch; on 2 threads and on 1) and the Python/OpenCV path
it replaced (``tile_batch_reference``: 3 cv2 resizes in a 2-thread pool, crops, letterbox, stack, transpose).
Skipped without ../shared."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from faceid.ops.detect import tile_batch, tile_batch_reference, tile_grid

PHOTO = "data/gallery_dev/query/obama_and_biden.jpg"
SIZE = 128  # short range
THREADS = 2


@pytest.fixture(scope="module")
def photo(shared: Path) -> np.ndarray:
    """The group photo cropped to 16:9 and resized to 1920x1080 (BGR uint8)."""
    import cv2

    image = cv2.imread(str(shared / PHOTO), cv2.IMREAD_COLOR)
    if image is None:
        pytest.skip(f"{PHOTO} not found under {shared}")
    height = image.shape[1] * 9 // 16
    top = (image.shape[0] - height) // 2
    return cv2.resize(image[top : top + height], (1920, 1080), interpolation=cv2.INTER_AREA)


@pytest.fixture(scope="module")
def pool() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(max_workers=THREADS) as executor:
        yield executor


def _paths(photo: np.ndarray, pool: ThreadPoolExecutor) -> dict[str, Callable[[], object]]:
    tiles = tile_grid(*photo.shape[:2])
    assert len(tiles) == 22
    return {
        "native": lambda: tile_batch(photo, tiles, SIZE, num_threads=THREADS),
        "native_1_thread": lambda: tile_batch(photo, tiles, SIZE, num_threads=1),
        "opencv": lambda: tile_batch_reference(photo, tiles, SIZE, pool.map),
    }


@pytest.mark.benchmark(group="tile_prep")
@pytest.mark.parametrize("path", ["native", "native_1_thread", "opencv"])
def test_tile_prep(benchmark, photo: np.ndarray, pool: ThreadPoolExecutor, path: str) -> None:
    run = _paths(photo, pool)[path]
    batch, placed = benchmark.pedantic(run, rounds=30, iterations=1, warmup_rounds=3)
    assert batch.shape == (22, 3, SIZE, SIZE) and len(placed) == 22


def test_tile_prep_ratio(photo: np.ndarray, pool: ThreadPoolExecutor) -> None:
    """Both paths interleaved (so both see the same machine load), ms per photo and the ratio."""
    paths = _paths(photo, pool)
    times: dict[str, list[float]] = {name: [] for name in paths}
    for _ in range(3):  # warm-up: thread pools, page faults
        for run in paths.values():
            run()
    for _ in range(40):
        for name, run in paths.items():
            start = time.perf_counter()
            run()
            times[name].append((time.perf_counter() - start) * 1e3)
    result = {
        name: {"median_ms": float(np.median(t)), "min_ms": float(np.min(t)), "max_ms": float(np.max(t))}
        for name, t in times.items()
    }
    result["speedup_median"] = result["opencv"]["median_ms"] / result["native"]["median_ms"]
    result["setup"] = {"image": "1920x1080", "tiles": 22, "size": SIZE, "threads": THREADS, "runs": 40}
    print(
        "\n"
        + "\n".join(
            f"{name:>15}: median {r['median_ms']:.2f} ms (min {r['min_ms']:.2f}, max {r['max_ms']:.2f})"
            for name, r in result.items()
            if name in paths
        )
        + f"\n  ratio: {result['speedup_median']:.1f}x"
    )
    Path(".benchmarks").mkdir(exist_ok=True)
    Path(".benchmarks/tile_prep.json").write_text(json.dumps(result, indent=2) + "\n")
    assert result["native"]["median_ms"] > 0
