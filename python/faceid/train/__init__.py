"""Training: the engine, its config, schedule, checkpoints and distributed set-up (not imported by the library)."""

from faceid.train.config import PRESETS, TrainConfig, apply_overrides, load_preset
from faceid.train.engine import TrainResult, train

__all__ = ["PRESETS", "TrainConfig", "TrainResult", "apply_overrides", "load_preset", "train"]
