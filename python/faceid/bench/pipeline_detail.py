"""The two side measurements of ``faceid bench pipeline``: detection alone (faceid vs LiteRT on the same tile
batch, 1 and 2 threads, inference and tile preparation apart) and MobileFaceNet at batch 1 against its fp32
compute floor.

The floor: MobileFaceNet's FLOPs per face (:data:`faceid.bench.reference.GFLOP`, multiply-adds x 2) over this
CPU's peak fp32 rate per thread, measured here as the best of 12 1024 x 1024 x 1024 float32 GEMMs in numpy's
BLAS limited to one thread (2 x 1024^3 FLOPs each; taken before and after the timed calls, the better kept),
times the threads used.
"""

from __future__ import annotations

import logging
import os
import time

import numpy as np

from faceid.bench.timing import interleaved

__all__ = ["detection_alone", "format_detail", "machine", "peak_gflops_per_thread", "recognizer_floor"]

logger = logging.getLogger(__name__)

_GEMM_SIZE, _GEMM_TRIES = 1024, 12  # many short tries: the best one likely ran alone on its core


def machine() -> dict:
    """The CPU model, its logical cores and whether it has bf16 instructions (:func:`faceid.infer.cpu.cpu_has_bf16`)."""
    from faceid.infer.cpu import cpu_has_bf16

    name = "unknown"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            name = next((v.strip() for k, _, v in (line.partition(":") for line in info) if k.strip() == "model name"),
                        name)  # fmt: skip
    except OSError:
        pass
    return {"cpu": name, "cores": os.cpu_count(), "avx512_bf16": cpu_has_bf16()}


def peak_gflops_per_thread(size: int = _GEMM_SIZE, tries: int = _GEMM_TRIES) -> float:
    """This CPU's fp32 GEMM rate with numpy's BLAS on one thread: the best of ``tries`` size^3 products."""
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(0)
    a, b = rng.random((size, size), dtype=np.float32), rng.random((size, size), dtype=np.float32)
    best = np.inf
    with threadpool_limits(limits=1, user_api="blas"):
        a @ b  # warm-up
        for _ in range(tries):
            started = time.perf_counter()
            a @ b
            best = min(best, time.perf_counter() - started)
    return 2 * size**3 / best / 1e9


def _faceid_detector(detector, model_source, threads: int):
    """faceid's detector at ``threads`` and the precision ``detector`` runs."""
    from faceid.pipeline.detector import FaceDetector

    return FaceDetector(detector.record.name, model_source=model_source, threads=threads, precision=detector.precision)


def _faceid_prep(detector, image: np.ndarray, tiles: list, threads: int) -> np.ndarray:
    """faceid's tile batch (N, 3, S, S), made as FaceDetector makes it before inference (the native op)."""
    from faceid.ops.detect import tile_batch

    return tile_batch(image, tiles, detector.input_size, num_threads=threads)[0]


def detection_alone(detector, peer, image: np.ndarray, model_source, *, repeats: int) -> dict:
    """faceid vs LiteRT on one tile batch at 1 and 2 threads: inference (the same float batch, made by the
    peer), and tile preparation (each side's own), median ms and faceid / LiteRT."""
    from faceid.bench.peer import PeerDetector

    tiles = list(peer.detector.config.tiles)
    batch = peer.detector.prepare(image).copy()
    nchw = np.ascontiguousarray(batch.transpose(0, 3, 1, 2))
    rows = []
    for threads in (1, 2):
        litert = PeerDetector(peer.detector.tflite, peer.detector.config, threads=threads)
        ours = _faceid_detector(detector, model_source, threads)
        paths = {
            "litert infer": lambda lit=litert: lit.infer(batch),
            "litert prep": lambda lit=litert: lit.prepare(image),
            "faceid infer": lambda det=ours: det.run(nchw),
            "faceid prep": lambda det=ours, n=threads: _faceid_prep(det, image, tiles, n),
        }
        timed = {name: t["median_ms"] for name, t in interleaved(paths, warmup=2, repeats=repeats, block=4).items()}
        row = {"threads": threads, "precision": ours.precision}
        row |= {k.replace(" ", "_") + "_ms": v for k, v in timed.items()}
        row["infer_ratio"] = timed["faceid infer"] / timed["litert infer"]
        row["prep_ratio"] = timed["faceid prep"] / timed["litert prep"]
        rows.append(row)
    return {"tiles": len(tiles), "rows": rows}


