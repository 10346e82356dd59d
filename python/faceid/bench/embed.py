"""Embedding latency, side by side in one run (Arcface-Paddle's CPU/GPU table for this machine).

Paths, all on the same exported model: ``faceid`` (the Recognizer: uint8 faces in, preprocessing included,
native loop when usable), the bare Paddle Inference predictor on a ready float batch (``.pdmodel`` and
``.json``) and ONNX Runtime on the ONNX export. Calls are interleaved round-robin and the median is kept.
Also: throughput with two concurrent callers (native vs Python backend) and bf16 vs fp32.
"""

from __future__ import annotations

import functools
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from faceid.bench.timing import interleaved

__all__ = ["format_embed_table", "run_embed_benchmark"]

# MobileFaceNet_128: 0.44 GFLOP per face; ~110 GFLOP/s per core measured on this machine's class of CPU.
GFLOP = {"MobileFaceNet_128": 0.44, "iresnet50": 6.3, "MobileFaceNet_slim": 0.05}


def _export(network: str, directory: Path) -> None:
    import paddle

    from faceid.export import export_model
    from faceid.models import create_model, model_spec

    paddle.seed(0)
    model = create_model(network)
    export_model(model, directory, network=network, embedding_size=model_spec(network).embedding_size, onnx=True)


def _paths(directory: Path, threads: int) -> dict[str, Callable[[np.ndarray, np.ndarray], Any]]:
    from faceid.infer import PaddlePredictor
    from faceid.pipeline import Recognizer

    recognizer = Recognizer(directory, threads=threads)
    pdmodel = PaddlePredictor(directory / "inference.pdmodel", directory / "inference.pdiparams", threads=threads)
    pir = PaddlePredictor(directory / "inference.json", directory / "inference.pdiparams", threads=threads)
    paths = {
        f"faceid Recognizer ({recognizer.backend})": lambda faces, batch: recognizer.embed(
            faces, batch_size=len(faces)
        ),
        "paddle predictor .pdmodel": lambda faces, batch: pdmodel.run(batch),
        "paddle predictor .json": lambda faces, batch: pir.run(batch),
    }
    try:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
        # No busy-waiting worker threads: they would steal the cores from the next path in the round-robin.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        session = ort.InferenceSession(str(directory / "inference.onnx"), options, providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        paths["onnxruntime"] = lambda faces, batch: session.run(None, {name: batch})
    except ImportError:
        pass
    return paths


def _interleaved(paths: dict[str, Callable], batch_size: int, repeats: int) -> dict[str, float]:
    """Median ms per face of each path on one random batch, the paths in turns (:func:`interleaved`)."""
    from faceid.ops.image import hwc_to_chw

    faces = np.random.default_rng(0).integers(0, 256, size=(batch_size, 112, 112, 3), dtype=np.uint8)
    batch = hwc_to_chw(faces)
    calls = {name: functools.partial(run, faces, batch) for name, run in paths.items()}
    return {name: t["median_ms"] / batch_size for name, t in interleaved(calls, warmup=1, repeats=repeats).items()}


