"""`faceid demo`, the README's main job, run as a user runs it: the real command in a subprocess, defaults on
``../shared`` (gallery_dev: 5 people in ``train/``, query photos in ``query/``), output to a temp folder."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

REPO = Path(__file__).resolve().parents[2]

# ../shared/data/README.md: who is in each query photo (obama_and_biden.jpg also shows people not in the gallery).
EXPECTED = {
    "obama1.jpg": {"obama"},
    "obama_and_biden.jpg": {"obama", "biden"},
    "kit_with_rose.jpg": {"kit_harington", "rose_leslie"},
    "alex_lacamoire1.jpg": {"alex_lacamoire"},
    "johnsnow_test1.jpg": {"kit_harington"},
}
STRANGERS = {"obama_and_biden.jpg"}


@pytest.mark.slow
def test_demo_names_every_gallery_person_and_leaves_strangers_unknown(
    shared_data: Path, shared_models: Path, tmp_path: Path
) -> None:
    out = tmp_path / "demo"
    env = {**os.environ, "FACEID_HOME": str(tmp_path / "home")}  # conversions go to a temp cache
    env.setdefault("FACEID_SHARED", str(shared_data.parent))
    env.setdefault("FACEID_MODEL_SOURCE", str(shared_models))
    result = subprocess.run(
        [sys.executable, "-m", "faceid", "demo", "--output", str(out)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("gallery: 5 people (alex_lacamoire, biden, kit_harington, obama, rose_leslie) from ")
    assert lines[-1] == f"annotated images and JSON: {out.resolve()}"
    printed = {line.split(": ", 1)[0]: line.split(": ", 1)[1] for line in lines[1:-1]}
    assert set(printed) == set(EXPECTED)
    for name, people in EXPECTED.items():
        faces = json.loads((out / f"{name}.json").read_text())["faces"]  # x.jpg -> x.jpg.json
        named = [face["identity"] for face in faces if face["identity"] != "unknown"]
        assert sorted(named) == sorted(people), f"{name}: {faces}"  # each person once, nobody else named
        unknown = len(faces) - len(named)
        assert (unknown > 0) == (name in STRANGERS), f"{name}: {unknown} unknown face(s)"
        # The console names the same people at the same boxes as the JSON.
        shown = re.findall(r"(\w+) at \[(-?\d+), (-?\d+), (-?\d+), (-?\d+)\]", printed[name])
        assert [(who, [int(v) for v in box]) for who, *box in shown] == [
            (face["identity"], [round(v) for v in face["box"]]) for face in faces
        ]
        annotated = cv2.imread(str(out / f"{name}.annotated{Path(name).suffix}"))  # x.jpg.annotated.jpg
        original = cv2.imread(str(shared_data / "gallery_dev" / "query" / name))
        assert annotated is not None and annotated.shape == original.shape
        assert (annotated != original).any(), f"{name}: nothing drawn"
