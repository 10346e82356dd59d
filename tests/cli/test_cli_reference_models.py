"""Arcface-Paddle's published MobileFaceNet from the shell: ``--rec_model mobileface_v1.0_infer`` or its folder in
``build-index`` and ``predict``, and ``eval --model``; the real command in a subprocess on files in ``tmp_path``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
NAME = "mobileface_v1.0_infer"
# ../shared/data/README.md: pairs 1-2 of small_lfw.bin are Zakayev, pairs 4-5 Rasmussen, pairs 6-8 Angela Bassett.
PEOPLE = {"zakayev": (1, 2), "rasmussen": (4, 5), "bassett": (6, 7)}


def _faceid(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "faceid", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture()
def env(shared_models: Path, tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "FACEID_HOME": str(tmp_path / "home"), "FACEID_MODEL_SOURCE": str(shared_models)}


def _write_faces(shared_data: Path, root: Path) -> tuple[Path, Path]:
    """A gallery (``<person>/<image>``: the first image of each person's first pair) and queries (the second
    image of the person's second pair), aligned 112x112 faces from small_lfw.bin."""
    from faceid.data.verification_set import load_verification_set

    images = load_verification_set(shared_data / "verification" / "small_lfw.bin").images
    gallery, queries = root / "gallery", root / "queries"
    queries.mkdir(parents=True)
    for person, (first, second) in PEOPLE.items():
        (gallery / person).mkdir(parents=True)
        for index, path in ((2 * first, gallery / person / "a.jpg"), (2 * second + 1, queries / f"{person}.jpg")):
            cv2.imwrite(str(path), cv2.imdecode(np.frombuffer(bytes(images[index]), np.uint8), cv2.IMREAD_COLOR))
    return gallery, queries


@pytest.mark.slow
def test_build_index_by_name_and_predict_with_the_folder_name_each_person(
    shared_data: Path, shared_models: Path, tmp_path: Path, env: dict[str, str]
) -> None:
    gallery, queries = _write_faces(shared_data, tmp_path)
    index = tmp_path / "gallery.npz"
    built = _faceid("build-index", "--img_dir", str(gallery), "--output", str(index), "--aligned",
                    "--rec_model", NAME, env=env)  # fmt: skip
    assert built.returncode == 0, built.stderr
    assert built.stdout.startswith(f"index: {index} (3 embeddings of 3 identities, ")
    out = tmp_path / "out"
    predicted = _faceid("predict", "--rec", "--index", str(index), "--input", str(queries), "--output", str(out),
                        "--rec_model", str(shared_models / "seed" / NAME), env=env)  # fmt: skip
    assert predicted.returncode == 0, predicted.stderr
    for person in PEOPLE:
        faces = json.loads((out / f"{person}.jpg.json").read_text())["faces"]
        assert [face["identity"] for face in faces] == [person], faces


@pytest.mark.slow
def test_eval_takes_the_reference_model_by_name(shared_data: Path, env: dict[str, str]) -> None:
    result = _faceid("eval", "--model", NAME, "--data_dir", str(shared_data / "verification"),
                     "--val_targets", "small_lfw", env=env)  # fmt: skip
    assert result.returncode == 0, result.stderr
    # small_lfw holds only same-person pairs; the published model scores 9 of 10 above the best threshold
    assert "[small_lfw][1]Accuracy-Flip: 0.90000+-0.30000" in result.stdout.splitlines()
