"""`faceid build-index`, `faceid gallery ...` and `faceid predict --index` as a user runs them (subprocesses):
empty folders, existing outputs, --aligned on photos, several faces, the index reader and the model fingerprint."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow


def faceid(*args: str | Path, home: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "FACEID_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "faceid", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )


@pytest.fixture
def crops(tmp_path: Path, small_dataset: Path) -> Path:
    """<person>/<aligned 112x112 crops>: three people of small_dataset."""
    root = tmp_path / "crops"
    images = sorted((small_dataset / "images").iterdir())
    for person, image in zip(("ann", "bob", "cy"), images, strict=False):
        (root / person).mkdir(parents=True)
        shutil.copy(image, root / person / image.name)
    return root


def test_build_index_refuses_empty_folders_and_existing_files(
    tmp_path: Path, crops: Path, exported_model, shared_data: Path
) -> None:
    export, _ = exported_model
    model = ["--rec_model", export, "--aligned"]
    (tmp_path / "empty").mkdir()
    index = tmp_path / "index.npz"
    run = faceid("build-index", "--img_dir", tmp_path / "empty", "--output", index, *model, home=tmp_path)
    assert run.returncode != 0 and str(tmp_path / "empty") in run.stderr and not index.exists()
    index.write_bytes(b"a good index")
    run = faceid("build-index", "--img_dir", crops, "--output", index, *model, home=tmp_path)
    assert run.returncode != 0 and str(index) in run.stderr and index.read_bytes() == b"a good index"
    photos = tmp_path / "photos" / "rob"
    photos.mkdir(parents=True)
    shutil.copy(shared_data / "faces" / "lfw_Rob_Lowe_0001.jpg", photos / "rob.jpg")
    run = faceid("build-index", "--img_dir", photos.parent, "--output", tmp_path / "x.npz", *model, home=tmp_path)
    assert run.returncode != 0 and str(photos / "rob.jpg") in run.stderr and "112x112" in run.stderr
    assert not (tmp_path / "x.npz").exists()
    run = faceid("build-index", "--img_dir", crops, "--output", index, "--overwrite", *model, home=tmp_path)
    assert run.returncode == 0, run.stderr
    with np.load(index) as data:
        assert sorted(set(data["labels"])) == ["ann", "bob", "cy"]


def test_index_reader_and_fingerprint(tmp_path: Path, crops: Path, exported_model) -> None:
    export, _ = exported_model
    first = tmp_path / "a" / "exported"
    second = tmp_path / "b" / "exported"  # another export that happens to have the same name
    shutil.copytree(export, first)
    shutil.copytree(export, second)
    meta = json.loads((second / "faceid.json").read_text())
    (second / "faceid.json").write_text(json.dumps({**meta, "source": "another training run"}))
    os.chdir(tmp_path / "a")
    index = tmp_path / "index.npz"
    run = faceid(
        "build-index", "--img_dir", crops, "--output", index, "--rec_model", "exported", "--aligned", home=tmp_path
    )
    assert run.returncode == 0, run.stderr
    probe = next((crops / "bob").iterdir())
    predict = ["predict", "--rec", "--input", probe, "--output", tmp_path / "out"]
    run = faceid(*predict, "--index", index, "--rec_model", first.resolve(), home=tmp_path)  # same export, abs path
    assert run.returncode == 0, run.stderr
    assert "bob" in run.stdout and f"gallery: {index} (npz: " in run.stdout
    run = faceid(*predict, "--index", index, "--rec_model", second, home=tmp_path)
    assert run.returncode != 0 and "another model" in run.stderr and str(index) in run.stderr
    notes = tmp_path / "notes.npz"
    notes.write_text("not an index")
    run = faceid(*predict, "--index", notes, "--rec_model", first, home=tmp_path)
    assert run.returncode != 0 and "not a gallery index" in run.stderr and str(notes) in run.stderr
    store = tmp_path / "people.db"
    run = faceid("gallery", "import", "--gallery", store, "--index", index, home=tmp_path)
    assert run.returncode == 0, run.stderr
    run = faceid(*predict, "--index", store, "--rec_model", first, home=tmp_path)
    assert run.returncode == 0 and "bob" in run.stdout and f"gallery: {store} (store: " in run.stdout, run.stderr


def test_gallery_commands(tmp_path: Path, crops: Path, exported_model) -> None:
    export, _ = exported_model
    store = f"sqlite:///{tmp_path / 'g.db'}"
    model = ["--rec_model", export, "--aligned"]
    run = faceid("gallery", "add", "--gallery", store, "--img_dir", crops, *model, home=tmp_path)
    assert run.returncode == 0, run.stderr
    ann = next((crops / "ann").iterdir())
    extra = tmp_path / "ann_again.jpg"
    shutil.copy(next((crops / "cy").iterdir()), extra)
    run = faceid("gallery", "add", "--gallery", store, "--name", "ann", ann, extra, *model, home=tmp_path)
    assert run.returncode == 0 and f"{ann}: already enrolled (as ann)" in run.stdout, run.stdout + run.stderr
    assert f"{extra}: already enrolled (as cy)" in run.stdout  # same bytes as cy's photo, whatever its name
    run = faceid("gallery", "list", "--gallery", store, "--json", home=tmp_path)
    listing = json.loads(run.stdout)
    assert [(s["name"], s["faces"]) for s in listing["subjects"]] == [("ann", 1), ("bob", 1), ("cy", 1)]
    run = faceid("gallery", "remove", "--gallery", store, "--name", "bob", home=tmp_path)
    assert run.returncode == 0
    run = faceid("gallery", "remove", "--gallery", store, "--name", "bob", home=tmp_path)
    assert run.returncode != 0 and "bob" in run.stderr
    out = tmp_path / "out.npz"
    out.write_bytes(b"keep")
    run = faceid("gallery", "export", "--gallery", store, "--output", out, home=tmp_path)
    assert run.returncode != 0 and str(out) in run.stderr and out.read_bytes() == b"keep"
    run = faceid("gallery", "export", "--gallery", store, "--output", out, "--overwrite", home=tmp_path)
    assert run.returncode == 0
    with np.load(out) as data:
        assert sorted(data["labels"]) == ["ann", "cy"]
    run = faceid("gallery", "list", "--gallery", tmp_path / "missing.db", home=tmp_path)
    assert run.returncode != 0 and "missing.db" in run.stderr


def test_reference_index_bin_imports_into_a_store(tmp_path: Path, shared_data: Path) -> None:
    from faceid.gallery import open_store

    store = tmp_path / "friends.db"
    seed = shared_data / "faces" / "seed_index_friends_128d.bin"
    run = faceid("gallery", "import", "--gallery", store, "--index", seed, home=tmp_path)
    assert run.returncode == 0 and "245 faces imported" in run.stdout, run.stderr
    with open_store(store, fingerprint="f" * 64, model="any", dim=128) as opened:  # no model recorded: accepted
        assert len(opened) == 245 and "Chandler" in opened.identities


def test_several_faces_warn_or_skip_and_faceless_galleries_fail(
    tmp_path: Path, shared_data: Path, shared_models: Path
) -> None:
    photos = tmp_path / "photos"
    (photos / "pair").mkdir(parents=True)
    (photos / "nobody").mkdir()
    shutil.copy(shared_data / "faces" / "two_people.jpg", photos / "pair" / "two_people.jpg")
    shutil.copy(shared_data / "faces" / "no_face.png", photos / "nobody" / "no_face.png")
    source = ["--model-source", shared_models]
    index = tmp_path / "index.npz"
    run = faceid("build-index", "--img_dir", photos, "--output", index, *source, home=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "two_people.jpg: 2 faces" in run.stderr and "no_face.png: no face" in run.stderr
    with np.load(index) as data:
        assert list(data["labels"]) == ["pair"]
    run = faceid(
        "build-index", "--img_dir", photos, "--output", tmp_path / "strict.npz", "--strict", *source, home=tmp_path
    )
    assert run.returncode != 0 and not (tmp_path / "strict.npz").exists()
    assert (
        "no face enrolled" in run.stderr and "pair/two_people.jpg" in run.stderr and "nobody/no_face.png" in run.stderr
    )
