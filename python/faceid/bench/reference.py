"""Arcface-Paddle's published models on this machine, measured the way the reference measured them.

* ``embed`` (``mobileface_v1.0_infer``): Arcface-Paddle's ``tools/benchmark_speed.py`` at its defaults: batch 1,
  oneDNN on, 10 CPU threads, a fresh ``np.random.rand`` input per call, 10 warm-up then timed calls of copy-in +
  ``run()`` + copy-out, the mean reported. Published: 4.3 ms on a Xeon Gold 6184 (reference doc 6.1).
* ``detect`` (``blazeface_fpn_ssh_1000e_v1.0_infer``): PaddleDetection's ``infer.py --run_benchmark`` with oneDNN
  and 5 CPU threads at 640x640. Published: 31.7 ms (reference doc 6.2).

Beside the reference configuration, the same model through faceid at this machine's core count: the Recognizer
(uint8 faces in, preprocessing included, native loop when usable) or the FPN-SSH detector (the wheel's
preprocessing included), the bare predictor, bf16 (kept only where it agrees with fp32), and ONNX Runtime when
paddle2onnx can convert the model. Paths are interleaved call by call so that other load on the machine hits
them alike; each row has its mean and median and its ratio to the reference configuration.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from faceid.bench.timing import interleaved

__all__ = ["format_reference_table", "run_reference_detect", "run_reference_embed"]

logger = logging.getLogger(__name__)

EMBED_MODEL, DETECT_MODEL = "mobileface_v1.0_infer", "blazeface_fpn_ssh_1000e_v1.0_infer"
REFERENCE_THREADS = {"embed": 10, "detect": 5}  # benchmark_speed.py's default; the wheel table's "cpu-threads 5"
PUBLISHED_MS = {"embed": 4.3, "detect": 31.7}
PUBLISHED_MACHINE = {"embed": "Xeon Gold 6184 @ 2.40 GHz", "detect": "Xeon Gold 6148/6184 @ 2.40 GHz"}
# multiply-adds x 2 per call; compute floor at ~110 GFLOP/s per core (paddle_3_3_1_facts: sgemm rate, this CPU)
GFLOP = {"embed": 0.44, "detect": None}
GFLOP_PER_CORE = 110.0


def _onnx_session(folder: Path, threads: int):
    """An ONNX Runtime session on the model of ``folder`` converted by paddle2onnx, or ``(None, reason)``. The
    conversion runs in a subprocess: paddle2onnx 2.1 exits the process when it cannot convert a program."""
    import subprocess
    import sys

    try:
        import onnxruntime as ort
    except ImportError:
        return None, "onnxruntime not installed"
    target = Path(tempfile.mkdtemp(prefix="faceid-bench-onnx-")) / "model.onnx"
    code = "import sys, paddle2onnx; paddle2onnx.export(sys.argv[1], sys.argv[2], save_file=sys.argv[3])"
    done = subprocess.run(
        [sys.executable, "-c", code, str(folder / "inference.pdmodel"), str(folder / "inference.pdiparams"),
         str(target)],
        capture_output=True, text=True, check=False, timeout=600,
    )  # fmt: skip
    if done.returncode != 0 or not target.is_file():
        errors = [line for line in (done.stdout + done.stderr).splitlines() if "ERROR" in line or "Error" in line]
        why = errors[-1].split("]", 1)[-1].strip()[:150] if errors else f"exit status {done.returncode}"
        return None, f"paddle2onnx cannot convert this legacy program ({why})"
    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(target), options, providers=["CPUExecutionProvider"]), ""


def _embed_paths(
    folder: Path, source: str | os.PathLike[str] | None, threads: int, skipped: dict[str, str]
) -> dict[str, Callable[[], Any]]:
    from faceid.infer import PaddlePredictor
    from faceid.pipeline import Recognizer

    rng = np.random.default_rng(0)
    face = rng.integers(0, 256, size=(1, 112, 112, 3), dtype=np.uint8)
    reference = PaddlePredictor(
        folder / "inference.pdmodel", folder / "inference.pdiparams", threads=REFERENCE_THREADS["embed"]
    )
    bare = PaddlePredictor(folder / "inference.pdmodel", folder / "inference.pdiparams", threads=threads)
    recognizer = Recognizer(folder, threads=threads)
    paths = {
        f"reference config (predictor, {REFERENCE_THREADS['embed']} threads)": lambda: reference.run(
            np.random.rand(1, 3, 112, 112).astype(np.float32)
        ),
        f"bare predictor ({threads} threads)": lambda: bare.run(np.random.rand(1, 3, 112, 112).astype(np.float32)),
        f"faceid Recognizer, {recognizer.backend} ({threads} threads)": lambda: recognizer.embed(face),
    }
    bf16 = Recognizer(folder, threads=threads, precision="bf16")
    if bf16.precision == "bf16":
        paths[f"faceid Recognizer bf16 ({threads} threads)"] = lambda: bf16.embed(face)
    else:
        skipped["bf16 (published program)"] = "refused: disagrees with fp32 on this legacy program (see the log)"
    session, reason = _onnx_session(folder, threads)
    if session is not None:
        name = session.get_inputs()[0].name
        paths[f"onnxruntime ({threads} threads)"] = lambda: session.run(
            None, {name: np.random.rand(1, 3, 112, 112).astype(np.float32)}
        )
    else:
        skipped["onnxruntime (published program)"] = reason
    paths.update(_faceid_graph_paths(face, source, threads, skipped))
    return paths


def _faceid_graph_paths(
    face: np.ndarray, source: str | os.PathLike[str] | None, threads: int, skipped: dict[str, str]
) -> dict[str, Callable[[], Any]]:
    """bf16 and ONNX Runtime on the same weights in faceid's MobileFaceNet_128 graph (its export reproduces the
    published program's embeddings; :func:`faceid.zoo.arcface_paddle.export_with_faceid_graph`)."""
    from faceid.pipeline import Recognizer
    from faceid.zoo.arcface_paddle import export_with_faceid_graph

    export = export_with_faceid_graph(EMBED_MODEL, source)
    paths: dict[str, Callable[[], Any]] = {}
    bf16 = Recognizer(export, threads=threads, precision="bf16")
    if bf16.precision == "bf16":
        paths[f"faceid Recognizer bf16, faceid graph of the same weights ({threads} threads)"] = lambda: bf16.embed(
            face
        )
    else:
        skipped["bf16 (faceid graph)"] = "refused: disagrees with fp32 on this CPU (see the log)"
    if (export / "inference.onnx").is_file():
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        session = ort.InferenceSession(str(export / "inference.onnx"), options, providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        paths[f"onnxruntime, faceid's ONNX of the same weights ({threads} threads)"] = lambda: session.run(
            None, {name: np.random.rand(1, 3, 112, 112).astype(np.float32)}
        )
    return paths


def _detect_paths(
    folder: Path, source: str | os.PathLike[str] | None, image: np.ndarray, threads: int, skipped: dict[str, str]
) -> dict[str, Callable[[], Any]]:
    from faceid.infer import PaddlePredictor
    from faceid.pipeline.fpn_ssh import FpnSshDetector, fpn_ssh_feeds

    feeds = fpn_ssh_feeds(image)
    reference = PaddlePredictor(
        folder / "inference.pdmodel", folder / "inference.pdiparams", threads=REFERENCE_THREADS["detect"]
    )
    bare = PaddlePredictor(folder / "inference.pdmodel", folder / "inference.pdiparams", threads=threads)
    detector = FpnSshDetector(DETECT_MODEL, model_source=source, threads=threads)
    paths = {
        f"reference config (predictor, {REFERENCE_THREADS['detect']} threads)": lambda: reference.run_feeds(feeds),
        f"bare predictor ({threads} threads)": lambda: bare.run_feeds(feeds),
        f"faceid FPN-SSH detector, preprocessing included ({threads} threads)": lambda: detector.detect(image),
    }
    bf16 = PaddlePredictor(
        folder / "inference.pdmodel", folder / "inference.pdiparams", threads=threads, precision="bf16"
    )
    expected, got = reference.run_feeds(feeds), bf16.run_feeds(feeds)
    boxes = [next(v for v in out.values() if v.ndim == 2) for out in (expected, got)]
    if boxes[0].shape == boxes[1].shape and np.allclose(boxes[0], boxes[1], atol=2.0):
        paths[f"bare predictor bf16 ({threads} threads)"] = lambda: bf16.run_feeds(feeds)
    else:
        skipped["bf16"] = f"refused: its boxes differ from fp32 ({boxes[1].shape[0]} vs {boxes[0].shape[0]} rows)"
    session, reason = _onnx_session(folder, threads)
    if session is not None:
        paths[f"onnxruntime ({threads} threads)"] = lambda: session.run(None, feeds)
    else:
        skipped["onnxruntime"] = reason
    return paths


def _result(kind: str, model: str, timings: dict, skipped: dict[str, str], threads: int) -> dict[str, Any]:
    rows = [{"path": name, **values} for name, values in timings.items()]
    base = rows[0]["mean_ms"]
    for row in rows:
        row["vs_reference_config"] = row["mean_ms"] / base
    gflop = GFLOP[kind]
    return {
        "kind": kind,
        "model": model,
        "rows": rows,
        "skipped": skipped,
        "published_ms": PUBLISHED_MS[kind],
        "published_machine": PUBLISHED_MACHINE[kind],
        "machine": f"{os.cpu_count()} CPU cores (shared with other jobs while measured)",
        "compute_floor_ms": None if gflop is None else gflop / (GFLOP_PER_CORE * threads) * 1e3,
        "threads": threads,
    }


def run_reference_embed(
    source: str | os.PathLike[str] | None = None, *, threads: int = 2, warmup: int = 10, repeats: int = 500
) -> dict[str, Any]:
    """``mobileface_v1.0_infer`` at batch 1 (see the module docstring); ``repeats`` timed calls per path."""
    from faceid.zoo import convert

    folder = convert(EMBED_MODEL, source)
    skipped: dict[str, str] = {}
    timings = interleaved(_embed_paths(folder, source, threads, skipped), warmup, repeats)
    return _result("embed", EMBED_MODEL, timings, skipped, threads)


def run_reference_detect(
    image: np.ndarray,
    source: str | os.PathLike[str] | None = None,
    *,
    threads: int = 2,
    warmup: int = 10,
    repeats: int = 100,
) -> dict[str, Any]:
    """``blazeface_fpn_ssh_1000e_v1.0_infer`` on one BGR ``image`` (resized to 640x640 as the wheel does)."""
    from faceid.zoo import convert

    folder = convert(DETECT_MODEL, source)
    skipped: dict[str, str] = {}
    timings = interleaved(_detect_paths(folder, source, image, threads, skipped), warmup, repeats)
    return _result("detect", DETECT_MODEL, timings, skipped, threads)


def format_reference_table(result: dict[str, Any]) -> str:
    """Markdown: mean/median ms per path, the ratio to the reference configuration, the published figure."""
    floor = result["compute_floor_ms"]
    title = f"{result['model']} at batch 1 on {result['machine']}; published: {result['published_ms']} ms "
    title += f"({result['published_machine']})"
    if floor:
        title += f"; compute floor at {result['threads']} cores: {floor:.2f} ms"
    lines = [
        title,
        "",
        "| path | mean ms | median ms | vs reference config |",
        "|---|---:|---:|---:|",
    ]
    for row in result["rows"]:
        lines.append(
            f"| {row['path']} | {row['mean_ms']:.2f} | {row['median_ms']:.2f} | {row['vs_reference_config']:.2f} |"
        )
    lines += [f"- {name}: {why}" for name, why in result["skipped"].items()]
    return "\n".join(lines)
