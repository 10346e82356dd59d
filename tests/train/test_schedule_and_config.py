"""Step plans and LR schedules against Arcface-Paddle's worked example; config presets and overrides."""

from __future__ import annotations

import math

import pytest

from faceid.train.config import TrainConfig, apply_overrides, load_preset
from faceid.train.schedule import learning_rate, plan_steps


def test_seed_worked_example_ms1mv3_on_8_gpus() -> None:
    # Arcface-Paddle docs: MS1M_v3 (5,179,510 images), 8 GPUs x 128 = 1024 -> 5058 steps/epoch, 126,450
    # steps, decay at 50,580 / 80,928 / 111,276, LR 0.2 -> 0.02 -> 0.002 -> 0.0002.
    plan = plan_steps(5_179_510, 1024, lr=0.1, train_unit="epoch", train_num=25, decay_boundaries=(10, 16, 22))
    assert (plan.steps_per_epoch, plan.total_steps, plan.total_epoch) == (5058, 126450, 25)
    assert plan.decay_steps == (50580, 80928, 111276)
    lrs = [learning_rate(s, plan) for s in (0, 50579, 50580, 80928, 111275, 111276, 126449)]
    assert lrs == pytest.approx([0.2, 0.2, 0.02, 0.002, 0.002, 0.0002, 0.0002])
    assert plan_steps(5_822_653, 1024, lr=0.1).steps_per_epoch == 5686  # MS1M_v2 at 1024


def test_step_units_warmup_cosine_and_poly() -> None:
    plan = plan_steps(1000, 10, lr=0.512, train_unit="step", train_num=250, warmup_num=50, decay_boundaries=(100,))
    assert (plan.steps_per_epoch, plan.total_epoch, plan.base_lr) == (100, 3, pytest.approx(0.01))
    assert [learning_rate(s, plan) for s in (0, 25, 49, 50, 99, 100)] == pytest.approx(
        [0.0, 0.005, 0.0098, 0.01, 0.01, 0.001]
    )
    assert learning_rate(50, plan, kind="cosine") == pytest.approx(0.01)
    assert learning_rate(150, plan, kind="cosine") == pytest.approx(0.005)
    assert learning_rate(250, plan, kind="cosine") == pytest.approx(0.0, abs=1e-12)
    assert learning_rate(150, plan, kind="poly") == pytest.approx(0.005)
    with pytest.raises(ValueError, match="do not fill one global batch"):
        plan_steps(5, 8, lr=0.1)


def test_presets_carry_the_reference_values() -> None:
    mbf = load_preset("configs/ms1mv2_mobileface.py")
    assert (mbf.network, mbf.embedding_size, mbf.sample_ratio) == ("MobileFaceNet_128", 128, 1.0)
    assert mbf.num_classes == 85742
    assert (mbf.train_unit, mbf.train_num, mbf.decay_boundaries, mbf.batch_size) == ("epoch", 25, (10, 16, 22), 128)
    r50, r100 = load_preset("ms1mv3_r50"), load_preset("ms1mv3_r100")
    assert (r50.network, r50.embedding_size, r50.sample_ratio, r50.num_classes) == ("FresResNet50", 512, 0.1, 93431)
    assert r100.network == "FresResNet100" and r100.lr == 0.1 and r100.weight_decay == 5e-4
    base = load_preset("base")
    assert (base.warmup_num, base.train_num, base.decay_boundaries) == (1000, 180000, (100000, 140000, 160000))
    with pytest.raises(ValueError, match="unknown config 'r18'"):
        load_preset("r18")


def test_overrides_parse_types_and_accept_the_arcface_paddle_spellings() -> None:
    config = apply_overrides(
        TrainConfig(),
        ["lr=0.02", "decay_boundaries=8,14", "fp16=False", "backbone=iresnet18", "val_targets=lfw,agedb_30"],
    )
    assert (config.lr, config.decay_boundaries, config.amp, config.network) == (0.02, (8, 14), False, "iresnet18")
    assert config.val_targets == ("lfw", "agedb_30")
    assert apply_overrides(config, ["fp16=true"]).amp is True  # Arcface-Paddle's name for mixed precision
    assert apply_overrides(config, {"use_synthetic_dataset": "true", "batch_size": "16"}).synthetic is True
    with pytest.raises(ValueError, match="unknown config key 'lrr'"):
        apply_overrides(config, ["lrr=1"])
    with pytest.raises(ValueError, match="batch_size: cannot parse 'x'"):
        apply_overrides(config, ["batch_size=x"])
    with pytest.raises(ValueError, match="sample_ratio must be in"):
        apply_overrides(config, ["sample_ratio=1.5"])
    assert math.isclose(TrainConfig().momentum, 0.9)


def test_the_arcface_paddle_readme_command_line_parses_into_the_expected_config() -> None:
    from faceid.cli.main import build_parser
    from faceid.cli.train import _config_from_args

    command = (
        "train --config_file configs/ms1mv2_mobileface.py --embedding_size 128 --sample_ratio 1.0 --loss ArcFace "
        "--batch_size 512 --dataset MS1M_v2 --num_classes 85742 --data_dir MS1M_v2/ --label_file MS1M_v2/label.txt "
        "--fp16 False --is_bin False --validation_interval_step 500 --use_synthetic_dataset"
    )
    config = _config_from_args(build_parser().parse_args(command.split(" ")))
    assert (config.network, config.embedding_size, config.batch_size, config.num_classes) == (
        "MobileFaceNet_128",
        128,
        512,
        85742,
    )
    assert (config.amp, config.val_interval, config.synthetic, config.train_num) == (False, 500, True, 25)
    assert config.resolved_label_file == "MS1M_v2/label.txt"
    assert _config_from_args(build_parser().parse_args(["train", "--fp16", "True"])).amp is True
    v1 = _config_from_args(build_parser().parse_args(["train", "--config", "v1_mobileface", "--set", "seed=4"]))
    assert (v1.batch_size, v1.weight_decay, v1.output, v1.seed) == (512, 2e-4, "emore_arcface", 4)
