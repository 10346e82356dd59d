"""End-to-end training on CPU: the CLI and its log lines, checkpoints, exact resume, 2 gloo processes."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from faceid.cli.main import main
from faceid.train import TrainConfig, train

SPEED_LINE = re.compile(
    r"Training: .* - Speed [\d.]+ samples/sec   Loss [\d.]+   Epoch: \d+   Global Step: (\d+)   "
    r"Required: \d+ hours, lr_backbone_value: [\d.]+, lr_pfc_value: [\d.]+"
)


def _arrays(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def test_cli_trains_logs_like_the_seed_checkpoints_and_resumes(
    train_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    args = [
        "train",
        "--network",
        "MobileFaceNet_128",
        "--batch_size",
        "8",
        "--lr",
        "0.1",
        "--embedding_size",
        "128",
        "--data_dir",
        str(train_dir),
        "--output",
        str(out),
        "--logdir",
        str(tmp_path / "log"),
        "--max_steps",
        "4",
        "--log_interval",
        "1",
        "--val_targets",
        "lfw",
        "--val_interval",
        "4",
        "--seed",
        "3",
    ]
    assert main(args) == 0
    stdout = capsys.readouterr().out
    assert [int(m.group(1)) for m in SPEED_LINE.finditer(stdout)] == [1, 2, 3, 4]
    assert re.search(r"\[lfw\]\[4\]XNorm: [\d.]+\n", stdout)
    assert re.search(r"\[lfw\]\[4\]Accuracy-Flip: [01]\.\d{5}\+-[01]\.\d{5}\n", stdout)
    assert re.search(r"\[lfw\]\[4\]Accuracy-Highest: [01]\.\d{5}\n", stdout)
    assert "read label file finished, total num: 30" in stdout and "steps_per_epoch: 3" in stdout
    assert (out / "training.log").read_text().count("Global Step:") == 4
    meta = json.loads((out / "MobileFaceNet_128" / "1" / "meta.json").read_text())
    assert (meta["global_step"], meta["next_epoch"], meta["step_in_epoch"]) == (4, 1, 1)
    assert meta["network"] == "MobileFaceNet_128" and meta["num_classes"] == 10
    assert sorted(p.name for p in (out / "MobileFaceNet_128").iterdir()) == ["0", "1"]
    assert (
        main(
            [
                *args[:-12],
                "--max_steps",
                "6",
                "--log_interval",
                "1",
                "--do_validation_while_train",
                "0",
                "--resume",
                "1",
                "--seed",
                "3",
            ]
        )
        == 0
    )
    stdout = capsys.readouterr().out
    assert [int(m.group(1)) for m in SPEED_LINE.finditer(stdout)] == [5, 6]
    assert re.search(r"resume from .*MobileFaceNet_128/1 at global step 4 \(epoch 1, batch 1\)", stdout)


def _config(data: Path, out: Path, max_steps: int, resume: str = "0") -> TrainConfig:
    return TrainConfig(
        network="MobileFaceNet_slim",
        embedding_size=32,
        batch_size=4,
        lr=12.8,
        sample_ratio=0.5,
        data_dir=str(data),
        output=str(out),
        train_unit="step",
        train_num=50,
        warmup_num=2,
        decay_boundaries=(4,),
        max_steps=max_steps,
        log_interval=1,
        do_validation_while_train=False,
        seed=11,
        resume=resume,
        num_workers=2,
        max_num_last_checkpoint=5,
    )


def test_a_run_stopped_and_resumed_ends_bit_identical_to_an_uninterrupted_one(train_dir: Path, tmp_path: Path) -> None:
    whole = train(_config(train_dir, tmp_path / "whole", 10))
    first = train(_config(train_dir, tmp_path / "split", 5))
    assert (first.state.global_step, first.state.epoch, first.state.step_in_epoch) == (5, 0, 5)
    resumed = train(_config(train_dir, tmp_path / "split", 10, resume="1"))
    assert resumed.state.global_step == whole.state.global_step == 10
    assert resumed.last_loss == whole.last_loss
    names = ["backbone.npz", "optimizer.npz", "classifier_rank00000.npz"]
    for name in names:
        a, b = _arrays(whole.checkpoint / name), _arrays(resumed.checkpoint / name)
        assert a.keys() == b.keys()
        for key in a:
            assert np.array_equal(a[key], b[key]), f"{name}:{key} differs after resume"
    start = _arrays(first.checkpoint / "backbone.npz")
    end = _arrays(whole.checkpoint / "backbone.npz")
    assert any(not np.array_equal(start[k], end[k]) for k in start), "training must change the weights"


_SCRIPT = """
    import json, sys
    import paddle
    from faceid.train import TrainConfig, train

    data, batch, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    paddle.seed(7)
    toy = paddle.nn.Sequential(  # no BatchNorm: per-rank batch statistics would differ from one process
        paddle.nn.Conv2D(3, 4, 8, stride=8), paddle.nn.PReLU(), paddle.nn.Flatten(), paddle.nn.Linear(784, 16)
    )
    config = TrainConfig(
        network="toy", embedding_size=16, batch_size=batch, lr=6.4, data_dir=data, output=out, train_unit="step",
        train_num=3, warmup_num=0, decay_boundaries=(), max_steps=3, log_interval=1, num_workers=1, seed=3,
        do_validation_while_train=False,
    )
    result = train(config, model=toy)
    rank = paddle.distributed.get_rank()
    with open(f"{out}/result_{rank}.json", "w") as f:
        json.dump({"loss": result.last_loss, "checkpoint": str(result.checkpoint)}, f)
