"""Step counts and the learning-rate schedule, as pure functions of the global step (so resume is exact).

As in Arcface-Paddle: ``steps_per_epoch = num_images // global_batch``; with ``train_unit="epoch"`` the
warmup, length and decay boundaries are in epochs, else in steps; the base LR is ``lr * global_batch / 512``.
Decay boundaries count from step 0 (warmup included); after warmup the rate follows ``piecewise``
(x ``lr_decay`` at each boundary), ``cosine`` or ``poly`` (linear to 0, as insightface arcface_torch).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["StepPlan", "learning_rate", "plan_steps"]


@dataclass(frozen=True)
class StepPlan:
    """How many steps a run takes and where its LR changes."""

    global_batch: int
    steps_per_epoch: int
    total_steps: int
    total_epoch: int
    warmup_steps: int
    decay_steps: tuple[int, ...]
    base_lr: float

    def log_lines(self, world_size: int) -> list[str]:
        """Arcface-Paddle's start-of-training summary lines."""
        return [
            f"world_size: {world_size}",
            f"total_batch_size: {self.global_batch}",
            f"warmup_steps: {self.warmup_steps}",
            f"steps_per_epoch: {self.steps_per_epoch}",
            f"total_steps: {self.total_steps}",
            f"total_epoch: {self.total_epoch}",
            f"decay_steps: {list(self.decay_steps)}",
        ]


def plan_steps(
    num_images: int,
    global_batch: int,
    *,
    lr: float,
    train_unit: str = "epoch",
    train_num: int = 25,
    warmup_num: int = 0,
    decay_boundaries: tuple[int, ...] = (),
) -> StepPlan:
    """Convert the config's units into steps for a data set of ``num_images`` and a global batch."""
    steps_per_epoch = num_images // global_batch
    if steps_per_epoch < 1:
        raise ValueError(f"{num_images} images do not fill one global batch of {global_batch}")
    if list(decay_boundaries) != sorted(decay_boundaries):
        raise ValueError(f"decay_boundaries must be increasing, got {list(decay_boundaries)}")
    unit = steps_per_epoch if train_unit == "epoch" else 1
    total_steps = train_num * unit
    total_epoch = train_num if train_unit == "epoch" else math.ceil(total_steps / steps_per_epoch)
    return StepPlan(
        global_batch=global_batch,
        steps_per_epoch=steps_per_epoch,
        total_steps=total_steps,
        total_epoch=total_epoch,
        warmup_steps=warmup_num * unit,
        decay_steps=tuple(b * unit for b in decay_boundaries),
        base_lr=lr * global_batch / 512,
    )


def learning_rate(step: int, plan: StepPlan, *, kind: str = "piecewise", lr_decay: float = 0.1) -> float:
    """The LR used for the update at ``step`` (0-based)."""
    if step < plan.warmup_steps:
        return plan.base_lr * step / plan.warmup_steps
    if kind == "piecewise":
        return plan.base_lr * lr_decay ** sum(step >= b for b in plan.decay_steps)
    span = max(plan.total_steps - plan.warmup_steps, 1)
    progress = min((step - plan.warmup_steps) / span, 1.0)
    if kind == "cosine":
        return plan.base_lr * 0.5 * (1.0 + math.cos(math.pi * progress))
    if kind == "poly":
        return plan.base_lr * (1.0 - progress)
    raise ValueError(f"unknown lr schedule {kind!r}; expected piecewise, cosine or poly")
