"""Mixed-precision training on a GPU (needs a CUDA build of Paddle and a GPU)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.cuda
paddle = pytest.importorskip("paddle", reason="needs Paddle (the GPU check runs without it)")


def test_float16_amp_training_on_a_gpu_keeps_the_classifier_update_unscaled(tmp_path: Path) -> None:
    if not (paddle.is_compiled_with_cuda() and paddle.device.cuda.device_count() > 0):
        pytest.skip("AMP needs a GPU for Paddle")
    from faceid.train import TrainConfig, train

    config = TrainConfig(
        network="MobileFaceNet_slim",
        synthetic=True,
        num_classes=100,
        batch_size=16,
        max_steps=3,
        amp=True,
        init_loss_scaling=1024.0,
        output=str(tmp_path / "out"),
        logdir=str(tmp_path),
        warmup_num=0,
    )
    result = train(config)
    with np.load(result.checkpoint / "classifier_rank00000.npz", allow_pickle=False) as data:
        weights = data["weight"]
    assert np.isfinite(result.last_loss) and np.isfinite(weights).all()
    # An update scaled by 1024 would move the 0.01-std initial centres by hundreds.
    assert np.abs(weights).max() < 50
