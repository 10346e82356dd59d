"""BlazeFace short-range inference alone: faceid's detector (native loop, fp32 and bf16) vs Google's LiteRT
(``ai_edge_litert``, XNNPACK) running the original ``.tflite``, on the same batch of 22 tiles of a 1080p photo
(:func:`faceid.bench.pipeline.group_photo` tiled the way ``FaceDetector.detect`` tiles it), 1 and 2 threads.

LiteRT gets the batch NHWC, its input resized to (22, 128, 128, 3) with ``resize_tensor_input``; faceid gets it
NCHW. Only the network runs (no tile preparation, decoding or NMS). ``test_detect_vs_litert_table`` interleaves
every configuration in one run and reports faceid / LiteRT ratios at equal threads (written to
``.benchmarks/detect_litert.json``); the ``benchmark`` tests give pytest-benchmark's own statistics.
Skipped without ``ai-edge-litert`` (``pip install faceid[bench]``) or without ../shared.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("ai_edge_litert", reason="LiteRT is not installed (pip install 'faceid[bench]')")

TFLITE = "blazeface/face_detection_short_range.tflite"
THREADS = (1, 2)
ROUNDS = int(os.environ.get("FACEID_BENCH_DETECT_ROUNDS", "5"))  # interleaved rounds of 10 runs per configuration


@pytest.fixture(scope="module")
def model_source(shared: Path) -> Path:
    if not (shared / "models" / TFLITE).is_file() or not (shared / "data").is_dir():
        pytest.skip(f"{TFLITE} or the shared photos not found under {shared}")
    return shared / "models"


@pytest.fixture(scope="module")
def tiles(shared: Path, model_source: Path) -> np.ndarray:
    """The float32 (22, 3, 128, 128) RGB [-1, 1] batch FaceDetector runs for the 1920x1080 group photo."""
    from faceid.bench.pipeline import group_photo
    from faceid.ops.detect import tile_grid, tile_inputs

    image = group_photo(shared / "data")
    prepared = tile_inputs(image, tile_grid(*image.shape[:2], (1.0, 0.5, 0.35)), 128)
    batch = np.ascontiguousarray(np.stack([p[0] for p in prepared]).transpose(0, 3, 1, 2))
    assert batch.shape == (22, 3, 128, 128)
    return batch


def _litert(model_source: Path, tiles: np.ndarray, threads: int) -> Callable[[], list[np.ndarray]]:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(model_source / TFLITE), num_threads=threads)
    index = interpreter.get_input_details()[0]["index"]
    interpreter.resize_tensor_input(index, [len(tiles), 128, 128, 3])
    interpreter.allocate_tensors()
    nhwc = np.ascontiguousarray(tiles.transpose(0, 2, 3, 1))
    outputs = [detail["index"] for detail in interpreter.get_output_details()]

    def run() -> list[np.ndarray]:
        interpreter.set_tensor(index, nhwc)
        interpreter.invoke()
        return [interpreter.get_tensor(i) for i in outputs]

    return run


def _faceid(model_source: Path, tiles: np.ndarray, threads: int, precision: str):
    from faceid.pipeline.detector import FaceDetector

    detector = FaceDetector(model_source=model_source, threads=threads, precision=precision)
    return detector, lambda: detector.run(tiles)


def _configurations(model_source: Path, tiles: np.ndarray) -> dict[str, tuple[str, int, Callable[[], object]]]:
    """name -> (kind, threads, run); the faceid names say the precision and engine that actually run."""
    configs = {}
    for threads in THREADS:
        for precision in ("fp32", "bf16"):
            detector, run = _faceid(model_source, tiles, threads, precision)
            name = f"faceid {detector.engine} {detector.precision} (asked {precision}), {threads} thr"
            configs[name] = ("faceid", threads, run)
        configs[f"LiteRT XNNPACK, {threads} thr"] = ("litert", threads, _litert(model_source, tiles, threads))
    return configs


def _interleaved(configs: dict, rounds: int, runs: int = 10) -> dict[str, list[float]]:
    for _, _, run in configs.values():  # warm-up: oneDNN / XNNPACK plans for this batch shape
        for _ in range(3):
            run()
    times: dict[str, list[float]] = {name: [] for name in configs}
    for _ in range(rounds):
        for name, (_, _, run) in configs.items():
            time.sleep(0.2)  # let the other configuration's spinning worker threads go idle
            for _ in range(runs):
                started = time.perf_counter()
                run()
                times[name].append(time.perf_counter() - started)
    return times


def test_detect_vs_litert_table(model_source: Path, tiles: np.ndarray) -> None:
    """Every configuration interleaved in one run; ratios faceid / LiteRT of the median, threads equal."""
    configs = _configurations(model_source, tiles)
    times = _interleaved(configs, ROUNDS)
    rows = []
    for name, (kind, threads, _) in configs.items():
        median, p10 = float(np.median(times[name])) * 1e3, float(np.percentile(times[name], 10)) * 1e3
        rows.append({"config": name, "kind": kind, "threads": threads, "median_ms": median, "p10_ms": p10})
    litert = {row["threads"]: row for row in rows if row["kind"] == "litert"}
    for row in rows:
        peer = litert[row["threads"]]
        row["ratio_vs_litert"] = row["median_ms"] / peer["median_ms"]
        row["p10_ratio_vs_litert"] = row["p10_ms"] / peer["p10_ms"]
    lines = [
        "| configuration (22 tiles 128x128) | median ms | p10 ms | ratio vs LiteRT (median / p10) |",
        "|---|---:|---:|---:|",
    ]
    lines += [
        f"| {r['config']} | {r['median_ms']:.1f} | {r['p10_ms']:.1f} | "
        f"{r['ratio_vs_litert']:.2f} / {r['p10_ratio_vs_litert']:.2f} |"
        for r in rows
    ]
    print("\n" + "\n".join(lines))
    Path(".benchmarks").mkdir(exist_ok=True)
    result = {"batch": list(tiles.shape), "rounds": ROUNDS, "rows": rows}
    Path(".benchmarks/detect_litert.json").write_text(json.dumps(result, indent=2) + "\n")
    assert all(row["median_ms"] > 0 for row in rows)


@pytest.mark.benchmark(group="detect-22-tiles")
@pytest.mark.parametrize("threads", THREADS)
@pytest.mark.parametrize("runtime", ["faceid-fp32", "faceid-bf16", "litert"])
def test_detect_batch(benchmark, model_source: Path, tiles: np.ndarray, runtime: str, threads: int) -> None:
    if runtime == "litert":
        run = _litert(model_source, tiles, threads)
    else:
        detector, run = _faceid(model_source, tiles, threads, runtime.split("-")[1])
        benchmark.extra_info.update(engine=detector.engine, precision=detector.precision)
    benchmark.extra_info["threads"] = threads
    benchmark.pedantic(run, rounds=20, warmup_rounds=3)
