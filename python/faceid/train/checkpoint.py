"""Training checkpoints: ``<output>/<network>/<epoch>/``, written whole or not at all.

Contents: ``backbone.npz`` (weights and BN statistics by structured name), ``optimizer.npz`` (momentum
buffers by the same names), ``classifier_rank<r>.npz`` per rank (its centres, their momentum and the class
range they cover), ``meta.json`` (step, epoch, position in the epoch, the config, best accuracies) and
``backbone.pdparams`` for tools that expect Paddle's format. Weights are npz read with ``allow_pickle=False``:
loading a checkpoint cannot run code. Random streams are derived from ``(seed, global step)``, so the step is
the whole random state. Every rank writes into one temporary folder that rank 0 renames into place after a
barrier: a crash mid-save leaves the previous checkpoint as it was.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import paddle

from faceid.errors import InputError
from faceid.heads.collectives import World
from faceid.heads.partial_fc import PartialFC
from faceid.io.atomic import replace_dir
from faceid.models.weights import (
    DamagedCheckpointError,
    latest_checkpoint,
    list_checkpoints,
    load_backbone,
    load_npz,
    read_meta,
)

__all__ = [
    "DamagedCheckpointError",
    "TrainState",
    "import_v1_classifier",
    "latest_checkpoint",
    "load_checkpoint",
    "save_checkpoint",
]

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1


@dataclass
class TrainState:
    """Where training stands: the next step to run (epoch, batch within it, global step) and the best
    verification accuracies so far."""

    epoch: int = 0
    step_in_epoch: int = 0
    global_step: int = 0
    highest: dict[str, float] = field(default_factory=dict)


def _barrier(current: World) -> None:
    if current.size > 1:
        import paddle.distributed as dist

        dist.barrier()


def _savez(path: Path, arrays: dict[str, np.ndarray]) -> None:
    with open(path, "wb") as handle:
        np.savez(handle, **arrays)
        handle.flush()
        os.fsync(handle.fileno())


def _optimizer_arrays(model: paddle.nn.Layer, optimizer: paddle.optimizer.Optimizer) -> dict[str, np.ndarray]:
    """The optimizer's per-parameter buffers, renamed from Paddle's run-specific names to structured ones."""
    state = optimizer.state_dict()
    out = {}
    for name, param in model.named_parameters():
        for key, value in state.items():
            if key.startswith(param.name + "_") and isinstance(value, paddle.Tensor):
                out[f"{name}::{key[len(param.name) + 1 :]}"] = value.numpy()
    return out


def save_checkpoint(
    root: str | os.PathLike[str],
    epoch: int,
    *,
    model: paddle.nn.Layer,
    head: PartialFC,
    optimizer: paddle.optimizer.Optimizer,
    state: TrainState,
    meta: dict[str, Any],
    world: World,
    keep: int = 1,
) -> Path:
    """Write checkpoint ``root/<epoch>`` (replacing an older one of that epoch) and keep the last ``keep``."""
    root = Path(root)
    final, staging = root / str(epoch), root / f".staging-{epoch}"
    if world.rank == 0:
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
    _barrier(world)
    _savez(
        staging / f"classifier_rank{world.rank:05d}.npz",
        {
            "weight": head.weight.numpy(),
            "velocity": head.velocity.numpy(),
            "class_range": np.array([head.class_start, head.num_local, head.num_classes], dtype=np.int64),
        },
    )
    if world.rank == 0:
        _savez(staging / "backbone.npz", {k: v.numpy() for k, v in model.state_dict().items()})
        _savez(staging / "optimizer.npz", _optimizer_arrays(model, optimizer))
        paddle.save(model.state_dict(), str(staging / "backbone.pdparams"))
        record = {**meta, "format_version": FORMAT_VERSION, "world_size": world.size, "epoch": epoch}
        record.update(
            next_epoch=state.epoch,
            step_in_epoch=state.step_in_epoch,
            global_step=state.global_step,
            highest=state.highest,
        )
        (staging / "meta.json").write_text(json.dumps(record, indent=1, sort_keys=True))
    _barrier(world)
    if world.rank == 0:
        replace_dir(staging, final)
        logger.info("Save model to %s.", final)
        _prune(root, keep)
    _barrier(world)
    return final


def _prune(root: Path, keep: int) -> None:
    for _, path in list_checkpoints(root, damaged=[])[:-keep]:  # damaged ones are left for the user to see
        shutil.rmtree(path)
        logger.info("Remove checkpoint %s.", path)


def _load_optimizer(path: Path, model: paddle.nn.Layer, optimizer: paddle.optimizer.Optimizer) -> None:
    arrays = load_npz(path / "optimizer.npz")
    params = dict(model.named_parameters())
    state = {}
    for key, value in arrays.items():
        name, suffix = key.split("::", 1)
        if name not in params:
            raise ValueError(f"{path}: optimizer state for unknown parameter {name}")
        state[f"{params[name].name}_{suffix}"] = paddle.to_tensor(value)
    optimizer.set_state_dict(state)


def load_classifier(path: str | os.PathLike[str], head: PartialFC) -> None:
    """Fill ``head``'s shard from a checkpoint written with any world size (re-sharding as needed)."""
    path = Path(path)
    shards = sorted(path.glob("classifier_rank*.npz"))
    if not shards:
        raise DamagedCheckpointError("checkpoint has no classifier_rank*.npz", path)
    lo, hi = head.class_start, head.class_start + head.num_local
    weight = np.empty((head.embedding_size, head.num_local), dtype=np.float32)
    velocity = np.empty_like(weight)
    covered = 0
    for shard in shards:
        arrays = load_npz(shard)
        start, count, total = (int(v) for v in arrays["class_range"])
        if total != head.num_classes or arrays["weight"].shape[0] != head.embedding_size:
            raise ValueError(
                f"{shard}: {total} classes x {arrays['weight'].shape[0]}-d, the run has "
                f"{head.num_classes} x {head.embedding_size}"
            )
        a, b = max(lo, start), min(hi, start + count)
        if a < b:
            weight[:, a - lo : b - lo] = arrays["weight"][:, a - start : b - start]
            velocity[:, a - lo : b - lo] = arrays["velocity"][:, a - start : b - start]
            covered += b - a
    if covered != head.num_local:
        raise ValueError(f"{path}: the classifier shards cover {covered} of this rank's {head.num_local} classes")
    head.weight.set_value(weight)
    head.velocity.set_value(velocity)