def recognizer_floor(model_source, *, threads: int, repeats: int) -> dict:
    """MobileFaceNet (the default recogniser's weights in faceid's graph) at batch 1, bf16 where this CPU and
    Paddle keep it at fp32's embeddings, and fp32, at 1 and ``threads`` threads, against the fp32 floor."""
    from faceid.bench.reference import GFLOP
    from faceid.pipeline import Recognizer
    from faceid.zoo.arcface_paddle import export_with_faceid_graph
    from faceid.zoo.defaults import DEFAULT_REC

    export = export_with_faceid_graph(DEFAULT_REC, model_source)
    face = np.random.default_rng(0).uniform(-1, 1, size=(1, 3, 112, 112)).astype(np.float32)
    paths, meta = {}, {}
    for count in sorted({1, threads}):
        for precision in ("bf16", "fp32"):
            recognizer = Recognizer(export, threads=count, precision=precision)
            if recognizer.precision != precision:
                continue  # bf16 refused on this CPU (the Recognizer logs why)
            name = f"{precision} {count}"
            paths[name], meta[name] = (lambda r=recognizer: r.run_batch(face)), (precision, count, recognizer.backend)
    before = peak_gflops_per_thread()
    timed = {}
    for count in sorted({1, threads}):  # fewer threads first: a 2-thread predictor's OpenMP worker spins ~200 ms
        group = {name: run for name, run in paths.items() if meta[name][1] == count}
        timed |= interleaved(group, warmup=5, repeats=repeats, block=5)
    peak = max(before, peak_gflops_per_thread())  # before and after: a shared machine's quieter moment
    rows = []
    for name, (precision, count, backend) in meta.items():
        floor = GFLOP["embed"] / (peak * count) * 1e3
        ms = timed[name]["median_ms"]
        rows.append({"threads": count, "precision": precision, "backend": backend, "ms": ms, "floor_ms": floor,
                     "ratio": ms / floor})  # fmt: skip
    return {
        "model": f"{DEFAULT_REC} (faceid's MobileFaceNet_128 graph)",
        "gflop": GFLOP["embed"],
        "peak_gflops_per_thread": peak,
        "floor": f"{GFLOP['embed']} GFLOP / (peak fp32 GFLOP/s per thread x threads); peak: best "
        f"{_GEMM_SIZE}^3 float32 GEMM in numpy's BLAS on 1 thread (2 x {_GEMM_TRIES} tries)",
        "rows": rows,
    }


def format_detail(result: dict) -> str:
    """Detection alone and MobileFaceNet's floor as Markdown tables."""
    alone = result["detection_alone"]
    lines = [
        f"Detection alone, the same batch of {alone['tiles']} tiles (faceid vs LiteRT):",
        "",
        "| threads | faceid precision | faceid infer ms | LiteRT infer ms | ratio | faceid prep ms | peer cv2 prep ms "
        "| ratio |",
        "|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in alone["rows"]:
        lines.append(
            f"| {row['threads']} | {row['precision']} | {row['faceid_infer_ms']:.2f} | {row['litert_infer_ms']:.2f} | "
            f"{row['infer_ratio']:.2f} | {row['faceid_prep_ms']:.2f} | {row['litert_prep_ms']:.2f} | "
            f"{row['prep_ratio']:.2f} |"
        )
    floor = result["mobilefacenet"]
    lines += [
        "",
        f"MobileFaceNet batch 1 ({floor['model']}); floor = {floor['floor']} "
        f"({floor['peak_gflops_per_thread']:.1f} GFLOP/s):",
        "",
        "| threads | precision | backend | ms | fp32 floor ms | ms / floor |",
        "|---:|---|---|---:|---:|---:|",
    ]
    for row in floor["rows"]:
        lines.append(f"| {row['threads']} | {row['precision']} | {row['backend']} | {row['ms']:.2f} | "
                     f"{row['floor_ms']:.2f} | {row['ratio']:.2f} |")  # fmt: skip
    machine_info = result["machine"]
    lines += ["", f"Machine: {machine_info['cpu']}, {machine_info['cores']} logical cores, "
              f"AVX512_BF16: {'yes' if machine_info['avx512_bf16'] else 'no'}"]  # fmt: skip
    return "\n".join(lines)
