"""Training configuration: one typed dataclass, Arcface-Paddle's presets, and ``key=value`` overrides.

Field names follow Arcface-Paddle's flags (``--lr``, ``--train_unit``, ``--decay_boundaries``, ...) so that
its commands and configs carry over; a few spellings are accepted as aliases (``backbone`` for ``network``,
``use_synthetic_dataset`` for ``synthetic``, ``validation_interval_step`` for ``val_interval``, ...).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, fields, replace
from typing import Any, get_type_hints

__all__ = ["ALIASES", "PRESETS", "TrainConfig", "apply_overrides", "load_preset", "parse_resume", "parse_value"]

_NO = ("", "0", "false", "f", "no", "n")
_YES = ("1", "true", "t", "yes", "y")


def parse_resume(text: str) -> str:
    """``--resume``: ``"0"`` (start a new run), ``"1"`` (continue from the newest checkpoint under ``--output``)
    or a checkpoint folder. The boolean spellings (true/false/yes/no) map to ``"1"``/``"0"``; anything else
    is a path, returned as given."""
    lowered = str(text).strip().lower()
    if lowered in _NO:
        return "0"
    if lowered in _YES:
        return "1"
    return str(text)


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run needs.

    Defaults: Arcface-Paddle's base config (``configs/config.py``), except the network and embedding size, taken
    from Arcface-Paddle v1's command line (MobileFaceNet_128, 128-d), and ``amp`` (off; presets turn it on for GPUs).
    ``amp`` is automatic mixed precision in ``amp_dtype`` (float16 with dynamic loss scaling, or bfloat16);
    Arcface-Paddle calls it ``fp16``, which is accepted as an alias (``--fp16``, ``--set fp16=...``).
    """

    # model and loss
    network: str = "MobileFaceNet_128"
    embedding_size: int = 128
    loss: str = "ArcFace"
    sample_ratio: float = 1.0
    dropout: float = 0.0
    # mixed precision (GPU only; CPU trains in float32)
    amp: bool = False
    amp_dtype: str = "float16"
    init_loss_scaling: float = 27648.0
    incr_every_n_steps: int = 2000
    decr_every_n_nan_or_inf: int = 1
    incr_ratio: float = 2.0
    decr_ratio: float = 0.5
    use_dynamic_loss_scaling: bool = True
    # optimisation: lr is for a global batch of 512 and scaled linearly
    lr: float = 0.1
    lr_decay: float = 0.1
    lr_scheduler: str = "piecewise"
    weight_decay: float = 5e-4
    momentum: float = 0.9
    grad_clip: float = 0.0
    train_unit: str = "step"
    warmup_num: int = 1000
    train_num: int = 180000
    decay_boundaries: tuple[int, ...] = (100000, 140000, 160000)
    max_steps: int = 0
    seed: int = 0
    # data
    data_dir: str = "./MS1M_v3"
    label_file: str = ""
    num_classes: int = 0
    batch_size: int = 64
    num_workers: int = 2
    synthetic: bool = False
    skip_corrupt: bool = False
    # validation and logging
    do_validation_while_train: bool = True
    val_interval: int = 2000
    val_targets: tuple[str, ...] = ("lfw", "cfp_fp", "agedb_30")
    val_batch_size: int = 0
    log_interval: int = 10
    logdir: str = "./log"
    # checkpoints
    output: str = "./MS1M_v3_arcface"
    resume: str = "0"  # "0" new run, "1" newest checkpoint under output, else a checkpoint folder (parse_resume)
    overwrite: bool = False  # a new run may remove the run already in output (its checkpoints and training.log)
    max_num_last_checkpoint: int = 3

    def __post_init__(self) -> None:
        object.__setattr__(self, "resume", parse_resume(self.resume))
        checks = [
            (self.batch_size > 0, f"batch_size must be positive, got {self.batch_size}"),
            (self.embedding_size > 0, f"embedding_size must be positive, got {self.embedding_size}"),
            (0.0 < self.sample_ratio <= 1.0, f"sample_ratio must be in (0, 1], got {self.sample_ratio}"),
            (self.train_unit in ("step", "epoch"), f"train_unit must be 'step' or 'epoch', got {self.train_unit!r}"),
            (
                self.lr_scheduler in ("piecewise", "cosine", "poly"),
                f"lr_scheduler must be piecewise, cosine or poly, got {self.lr_scheduler!r}",
            ),
            (self.amp_dtype in ("float16", "bfloat16"), f"amp_dtype must be float16 or bfloat16, got {self.amp_dtype}"),
            (self.log_interval > 0 and self.val_interval > 0, "log_interval and val_interval must be positive"),
            (self.train_num > 0 and self.warmup_num >= 0, "train_num must be positive and warmup_num >= 0"),
            (self.max_steps >= 0 and self.num_classes >= 0, "max_steps and num_classes must be >= 0"),
            (self.max_num_last_checkpoint >= 1, "max_num_last_checkpoint must be at least 1"),
            (not (self.overwrite and self.resume != "0"), "overwrite starts a new run; it cannot go with resume"),
            (math.isfinite(self.lr) and self.lr > 0, f"lr must be positive, got {self.lr}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)

    @property
    def resolved_label_file(self) -> str:
        return self.label_file or f"{self.data_dir.rstrip('/')}/label.txt"

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}


_MOBILEFACE = {
    "network": "MobileFaceNet_128",
    "embedding_size": 128,
    "sample_ratio": 1.0,
    "amp": True,
    "train_unit": "epoch",
    "warmup_num": 0,
    "train_num": 25,
    "decay_boundaries": (10, 16, 22),
    "data_dir": "./MS1M_v2",
    "num_classes": 85742,
    "batch_size": 128,
    "log_interval": 100,
    "output": "./MS1M_v2_arcface_MobileFaceNet_128_0.1",
    "max_num_last_checkpoint": 1,
}
_R50 = {
    "network": "FresResNet50",
    "embedding_size": 512,
    "sample_ratio": 0.1,
    "amp": True,
    "train_unit": "epoch",
    "warmup_num": 0,
    "train_num": 25,
    "decay_boundaries": (10, 16, 22),
    "data_dir": "./MS1M_v3",
    "num_classes": 93431,
    "batch_size": 128,
    "log_interval": 100,
    "output": "./MS1M_v3_arcface",
    "max_num_last_checkpoint": 1,
}
PRESETS: dict[str, dict[str, Any]] = {
    "base": {},
    "ms1mv2_mobileface": _MOBILEFACE,
    "ms1mv3_r50": _R50,
    "ms1mv3_r100": {**_R50, "network": "FresResNet100"},
    # Arcface-Paddle v1's README command line (MobileFaceNet, batch 512 on one GPU, weight decay 2e-4).
    "v1_mobileface": {**_MOBILEFACE, "batch_size": 512, "weight_decay": 2e-4, "output": "emore_arcface"},
}

ALIASES = {
    "fp16": "amp",
    "backbone": "network",
    "use_synthetic_dataset": "synthetic",
    "validation_interval_step": "val_interval",
    "log_interval_step": "log_interval",
    "checkpoint_dir": "resume",
}


def load_preset(name: str) -> TrainConfig:
    """Arcface-Paddle's named config (``base``, ``ms1mv2_mobileface``, ``ms1mv3_r50``, ``ms1mv3_r100``, ...)."""
    name = name.removeprefix("configs/").removesuffix(".py")
    if name not in PRESETS:
        raise ValueError(f"unknown config {name!r}; expected one of {sorted(PRESETS)}")
    return replace(TrainConfig(), **PRESETS[name])


def _str2bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in _YES:
        return True
    if lowered in _NO[1:]:
        return False
    raise ValueError(f"expected a boolean (true/false/1/0), got {text!r}")


def parse_value(key: str, text: str | Any) -> Any:
    """Convert ``text`` to the type of field ``key`` (tuples from comma-separated strings)."""
    hints = get_type_hints(TrainConfig)
    if key not in hints:
        raise ValueError(f"unknown config key {key!r}; known keys: {', '.join(f.name for f in fields(TrainConfig))}")
    kind = hints[key]
    if not isinstance(text, str):
        return tuple(text) if kind in (tuple[int, ...], tuple[str, ...]) else text
    try:
        if kind is bool:
            return _str2bool(text)
        if kind in (int, float, str):
            return kind(text)
        items = [t.strip() for t in text.strip("[]() ").split(",") if t.strip()]
        return tuple(int(t) for t in items) if kind == tuple[int, ...] else tuple(items)
    except ValueError as error:
        raise ValueError(f"{key}: cannot parse {text!r} as {getattr(kind, '__name__', kind)} ({error})") from None


def apply_overrides(config: TrainConfig, overrides: dict[str, Any] | list[str]) -> TrainConfig:
    """``config`` with fields replaced from ``{"key": value}`` or ``["key=value", ...]`` (aliases accepted)."""
    if isinstance(overrides, list):
        pairs = {}
        for item in overrides:
            if "=" not in item:
                raise ValueError(f"--set expects key=value, got {item!r}")
            key, value = item.split("=", 1)
            pairs[key.strip()] = value
        overrides = pairs
    changes = {}
    for key, value in overrides.items():
        name = ALIASES.get(key, key)
        changes[name] = parse_value(name, value)
    return replace(config, **changes)
