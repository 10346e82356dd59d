"""`faceid eval --gallery DIR --probe DIR --report OUT` end to end on gallery_dev: known people found at rank 1,
strangers below the threshold, the JSON and the DET curve written."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import pytest


@pytest.mark.slow
def test_open_set_eval_on_gallery_dev(shared_data: Path, shared_models: Path, tmp_path: Path) -> None:
    probes = tmp_path / "probes"
    query, faces = shared_data / "gallery_dev" / "query", shared_data / "faces"
    for person, photo in [("obama", query / "obama1.jpg"), ("kit_harington", query / "johnsnow_test1.jpg"),
                          ("rob_lowe", faces / "lfw_Rob_Lowe_0001.jpg"),
                          ("nathalie_baye", faces / "lfw_Nathalie_Baye_0002.jpg")]:  # fmt: skip
        (probes / person).mkdir(parents=True)
        shutil.copy(photo, probes / person / photo.name)
    env = {**os.environ, "FACEID_HOME": str(tmp_path / "home"), "FACEID_MODEL_SOURCE": str(shared_models)}
    result = subprocess.run(
        [sys.executable, "-m", "faceid", "eval", "--gallery", str(shared_data / "gallery_dev" / "train"),
         "--probe", str(probes), "--report", str(tmp_path / "report")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "report" / "open_set.json").read_text())
    assert (report["mated_probes"], report["non_mated_probes"], report["gallery_subjects"]) == (2, 2, 5)
    assert report["rank_1"] == 1.0  # both known people are their own best match
    best = {p["probe"]: (p["best"], p["score"]) for p in report["probes"]}
    assert best["obama/obama1.jpg"][0] == "obama" and best["kit_harington/johnsnow_test1.jpg"][0] == "kit_harington"
    strangers = max(best[k][1] for k in best if k.startswith(("rob_lowe", "nathalie_baye")))
    assert strangers < min(best[k][1] for k in best if k.startswith(("obama", "kit_harington")))
    det = cv2.imread(str(tmp_path / "report" / "open_set_det.png"))
    assert det is not None and det.shape[0] > 100 and (det < 250).any()  # a drawn curve, not a blank image
    assert "rank_1: 1.0000" in result.stdout
