"""`faceid bench compare`'s pair statistics and `faceid bench detect` at the reference's configuration."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from faceid.bench.compare import _auc, _pair_stats

REPO = Path(__file__).resolve().parents[2]


def test_auc_is_the_share_of_same_person_pairs_above_different_person_pairs() -> None:
    rng = np.random.default_rng(0)
    same, different = rng.uniform(0.2, 0.9, 7), rng.uniform(0.0, 0.6, 11)
    different[0] = same[0]  # a tie counts half
    wins = sum(1.0 if s > d else 0.5 if s == d else 0.0 for s in same for d in different)
    assert _auc(same, different) == pytest.approx(wins / (7 * 11))


def test_pair_stats_split_pairs_by_name() -> None:
    embeddings = np.eye(3, dtype=np.float32)[[0, 0, 1, 2]]  # a, a, b, c: one same pair at 1, five others at 0
    embeddings[1] = [0.8, 0.6, 0.0]
    stats = _pair_stats(embeddings, ["a", "a", "b", "c"])
    assert stats["pairs"] == "1+5"
    assert stats["min_same"] == pytest.approx(0.8) and stats["max_different"] == pytest.approx(0.6)
    assert stats["auc"] == 1.0 and stats["gap"] == pytest.approx(0.2)


@pytest.mark.slow
def test_bench_detect_runs_the_reference_configuration_beside_faceids_paths(
    shared_data: Path, shared_models: Path, tmp_path: Path
) -> None:
    env = {**os.environ, "FACEID_HOME": str(tmp_path / "home"), "FACEID_MODEL_SOURCE": str(shared_models)}
    out = tmp_path / "detect.json"
    image = shared_data / "gallery_dev" / "query" / "kit_with_rose.jpg"
    result = subprocess.run(
        [sys.executable, "-m", "faceid", "bench", "detect", "--det_model", "blazeface_fpn_ssh", "--repeats", "2",
         "--image", str(image), "--json", str(out)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())
    assert report["model"] == "blazeface_fpn_ssh_1000e_v1.0_infer" and report["published_ms"] == 31.7
    paths = [row["path"] for row in report["rows"]]
    assert paths[0] == "reference config (predictor, 5 threads)" and report["rows"][0]["vs_reference_config"] == 1
    assert any(path.startswith("faceid FPN-SSH detector") for path in paths)
    assert all(row["mean_ms"] > 0 for row in report["rows"])
    # ONNX Runtime either ran or the reason it could not is reported
    assert any(p.startswith("onnxruntime") for p in paths) or "paddle2onnx" in report["skipped"]["onnxruntime"]
    assert "| reference config (predictor, 5 threads) |" in result.stdout
