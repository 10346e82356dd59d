"""Detect -> align -> embed -> search on a 6-face 1080p photo: faceid vs the insightface-style Python path, one
run (`faceid bench pipeline` runs the same code); skipped without ../shared."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from faceid.bench.pipeline import format_pipeline_table, run_pipeline_benchmark

SHARED = Path(os.environ.get("FACEID_SHARED", Path(__file__).resolve().parents[1].parent / "shared"))


def test_pipeline_stages() -> None:
    if not (SHARED / "models").is_dir() or not (SHARED / "data").is_dir():
        pytest.skip(f"shared data/models not found under {SHARED}")
    result = run_pipeline_benchmark(SHARED / "data", os.environ.get("FACEID_MODEL_SOURCE") or SHARED / "models")
    print("\n" + format_pipeline_table(result))
    Path(".benchmarks").mkdir(exist_ok=True)
    Path(".benchmarks/pipeline.json").write_text(json.dumps(result, indent=2) + "\n")
    assert result["faces"] == 6
