"""Detect -> align -> embed -> search on a 6-face 1080p photo: faceid vs the peer pipeline (LiteRT + ONNX Runtime),
one run (`faceid bench pipeline` runs the same code); skipped without ../shared."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from faceid.bench.pipeline import format_pipeline_table, run_pipeline_benchmark


def test_pipeline_stages(shared: Path) -> None:
    if not (shared / "models").is_dir() or not (shared / "data").is_dir():
        pytest.skip(f"shared data/models not found under {shared}")
    result = run_pipeline_benchmark(shared / "data", os.environ.get("FACEID_MODEL_SOURCE") or shared / "models")
    print("\n" + format_pipeline_table(result))
    Path(".benchmarks").mkdir(exist_ok=True)
    Path(".benchmarks/pipeline.json").write_text(json.dumps(result, indent=2) + "\n")
    assert result["faces"] == 6
