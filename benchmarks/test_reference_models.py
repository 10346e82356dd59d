"""Arcface-Paddle's published models on this machine (`faceid bench embed --model mobileface_v1.0_infer` and
`faceid bench detect --det_model blazeface_fpn_ssh` run the same code): the reference's own configuration (batch 1,
oneDNN, 10 / 5 threads) beside faceid's paths, next to the published 4.3 ms / 31.7 ms. ``FACEID_BENCH_REPEATS``
sets the timed calls per path (default: the reference's 500 for embed, 100 for detect)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from faceid.bench.reference import format_reference_table, run_reference_detect, run_reference_embed

SHARED = Path(os.environ.get("FACEID_SHARED", Path(__file__).resolve().parents[1].parent / "shared"))
SOURCE = Path(os.environ.get("FACEID_MODEL_SOURCE") or SHARED / "models")
REPEATS = os.environ.get("FACEID_BENCH_REPEATS")
PHOTO = SHARED / "data" / "gallery_dev" / "query" / "obama_and_biden.jpg"

pytestmark = pytest.mark.skipif(not (SOURCE / "seed").is_dir(), reason=f"no published models under {SOURCE}/seed")


def _save(result: dict, name: str) -> None:
    print("\n" + format_reference_table(result))
    out = Path(".benchmarks")
    out.mkdir(exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")


@pytest.mark.benchmark(group="reference-models")
def test_mobileface_v1_recognizer_one_face(benchmark) -> None:
    from faceid.pipeline import Recognizer

    recognizer = Recognizer("mobileface_v1.0_infer", model_source=SOURCE, threads=2)
    face = np.random.default_rng(0).integers(0, 256, size=(1, 112, 112, 3), dtype=np.uint8)
    benchmark.extra_info.update(backend=recognizer.backend, published_ms=4.3)
    benchmark.pedantic(recognizer.embed, args=(face,), rounds=100, warmup_rounds=10)


@pytest.mark.benchmark(group="reference-models")
def test_fpn_ssh_detector_one_photo(benchmark) -> None:
    from faceid.pipeline.fpn_ssh import FpnSshDetector

    detector = FpnSshDetector("blazeface_fpn_ssh", model_source=SOURCE, threads=2)
    benchmark.extra_info.update(published_ms=31.7)
    benchmark.pedantic(detector.detect, args=(cv2.imread(str(PHOTO)),), rounds=20, warmup_rounds=3)


def test_reference_embed_table() -> None:
    result = run_reference_embed(SOURCE, repeats=int(REPEATS or 500))
    _save(result, "reference_embed")
    assert all(row["mean_ms"] > 0 for row in result["rows"])


def test_reference_detect_table() -> None:
    result = run_reference_detect(cv2.imread(str(PHOTO)), SOURCE, repeats=int(REPEATS or 100))
    _save(result, "reference_detect")
    assert all(row["mean_ms"] > 0 for row in result["rows"])
