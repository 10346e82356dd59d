"""Embedding latency: the Recognizer vs the bare Paddle predictor vs ONNX Runtime, interleaved in one run
(`faceid bench embed` runs the same code). ``FACEID_BENCH_EMBED_NETWORKS`` picks the networks
(default ``MobileFaceNet_128,iresnet50``)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from faceid.bench.embed import format_embed_table, run_embed_benchmark

NETWORKS = os.environ.get("FACEID_BENCH_EMBED_NETWORKS", "MobileFaceNet_128,iresnet50").split(",")


@pytest.fixture(scope="module")
def mobileface_export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from faceid.bench.embed import _export

    directory = tmp_path_factory.mktemp("mfn")
    _export("MobileFaceNet_128", directory)
    return directory


@pytest.mark.benchmark(group="embed-b1")
@pytest.mark.parametrize("path", ["recognizer", "predictor"])
def test_embed_one_face(benchmark, mobileface_export: Path, path: str) -> None:
    from faceid.infer import PaddlePredictor
    from faceid.ops.image import hwc_to_chw
    from faceid.pipeline import Recognizer

    face = np.random.default_rng(0).integers(0, 256, size=(1, 112, 112, 3), dtype=np.uint8)
    if path == "recognizer":
        recognizer = Recognizer(mobileface_export)
        benchmark.extra_info["backend"] = recognizer.backend
        benchmark.pedantic(recognizer.embed, args=(face,), rounds=30, warmup_rounds=3)
    else:
        predictor = PaddlePredictor(mobileface_export / "inference.pdmodel", mobileface_export / "inference.pdiparams")
        benchmark.pedantic(predictor.run, args=(hwc_to_chw(face),), rounds=30, warmup_rounds=3)


@pytest.mark.parametrize("network", NETWORKS)
def test_embed_latency_table(network: str) -> None:
    """The README table: every path interleaved in one call, reported as ratios."""
    result = run_embed_benchmark(network, repeats=30 if network != "iresnet50" else 8)
    print("\n" + format_embed_table(result))
    out = Path(".benchmarks")
    out.mkdir(exist_ok=True)
    (out / f"embed_{network}.json").write_text(json.dumps(result, indent=2) + "\n")
    assert all(row["ms_per_img"] > 0 for row in result["rows"])
