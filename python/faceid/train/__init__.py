"""Training: the engine, its config, schedule, checkpoints and distributed set-up (not imported by the library).

The exports load on first use, so ``faceid.train.config`` (what the CLI parser needs) does not import Paddle.
"""

from __future__ import annotations

from typing import Any

_EXPORTS = {
    "PRESETS": "faceid.train.config",
    "TrainConfig": "faceid.train.config",
    "apply_overrides": "faceid.train.config",
    "load_preset": "faceid.train.config",
    "TrainResult": "faceid.train.engine",
    "train": "faceid.train.engine",
}

__all__ = ["PRESETS", "TrainConfig", "TrainResult", "apply_overrides", "load_preset", "train"]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'faceid.train' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(_EXPORTS[name]), name)
