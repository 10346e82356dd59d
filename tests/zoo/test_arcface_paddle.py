"""Arcface-Paddle's published models offline: ``seed/<name>/`` or ``seed/<name>.tar``, every extracted file
checked against the SHA-256 in ``../shared/SHA256SUMS``."""

from __future__ import annotations

import io
import re
import shutil
import tarfile
from pathlib import Path

import pytest

from faceid.io.hashing import sha256_file
from faceid.zoo import convert, get_record

SEED = ("mobileface_v1.0_infer", "blazeface_fpn_ssh_1000e_v1.0_infer")


def _published_sums(shared_models: Path) -> dict[str, str]:
    """``seed/<name>/<file>`` -> SHA-256, read from ``../shared/SHA256SUMS`` (the independent list)."""
    sums = {}
    for line in (shared_models.parent / "SHA256SUMS").read_text().splitlines():
        digest, path = line.split(maxsplit=1)
        if path.startswith("./models/seed/"):
            sums[path.removeprefix("./models/")] = digest
    return sums


@pytest.mark.parametrize("name", SEED)
def test_the_record_lists_every_extracted_file_with_its_published_hash(name: str, shared_models: Path) -> None:
    record = get_record(name)
    published = {path: digest for path, digest in _published_sums(shared_models).items() if f"/{name}/" in path}
    assert published, "../shared/SHA256SUMS lists no file of this model"
    assert {entry.path: entry.sha256 for entry in record.files} == published
    archive = record.extra["archive"]
    assert archive.path == f"seed/{name}.tar" and archive.sha256 is None and archive.url.endswith(f"/{name}.tar")
    assert "tarball's own SHA-256 is unknown" in record.caution


def test_the_licences_name_the_projects_that_published_the_weights() -> None:
    assert get_record("mobileface_v1.0_infer").licence.startswith("MIT (insightface")
    assert "non-commercial" in get_record("mobileface_v1.0_infer").caution
    assert get_record("blazeface_fpn_ssh_1000e_v1.0_infer").licence.startswith("Apache-2.0 (PaddleDetection)")


