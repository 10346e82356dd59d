"""Nothing a user already has is lost or changed: the real ``faceid`` command in a subprocess on temp files.

Each case asserts a non-zero exit where refusing is right, that stderr names the file concerned, and that every
file that was there before is unchanged.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest


def faceid(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    return subprocess.run(
        [sys.executable, "-m", "faceid", *map(str, args)], capture_output=True, text=True, env=env, cwd=cwd, check=False
    )


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` by relative path, with its bytes."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def dataset(tmp_path: Path, small_dataset: Path) -> Path:
    root = tmp_path / "ds"
    shutil.copytree(small_dataset, root)
    return root


def test_image2bin_never_modifies_the_input_label_file(dataset: Path, tmp_path: Path) -> None:
    before = snapshot(dataset)
    bins = tmp_path / "bins"
    old_umask = os.umask(0o022)
    try:
        result = faceid(
            "data",
            "convert",
            "--mode",
            "image2bin",
            "--image_path",
            dataset / "images",
            "--bin_path",
            bins,
            "--label_file",
            dataset / "label.txt",
        )
    finally:
        os.umask(old_umask)
    assert result.returncode == 0, result.stderr
    assert snapshot(dataset) == before
    written = (bins / "label.txt").read_text().splitlines()
    original = (dataset / "label.txt").read_text().splitlines()
    # The new label file lists the .bin files beside it, with the same labels in the same order.
    assert written == [line.replace("images/", "").replace(".jpg", ".bin") for line in original]
    for line in written:
        assert (bins / line.split("\t")[0]).is_file()
    # Files the CLI writes get ordinary permissions, like any other file (not tempfile's 0600).
    assert stat.S_IMODE((bins / "label.txt").stat().st_mode) == 0o644
    assert {stat.S_IMODE(p.stat().st_mode) for p in bins.glob("*.bin")} == {0o644}


def test_convert_refuses_to_write_the_label_over_itself_or_an_existing_one(dataset: Path, tmp_path: Path) -> None:
    bins = tmp_path / "bins"
    bins.mkdir()
    (bins / "label.txt").write_text("mine\t0\n")
    before, before_bins = snapshot(dataset), snapshot(bins)
    args = [
        "data",
        "convert",
        "--mode",
        "image2bin",
        "--image_path",
        dataset / "images",
        "--bin_path",
        bins,
        "--label_file",
        dataset / "label.txt",
    ]
    result = faceid(*args)
    assert result.returncode != 0 and str(bins / "label.txt") in result.stderr
    result = faceid(*args, "--output_label_file", dataset / "label.txt")
    assert result.returncode != 0 and str(dataset / "label.txt") in result.stderr
    assert snapshot(dataset) == before and snapshot(bins) == before_bins


def _train_args(out: Path, *extra: str) -> list[str]:
    return [
        "train",
        "--network",
        "MobileFaceNet_slim",
        "--embedding_size",
        "16",
        "--use_synthetic_dataset",
        "--num_classes",
        "20",
        "--batch_size",
        "2",
        "--train_unit",
        "step",
        "--train_num",
        "4",
        "--warmup_num",
        "0",
        "--decay_boundaries",
        "",
        "--output",
        str(out),
        "--logdir",
        str(out.parent / "vdl"),
        "--do_validation_while_train",
        "false",
        "--log_interval",
        "1",
        *extra,
    ]


@pytest.mark.slow
def test_train_never_mixes_two_runs_and_resume_names_a_damaged_checkpoint(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert faceid(*_train_args(out, "--max_steps", "1")).returncode == 0
    before = snapshot(out)
    refused = faceid(*_train_args(out, "--max_steps", "2"))
    assert refused.returncode != 0 and str(out) in refused.stderr and "--overwrite" in refused.stderr
    assert snapshot(out) == before
    checkpoint = out / "MobileFaceNet_slim" / "0"
    (checkpoint / "backbone.npz").write_bytes(b"PK\x03\x04 truncated")
    damaged = faceid(*_train_args(out, "--max_steps", "2", "--resume", "1"))
    assert damaged.returncode != 0 and str(checkpoint / "backbone.npz") in damaged.stderr
    missing = faceid(*_train_args(out, "--resume", str(tmp_path / "nowhere")))
    assert missing.returncode == 2 and str(tmp_path / "nowhere") in missing.stderr
    fresh = faceid(*_train_args(out, "--max_steps", "2", "--overwrite"))
    assert fresh.returncode == 0, fresh.stderr
    assert "Global Step: 2" in (out / "training.log").read_text()
    assert (checkpoint / "backbone.npz").stat().st_size > 1000


@pytest.mark.slow
def test_export_swaps_in_whole_refuses_other_folders_and_a_changed_export_is_named(
    tmp_path: Path, shared_data: Path
) -> None:
    from faceid.train import TrainConfig, train

    run = tmp_path / "run"
    train(
        TrainConfig(
            network="MobileFaceNet_slim",
            embedding_size=16,
            synthetic=True,
            num_classes=20,
            batch_size=2,
            max_steps=1,
            warmup_num=0,
            output=str(run),
            logdir=str(tmp_path / "vdl"),
        )
    )
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "me.jpg").write_bytes(b"precious")
    export = ["export", "--network", "MobileFaceNet_slim", "--checkpoint", run, "--output"]
    refused = faceid(*export, photos)
    assert refused.returncode != 0 and str(photos) in refused.stderr
    assert snapshot(photos) == {"me.jpg": b"precious"}
    exp = tmp_path / "exp"
    exp.mkdir()
    (exp / "faceid.json").write_text('{"network": "an older export"}')
    (exp / "inference.onnx").write_bytes(b"an ONNX file of another model")
    done = faceid(*export, exp)
    assert done.returncode == 0, done.stderr
    assert "inference.onnx" not in {p.name for p in exp.iterdir()} and (exp / "inference.pdiparams").is_file()
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging folder left
    params = exp / "inference.pdiparams"
    data = bytearray(params.read_bytes())
    data[-400:] = bytes(b ^ 0xFF for b in data[-400:])
    params.write_bytes(bytes(data))
    sets = tmp_path / "sets"
    sets.mkdir()
    shutil.copy(shared_data / "verification" / "small_lfw.bin", sets / "lfw.bin")
    tampered = faceid("eval", "--model", exp, "--data_dir", sets, "--val_targets", "lfw")
    assert tampered.returncode != 0 and str(params) in tampered.stderr and "SHA-256" in tampered.stderr
