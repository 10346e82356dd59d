"""TAR@FAR and ROC against brute force; `faceid export` + `faceid eval` end to end with the report files."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from faceid.cli.main import main
from faceid.eval.metrics import verification_metrics
from faceid.eval.report import TargetReport, roc_curve, tar_at_far


def _brute_tar(dist: np.ndarray, same: np.ndarray, far: float) -> float:
    best = 0.0
    for threshold in np.unique(np.concatenate([dist, [dist.max() + 1]])):
        accepted = dist < threshold
        if accepted[~same].mean() <= far:
            best = max(best, accepted[same].mean())
    return best


def test_tar_at_far_equals_brute_force_and_needs_enough_impostors() -> None:
    rng = np.random.default_rng(0)
    same = rng.random(3000) < 0.3
    dist = np.where(same, rng.normal(0.8, 0.3, 3000), rng.normal(1.6, 0.3, 3000)).round(3)  # with ties
    result = tar_at_far(dist, same)
    for key, far in (("1e-01", 0.1), ("1e-02", 0.01), ("1e-03", 1e-3)):
        assert result[key] == pytest.approx(_brute_tar(dist, same, far))
    assert result["1e-04"] is None  # ~2100 impostor pairs cannot measure 1e-4
    far, tar = roc_curve(dist, same)
    assert far[0] == tar[0] == 0 and far[-1] == tar[-1] == 1
    assert (np.diff(far) >= 0).all() and (np.diff(tar) >= 0).all()


@pytest.mark.parametrize(("num_pairs", "genuine_share"), [(3000, 0.3), (700, 0.3), (20, 1.0)])
def test_every_rate_at_a_far_follows_one_rule_in_the_json(num_pairs: int, genuine_share: float) -> None:
    # Rule: a rate at FAR f is reported only when the set has at least 1/f impostor pairs, else null.
    rng = np.random.default_rng(1)
    same = np.arange(num_pairs) < round(genuine_share * num_pairs)
    rng.shuffle(same)
    left = rng.normal(size=(num_pairs, 16))
    right = np.where(same[:, None], left + 0.8 * rng.normal(size=left.shape), rng.normal(size=left.shape))
    embeddings = np.stack([left, right], axis=1).reshape(-1, 16)
    result = verification_metrics(embeddings, None, same)
    payload = TargetReport("t", result, same, tar_at_far(result.distances, same)).to_json()
    impostors = int((~same).sum())
    for key, far in (("1e-01", 0.1), ("1e-02", 0.01), ("1e-03", 1e-3), ("1e-04", 1e-4)):
        assert (payload["tar_at_far"][key] is None) == (impostors < 1 / far), (key, impostors)
    # VAL@FAR=1e-3 (insightface's 10-fold interpolated protocol) obeys the same rule as TAR@FAR=1e-3.
    assert (payload["val_at_far_1e-3"] is None) == (payload["tar_at_far"]["1e-03"] is None)
    if payload["val_at_far_1e-3"] is not None:
        assert payload["val_at_far_1e-3"] == result.val


def test_export_then_eval_prints_the_seed_lines_and_writes_the_report(
    tmp_path: Path, shared_data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from faceid.train import TrainConfig, train

    out = tmp_path / "run"
    train(
        TrainConfig(
            network="MobileFaceNet_slim",
            synthetic=True,
            num_classes=50,
            batch_size=4,
            max_steps=1,
            output=str(out),
            logdir=str(tmp_path),
            warmup_num=0,
        )
    )
    capsys.readouterr()
    assert (
        main(["export", "--network", "MobileFaceNet_slim", "--checkpoint", str(out), "--output", str(tmp_path / "exp")])
        == 0
    )
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(shared_data / "verification" / "small_lfw.bin", data / "lfw.bin")
    report = tmp_path / "report"
    args = [
        "eval",
        "--model",
        str(tmp_path / "exp"),
        "--data_dir",
        str(data),
        "--val_targets",
        "lfw",
        "--batch_size",
        "1000",
        "--report",
        str(report),
    ]
    assert main(args) == 0
    stdout = capsys.readouterr().out
    assert re.search(r"^\[lfw\]\[1\]XNorm: [\d.]+$", stdout, re.M)
    assert re.search(r"^\[lfw\]\[1\]Accuracy-Flip: [01]\.\d{5}\+-[01]\.\d{5}$", stdout, re.M)
    assert re.search(r"^\[lfw\]\[1\]Accuracy-Highest: [01]\.\d{5}$", stdout, re.M)
    payload = json.loads((report / "lfw.json").read_text())
    assert {"accuracy_flip_mean", "accuracy_flip_std", "xnorm", "tar_at_far"} <= payload.keys()
    assert payload["num_pairs"] == 10 and payload["tar_at_far"]["1e-01"] is None  # small_lfw has no impostors
    assert payload["val_at_far_1e-3"] is None  # nor a VAL at a FAR it cannot measure
    image = cv2.imread(str(report / "lfw_roc.png"))
    assert image is not None and image.shape == (560, 560, 3)
    checkpoint_args = [
        "eval",
        "--network",
        "MobileFaceNet_slim",
        "--checkpoint",
        str(out),
        "--data_dir",
        str(data),
        "--val_targets",
        "lfw",
        "--batch_size",
        "7",
    ]
    assert main(checkpoint_args) == 0
    # The training checkpoint in dygraph and its export in Paddle Inference score the same.
    exported_line = re.search(r"\[lfw\]\[1\]Accuracy-Flip: .*", stdout).group(0)
    assert exported_line in capsys.readouterr().out