"""


def test_two_gloo_processes_equal_one_process_on_the_same_global_batch(train_dir: Path, tmp_path: Path) -> None:
    script = tmp_path / "run.py"
    script.write_text(textwrap.dedent(_SCRIPT))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    one, two = tmp_path / "one", tmp_path / "two"
    subprocess.run([sys.executable, str(script), str(train_dir), "8", str(one)], check=True, env=env, timeout=300)
    launch = [
        sys.executable,
        "-m",
        "paddle.distributed.launch",
        "--nproc_per_node",
        "2",
        "--log_dir",
        str(tmp_path / "launch_log"),
        str(script),
        str(train_dir),
        "4",
        str(two),
    ]
    done = subprocess.run(launch, check=False, env=env, timeout=300, capture_output=True, text=True)
    logs = "".join(p.read_text() for p in sorted((tmp_path / "launch_log").glob("workerlog.*")))
    assert done.returncode == 0, logs[-3000:]
    single = json.loads((one / "result_0.json").read_text())
    pair = [json.loads((two / f"result_{r}.json").read_text()) for r in range(2)]
    # The losses are ~40 (scale 64): 1e-5 relative is a few float32 ulps of summation-order difference.
    assert pair[0]["loss"] == pytest.approx(single["loss"], rel=1e-5) and pair[0]["loss"] == pair[1]["loss"]
    ckpt_one, ckpt_two = Path(single["checkpoint"]), Path(pair[0]["checkpoint"])
    a, b = _arrays(ckpt_one / "backbone.npz"), _arrays(ckpt_two / "backbone.npz")
    # Within 1e-5 of each tensor's scale: the float32 noise of a different summation order, amplified by the
    # large first updates of tiny initial centres (std 0.01).
    for key in a:
        np.testing.assert_allclose(b[key], a[key], rtol=0, atol=1e-5 * np.abs(a[key]).max(), err_msg=key)
    full = _arrays(ckpt_one / "classifier_rank00000.npz")
    shards = [_arrays(ckpt_two / f"classifier_rank{r:05d}.npz") for r in range(2)]
    assert [s["class_range"].tolist() for s in shards] == [[0, 5, 10], [5, 5, 10]]
    joined = np.concatenate([s["weight"] for s in shards], axis=1)
    np.testing.assert_allclose(joined, full["weight"], rtol=0, atol=1e-5 * np.abs(full["weight"]).max())
    assert "Loss" in (two / "training.log").read_text()


def test_synthetic_data_and_visualdl_scalars(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    written: list[tuple[str, int, float]] = []

    class FakeLogWriter:  # stands in for visualdl.LogWriter (an optional extra)
        def __init__(self, logdir: str) -> None:
            assert logdir == str(tmp_path / "vdl")

        def add_scalar(self, tag: str, value: float, step: int) -> None:
            written.append((tag, step, value))

        def close(self) -> None:
            written.append(("closed", 0, 0.0))

    monkeypatch.setitem(sys.modules, "visualdl", type(sys)("visualdl"))
    monkeypatch.setattr(sys.modules["visualdl"], "LogWriter", FakeLogWriter, raising=False)
    config = TrainConfig(
        network="MobileFaceNet_slim",
        synthetic=True,
        num_classes=500,
        batch_size=4,
        max_steps=2,
        log_interval=1,
        output=str(tmp_path / "out"),
        logdir=str(tmp_path / "vdl"),
        warmup_num=0,
    )
    result = train(config)
    assert result.state.global_step == 2 and result.accuracies == {}
    assert [(tag, step) for tag, step, _ in written] == [
        ("loss", 1),
        ("lr", 1),
        ("throughput", 1),
        ("loss", 2),
        ("lr", 2),
        ("throughput", 2),
        ("closed", 0),
    ]
    assert json.loads((result.checkpoint / "meta.json").read_text())["num_classes"] == 500
