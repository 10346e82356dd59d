"""`faceid bench serve` end to end at a tiny size: it starts its own server on loopback, loads it, compares with
in-process FaceAnalysis on the same photos and writes the issue's JSON keys."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="faceid[serve] is not installed")
REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_bench_serve_runs_both_sides_and_reports_the_ratio(shared_data: Path, shared_models: Path, tmp_path: Path):
    env = {**os.environ, "FACEID_HOME": str(tmp_path / "home"), "FACEID_MODEL_SOURCE": str(shared_models)}
    out = tmp_path / "serve.json"
    result = subprocess.run(
        [sys.executable, "-m", "faceid", "bench", "serve", "--clients", "2", "--requests", "4",
         "--shared", str(shared_data), "--json", str(out)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())
    assert report["errors"] == 0 and report["requests"] == 4 and report["clients"] == 2
    http, sequential, threaded = report["rows"]
    assert http["path"] == "HTTP identify, 2 clients" and threaded["path"] == "in-process FaceAnalysis, 2 threads"
    best = max(sequential["requests_per_s"], threaded["requests_per_s"])
    assert report["ratios"]["http_vs_inprocess"] == pytest.approx(http["requests_per_s"] / best)
    assert 0 < http["p50_ms"] <= http["p99_ms"] == report["p99_ms"]
    assert report["rss_mb"]["before"] > 0 and len(report["rss_mb"]["after_each_round"]) >= 1
    assert "| HTTP identify, 2 clients |" in result.stdout
