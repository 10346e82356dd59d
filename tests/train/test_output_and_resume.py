"""The --output folder and --resume: no two runs mixed, damaged checkpoints skipped by name, honest logs."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from faceid.errors import InputError, UsageError
from faceid.train import TrainConfig, train
from faceid.train.config import parse_resume


def _config(out: Path, **changes) -> TrainConfig:
    base = {
        "network": "MobileFaceNet_slim",
        "embedding_size": 16,
        "synthetic": True,
        "num_classes": 20,
        "batch_size": 2,
        "train_unit": "step",
        "train_num": 6,
        "warmup_num": 0,
        "decay_boundaries": (),
        "max_steps": 1,
        "log_interval": 1,
        "output": str(out),
        "logdir": str(out / "vdl"),
        "max_num_last_checkpoint": 5,
        "do_validation_while_train": False,
    }
    return TrainConfig(**{**base, **changes})


def _two_checkpoints(out: Path) -> list[Path]:
    """Checkpoints 0 (step 1) and 1 (step 2): synthetic epochs are huge, so each run saves under epoch 0; the
    second is renamed to epoch 1 with its meta, as a run two epochs long would leave it."""
    train(_config(out))
    first = out / "MobileFaceNet_slim" / "0"
    second = first.with_name("1")
    train(_config(out, max_steps=2, resume="1"))
    first.rename(second)
    train(_config(out / "tmp", max_steps=1))
    (out / "tmp" / "MobileFaceNet_slim" / "0").rename(first)
    return [first, second]


def test_parse_resume_has_three_meanings() -> None:
    assert [parse_resume(t) for t in ("0", "false", "", "No")] == ["0"] * 4
    assert [parse_resume(t) for t in ("1", "true", "YES")] == ["1"] * 3
    assert parse_resume("runs/out/net/3") == "runs/out/net/3"
    assert TrainConfig(resume="True").resume == "1"
    with pytest.raises(ValueError, match="cannot go with resume"):
        TrainConfig(resume="1", overwrite=True)


def test_a_new_run_into_a_used_output_is_refused_and_overwrite_removes_only_that_run(tmp_path: Path) -> None:
    out = tmp_path / "out"
    train(_config(out))
    (out / "notes.txt").write_text("mine")
    (out / "MobileFaceNet_slim" / "README").write_text("mine too")
    before = sorted(str(p) for p in out.rglob("*"))
    with pytest.raises(UsageError, match="already holds a training run") as caught:
        train(_config(out))
    assert caught.value.path == str(out) and sorted(str(p) for p in out.rglob("*")) == before
    result = train(_config(out, overwrite=True, max_steps=2))
    assert result.state.global_step == 2  # a new run from step 0, not a continuation
    assert (out / "notes.txt").read_text() == "mine" and (out / "MobileFaceNet_slim" / "README").exists()
    assert sorted(p.name for p in (out / "MobileFaceNet_slim").iterdir()) == ["0", "README"]
    log = (out / "training.log").read_text()
    assert "removed the previous run" in log and log.count("Global Step: 1 ") == 1  # the old log went too


@pytest.mark.parametrize(
    ("damage", "bad_file"),
    [
        (lambda c: (c / "backbone.npz").write_bytes((c / "backbone.npz").read_bytes()[:500]), "backbone.npz"),
        (lambda c: (c / "meta.json").write_text('{"global_step": 2, "net'), "meta.json"),
        (lambda c: (c / "optimizer.npz").unlink(), "optimizer.npz"),
        (lambda c: (c / "classifier_rank00000.npz").write_bytes(b"garbage"), "classifier_rank00000.npz"),
    ],
    ids=["truncated-backbone", "broken-meta", "missing-optimizer", "garbage-classifier"],
)
def test_resume_falls_back_to_the_newest_good_checkpoint(tmp_path: Path, damage, bad_file: str, caplog) -> None:
    out = tmp_path / "out"
    first, second = _two_checkpoints(out)
    damage(second)
    result = train(_config(out, max_steps=3, resume="1"))
    log = (out / "training.log").read_text()
    warnings = [line for line in log.splitlines() if "damaged checkpoint" in line]
    assert len(warnings) == 1 and str(second / bad_file) in warnings[0]
    assert re.search(rf"resume from {re.escape(str(first))} at global step 1 ", log)
    assert result.state.global_step == 3


def test_resume_with_every_checkpoint_damaged_names_the_files(tmp_path: Path) -> None:
    out = tmp_path / "out"
    first, second = _two_checkpoints(out)
    (first / "meta.json").write_text("not json")
    (second / "backbone.npz").write_bytes(b"")
    with pytest.raises(InputError, match="no readable checkpoint") as caught:
        train(_config(out, max_steps=3, resume="1"))
    assert str(first / "meta.json") in str(caught.value) and str(second / "backbone.npz") in str(caught.value)


def test_the_log_estimates_from_max_steps_and_says_where_num_classes_came_from(tmp_path: Path) -> None:
    out = tmp_path / "out"
    # 10^9 scheduled steps at any real speed are thousands of hours; the 2 steps that will run are not.
    train(_config(out, train_num=10**9, max_steps=2))
    log = (out / "training.log").read_text()
    assert re.findall(r"Required: (\d+) hours", log) == ["0", "0"]
    assert "num_classes: 20 (synthetic data, from --num_classes)" in log


def test_label_gaps_and_library_warnings_reach_training_log(train_dir: Path, tmp_path: Path) -> None:
    label = train_dir / "label.txt"
    # Labels 0, 100, 400 (and the rest): 391 ids without an image, as `faceid data check` reports them.
    remap = {0: 0, 1: 100, 2: 400}
    lines = [line.split("\t") for line in label.read_text().splitlines()]
    label.write_text("".join(f"{p}\t{remap.get(int(c), int(c))}\n" for p, c in lines))
    broken = {str(train_dir / path) for path, _ in lines[::3]}  # a third of the images: some are drawn
    for path in broken:
        Path(path).write_bytes(Path(path).read_bytes()[:200])
    check = subprocess.run(
        [sys.executable, "-m", "faceid", "data", "check", str(train_dir), "--no_progress"],
        capture_output=True,
        text=True,
        check=False,
    )
    gap_line = next(line for line in check.stdout.splitlines() if "not contiguous" in line)
    out = tmp_path / "out"
    config = _config(
        out,
        synthetic=False,
        num_classes=0,
        data_dir=str(train_dir),
        max_steps=2,
        batch_size=4,
        skip_corrupt=True,
        do_validation_while_train=True,
        val_targets=("lfw", "cfp_fp"),
        val_interval=100,
    )
    train(config)
    log = (out / "training.log").read_text()
    assert gap_line in log
    assert "num_classes: 401 (from the labels: largest label + 1)" in log
    assert "validation target 'cfp_fp' skipped" in log  # a warning of faceid.eval, not faceid.train
    skipped = re.findall(r"WARNING faceid\.data\.loader: skipping corrupt sample (\S+) ", log)
    assert skipped and set(skipped) <= broken