def load_checkpoint(
    path: str | os.PathLike[str],
    *,
    model: paddle.nn.Layer,
    head: PartialFC,
    optimizer: paddle.optimizer.Optimizer,
    expect: dict[str, Any],
) -> TrainState:
    """Restore a run from ``path``; ``expect`` lists meta values that must match (network, sizes)."""
    path = Path(path)
    meta = read_meta(path)
    for key, value in expect.items():
        if meta.get(key) != value:
            raise InputError(f"checkpoint has {key}={meta.get(key)!r}, this run has {value!r}", path)
    load_backbone(path, model)
    _load_optimizer(path, model, optimizer)
    load_classifier(path, head)
    logger.info("resumed from %s (world size %d then, %d now)", path, meta["world_size"], head.world.size)
    return TrainState(
        epoch=int(meta["next_epoch"]),
        step_in_epoch=int(meta["step_in_epoch"]),
        global_step=int(meta["global_step"]),
        highest={k: float(v) for k, v in meta.get("highest", {}).items()},
    )


def import_v1_classifier(weight_pkl: str | os.PathLike[str], momentum_pkl: str | os.PathLike[str] | None = None):
    """Arcface-Paddle v1's ``rank:0_softmax_weight.pkl`` (and ``..._mom.pkl``) as (D, C) float32 arrays.

    Those files pickle a (num_local, D) numpy array; they are read with a restricted unpickler that rebuilds
    float32 arrays and nothing else. Returns ``(weight, velocity)`` in faceid's (D, C) layout (velocity zeros
    when no momentum file is given): set them on a one-rank :class:`PartialFC` or save them as a checkpoint.
    """
    from faceid.io.safe_pickle import BYTES_GLOBALS, numpy_float32_globals, restricted_loads

    allowed = {**BYTES_GLOBALS, **numpy_float32_globals()}

    def read(path: str | os.PathLike[str]) -> np.ndarray:
        value = restricted_loads(Path(path).read_bytes(), allowed, source=str(path))
        array = np.asarray(value)
        if not isinstance(value, np.ndarray) or array.ndim != 2:
            raise ValueError(f"{path}: expected a pickled 2-D float32 array, got {type(value).__name__}")
        return np.ascontiguousarray(array.T, dtype=np.float32)

    weight = read(weight_pkl)
    velocity = read(momentum_pkl) if momentum_pkl is not None else np.zeros_like(weight)
    if velocity.shape != weight.shape:
        raise ValueError(f"{momentum_pkl}: momentum shape {velocity.shape[::-1]} != weight {weight.shape[::-1]}")
    return weight, velocity