@pytest.mark.parametrize("name", SEED)
def test_the_extracted_folder_is_used_where_it_is(
    name: str, shared_models: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FACEID_HOME", str(tmp_path / "home"))
    assert convert(name, source=shared_models) == shared_models / "seed" / name
    assert not (tmp_path / "home").exists()  # nothing copied


def _copy_seed(shared_models: Path, root: Path, name: str) -> Path:
    folder = root / "seed" / name
    shutil.copytree(shared_models / "seed" / name, folder)
    return folder


def test_a_changed_file_in_the_source_folder_is_refused(shared_models: Path, tmp_path: Path) -> None:
    folder = _copy_seed(shared_models, tmp_path, "mobileface_v1.0_infer")
    with open(folder / "inference.pdiparams", "ab") as file:
        file.write(b"\0")
    with pytest.raises(ValueError, match=r"inference\.pdiparams: SHA-256 [0-9a-f]{64} does not match the registry's"):
        convert("mobileface_v1.0_infer", source=tmp_path)


def test_a_folder_missing_a_published_file_is_refused(shared_models: Path, tmp_path: Path) -> None:
    folder = _copy_seed(shared_models, tmp_path, "blazeface_fpn_ssh_1000e_v1.0_infer")
    (folder / "infer_cfg.yml").unlink()
    with pytest.raises(ValueError, match=r"missing infer_cfg\.yml"):
        convert("blazeface_fpn_ssh_1000e_v1.0_infer", source=tmp_path)


def _tarball(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def _tar_of(shared_models: Path, name: str, root: Path, change: str | None = None) -> Path:
    """``root/seed/<name>.tar`` laid out as the published tarball (``<name>/<file>`` members)."""
    members = {}
    for path in sorted((shared_models / "seed" / name).iterdir()):
        data = path.read_bytes()
        members[f"{name}/{path.name}"] = data + b"\0" if path.name == change else data
    (root / "seed").mkdir(parents=True, exist_ok=True)
    return _tarball(root / "seed" / f"{name}.tar", members)


@pytest.mark.parametrize("name", SEED)
def test_a_tarball_is_unpacked_once_into_the_cache_with_every_file_checked(
    name: str, shared_models: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FACEID_HOME", str(tmp_path / "home"))
    _tar_of(shared_models, name, tmp_path / "src")
    folder = convert(name, source=tmp_path / "src")
    assert folder == tmp_path / "home" / "models" / name
    for original in (shared_models / "seed" / name).iterdir():
        assert sha256_file(folder / original.name) == sha256_file(original)
    assert convert(name, source=tmp_path / "nowhere") == folder  # cached
    with open(folder / "inference.pdmodel", "ab") as file:  # the cache is checked on each use too
        file.write(b"\0")
    with pytest.raises(ValueError, match=re.escape(f"{folder / 'inference.pdmodel'}: SHA-256")):
        convert(name, source=tmp_path / "nowhere")


def test_a_tarball_with_a_changed_file_is_refused_and_leaves_no_cache(
    shared_models: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FACEID_HOME", str(tmp_path / "home"))
    _tar_of(shared_models, "mobileface_v1.0_infer", tmp_path, change="inference.pdiparams")
    with pytest.raises(ValueError, match=r"inference\.pdiparams: SHA-256 .* does not match"):
        convert("mobileface_v1.0_infer", source=tmp_path)
    assert not (tmp_path / "home" / "models" / "mobileface_v1.0_infer").exists()
    assert not list((tmp_path / "home" / "models").glob(".*"))  # no staging folder left behind


def test_without_a_source_the_error_names_both_layouts_and_the_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FACEID_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("FACEID_MODEL_SOURCE", raising=False)
    with pytest.raises(FileNotFoundError, match=r"seed/mobileface_v1\.0_infer\.tar or the folder it extracts to"):
        convert("mobileface_v1.0_infer")
    with pytest.raises(FileNotFoundError, match=r"nor the extracted folder .*bcebos\.com.*mobileface_v1\.0_infer\.tar"):
        convert("mobileface_v1.0_infer", source=tmp_path)


@pytest.mark.slow
def test_the_weights_in_faceids_own_graph_give_the_published_programs_embeddings(
    shared_models: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """faceid's MobileFaceNet_128 reads the published parameters in the program's operator order; its export (PIR
    program and bf16 variant too) then embeds exactly like the published program."""
    import numpy as np

    from faceid.infer import PaddlePredictor
    from faceid.zoo.arcface_paddle import export_with_faceid_graph

    monkeypatch.setenv("FACEID_HOME", str(tmp_path / "home"))
    export = export_with_faceid_graph("mobileface_v1.0_infer", shared_models, onnx=False)
    assert export == tmp_path / "home" / "models" / "mobileface_v1.0_infer.faceid"
    assert (export / "inference.json").is_file() and (export / "faceid.json").is_file()
    batch = np.random.default_rng(0).uniform(-1, 1, size=(4, 3, 112, 112)).astype(np.float32)
    seed = shared_models / "seed" / "mobileface_v1.0_infer"
    expected = PaddlePredictor(seed / "inference.pdmodel", seed / "inference.pdiparams").run(batch)
    for program in ("inference.pdmodel", "inference.json"):
        got = PaddlePredictor(export / program, export / "inference.pdiparams").run(batch)
        np.testing.assert_allclose(got, expected, atol=1e-4 * float(np.abs(expected).max()))
    with pytest.raises(ValueError, match="only Arcface-Paddle's MobileFaceNet_128 has a faceid graph"):
        export_with_faceid_graph("blazeface_fpn_ssh_1000e_v1.0_infer", shared_models)


def test_a_graph_another_process_wrote_first_is_kept_not_swapped(
    shared_models: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two processes making the cached faceid graph at once (a server and a client on one FACEID_HOME): the one
    that finishes second keeps the first one's folder (whose files a running predictor may still read) and leaves
    no staging folder behind."""
    import faceid.export
    from faceid.zoo.arcface_paddle import faceid_graph_of

    monkeypatch.setenv("FACEID_HOME", str(tmp_path / "home"))
    seed = shared_models / "seed" / "mobileface_v1.0_infer"
    target = tmp_path / "home" / "models" / "mobileface_v1.0_infer.faceid"
    real_export = faceid.export.export_model

    theirs = []

    def lose_the_race(model, output, **options):
        real_export(model, target, **options)  # the other process puts its export in place first
        theirs.append((target / "inference.pdiparams").stat().st_ino)
        return real_export(model, output, **options)

    monkeypatch.setattr(faceid.export, "export_model", lose_the_race)
    assert faceid_graph_of(seed) == target
    assert (target / "inference.pdiparams").stat().st_ino == theirs[0]  # not swapped for ours
    assert sorted(p.name for p in target.parent.iterdir()) == [target.name]  # no staging folder left