def _callers(directory: Path, backend: str, callers: int, calls: int) -> float:
    """Faces per second with ``callers`` threads each embedding single faces through one Recognizer."""
    from faceid.pipeline import Recognizer

    recognizer = Recognizer(directory, threads=1, backend=backend)
    face = np.random.default_rng(1).integers(0, 256, size=(1, 112, 112, 3), dtype=np.uint8)
    recognizer.embed(face)

    def work() -> None:
        for _ in range(calls):
            recognizer.embed(face)

    threads = [threading.Thread(target=work) for _ in range(callers)]
    for t in threads:  # each thread's first call builds its predictor: warm them first
        t.start()
    for t in threads:
        t.join()
    threads = [threading.Thread(target=work) for _ in range(callers)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return callers * calls / (time.perf_counter() - started)


def _precision(directory: Path, precision: str, repeats: int) -> float | None:
    """ms/img at b=32 with 2 threads, or None when the Recognizer refused ``precision`` (it logs why)."""
    from faceid.pipeline import Recognizer

    recognizer = Recognizer(directory, threads=2, precision=precision)
    if recognizer.precision != precision:
        return None
    faces = np.random.default_rng(2).integers(0, 256, size=(32, 112, 112, 3), dtype=np.uint8)
    recognizer.embed(faces)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        recognizer.embed(faces)
        times.append(time.perf_counter() - started)
    return float(np.median(times)) * 1000 / 32


def run_embed_benchmark(network: str = "MobileFaceNet_128", *, repeats: int = 30, callers_calls: int = 60) -> dict:
    """Rows ``{path, batch, threads, ms_per_img}`` plus ``ratios`` (see the module docstring)."""
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="faceid-bench-") as tmp:
        directory = Path(tmp)
        _export(network, directory)
        for threads in (1, 2):
            paths = _paths(directory, threads)
            for batch_size, reps in ((1, repeats), (32, max(3, repeats // 6))):
                for name, ms in _interleaved(paths, batch_size, reps).items():
                    rows.append({"path": name, "batch": batch_size, "threads": threads, "ms_per_img": ms})
        callers = {
            f"{backend}_{n}": _callers(directory, backend, n, callers_calls)
            for backend in ("auto", "python")
            for n in (1, 2)
        }
        precision = {p: _precision(directory, p, max(3, repeats // 6)) for p in ("fp32", "bf16")}
    return {
        "network": network,
        "gflop": GFLOP.get(network),
        "rows": rows,
        "callers_img_per_s": callers,
        "precision_ms_per_img_b32_2t": precision,
        "ratios": _ratios(rows, callers, precision),
    }


def _ratios(rows: list[dict], callers: dict[str, float], precision: dict[str, float]) -> dict[str, float | None]:
    def ms(prefix: str, batch: int = 1, threads: int = 1) -> float | None:
        found = [
            r["ms_per_img"]
            for r in rows
            if r["path"].startswith(prefix) and r["batch"] == batch and r["threads"] == threads
        ]
        return found[0] if found else None

    faceid, bare, onnx = ms("faceid"), ms("paddle predictor .pdmodel"), ms("onnxruntime")
    return {
        "faceid_vs_bare_predictor_b1": faceid / bare if faceid and bare else None,
        "faceid_vs_onnxruntime_b1": faceid / onnx if faceid and onnx else None,
        "native_2callers_vs_1": callers["auto_2"] / callers["auto_1"],
        "python_2callers_vs_1": callers["python_2"] / callers["python_1"],
        "bf16_vs_fp32": precision["fp32"] / precision["bf16"] if precision["bf16"] else None,
    }


def format_embed_table(result: dict) -> str:
    """Markdown: ms/img per path, batch and threads, each row with its ratio to the bare .pdmodel predictor."""
    lines = [
        f"{result['network']} ({result['gflop']} GFLOP/face)",
        "",
        "| path | batch | threads | ms/img | vs bare .pdmodel |",
        "|---|---:|---:|---:|---:|",
    ]
    base = {(r["batch"], r["threads"]): r["ms_per_img"] for r in result["rows"] if r["path"].endswith(".pdmodel")}
    for r in result["rows"]:
        ratio = r["ms_per_img"] / base[(r["batch"], r["threads"])]
        lines.append(f"| {r['path']} | {r['batch']} | {r['threads']} | {r['ms_per_img']:.2f} | {ratio:.2f} |")
    lines.append("")
    lines += [f"- {k}: {v:.1f} faces/s" for k, v in result["callers_img_per_s"].items()]
    lines += [
        f"- {k} (b=32, 2 threads): " + ("refused: disagrees with fp32 here" if v is None else f"{v:.2f} ms/img")
        for k, v in result["precision_ms_per_img_b32_2t"].items()
    ]
    lines += [f"- {k}: {'n/a' if v is None else f'{v:.2f}x'}" for k, v in result["ratios"].items()]
    return "\n".join(lines)
