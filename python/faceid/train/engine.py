"""The training loop: data-parallel backbone, model-parallel PartialFC classifier, exact resume.

``train(config)`` runs on one CPU, one GPU, or every process started by ``paddle.distributed.launch``.
Every random choice (data order, flips, class sampling, dropout) is derived from ``(seed, epoch or step,
rank)``, so a run stopped at step k and resumed with the same world size reaches the same weights as an
uninterrupted one.
"""

from __future__ import annotations

import contextlib
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import paddle

from faceid.data import FaceDataset, FaceLoader
from faceid.errors import InputError
from faceid.heads import PartialFC, World
from faceid.models import create_model
from faceid.train.checkpoint import (
    DamagedCheckpointError,
    TrainState,
    list_checkpoints,
    load_checkpoint,
    save_checkpoint,
)
from faceid.train.config import TrainConfig
from faceid.train.distributed import all_reduce_gradients, broadcast_parameters, init_distributed, select_device
from faceid.train.log import ScalarWriter, SpeedMeter, close_training_log, setup_training_log
from faceid.train.output import check_output
from faceid.train.schedule import StepPlan, learning_rate, plan_steps
from faceid.train.validation import Validator

__all__ = ["TrainResult", "train"]

logger = logging.getLogger("faceid.train")

SYNTHETIC_NUM_IMAGES = 5_179_510  # Arcface-Paddle's SyntheticDataset length


@dataclass
class TrainResult:
    """What a finished (or stopped) run leaves: its state, last logged loss, last checkpoint, accuracies."""

    state: TrainState
    last_loss: float
    checkpoint: Path | None
    accuracies: dict[str, float] = field(default_factory=dict)


@dataclass
class _Run:
    config: TrainConfig
    world: World
    device: str
    loader: FaceLoader
    plan: StepPlan
    model: paddle.nn.Layer
    head: PartialFC
    optimizer: paddle.optimizer.Optimizer
    amp: bool  # mixed precision active (config.amp on a GPU)
    grad_scaler: paddle.amp.GradScaler | None  # float16 loss scaling; None for bfloat16 and float32
    state: TrainState
    root: Path
    validator: Validator
    writer: ScalarWriter
    meter: SpeedMeter
    last_loss: float = math.nan


def _dataset(config: TrainConfig) -> FaceDataset:
    if config.synthetic:
        dataset = FaceDataset.synthetic_set(SYNTHETIC_NUM_IMAGES, config.num_classes or 93431, seed=config.seed)
        logger.info("num_classes: %d (synthetic data, %s)", dataset.num_classes, _class_source(config))
        return dataset
    from faceid.data.check import label_problems

    label_path = config.resolved_label_file
    dataset = FaceDataset.from_folder(config.data_dir, label_path, config.num_classes or None)
    logger.info("read label file finished, total num: %d", len(dataset))
    logger.info("num_classes: %d (%s)", dataset.num_classes, _class_source(config))
    for problem in label_problems(dataset.labels, label_path):
        logger.warning("%s (the classifier still has a centre for every id up to the largest)", problem.line())
    return dataset


def _class_source(config: TrainConfig) -> str:
    if config.num_classes:
        return "from --num_classes"
    return "the default" if config.synthetic else "from the labels: largest label + 1"


def _amp(config: TrainConfig, device: str) -> tuple[bool, paddle.amp.GradScaler | None]:
    """Whether mixed precision runs, and the loss scaler it needs (float16 only)."""
    if not config.amp:
        return False, None
    if not device.startswith("gpu"):
        logger.warning("mixed precision (amp/fp16) was requested but training runs on %s: using float32", device)
        return False, None
    if config.amp_dtype == "bfloat16":
        return True, None
    scaler = paddle.amp.GradScaler(
        init_loss_scaling=config.init_loss_scaling,
        incr_ratio=config.incr_ratio,
        decr_ratio=config.decr_ratio,
        incr_every_n_steps=config.incr_every_n_steps,
        decr_every_n_nan_or_inf=config.decr_every_n_nan_or_inf,
        use_dynamic_loss_scaling=config.use_dynamic_loss_scaling,
    )
    return True, scaler


def _log_args(config: TrainConfig, world: World) -> None:
    logger.info("rank: %d", world.rank)
    logger.info("--------args----------")
    for key, value in config.to_dict().items():
        logger.info("%s: %s", key, value)
    logger.info("------------------------\n")


def _build(config: TrainConfig, model: paddle.nn.Layer | None) -> _Run:
    world = init_distributed()
    removed = check_output(config, world.rank)
    setup_training_log(config.output, world.rank)
    if removed:
        logger.warning("--overwrite: removed the previous run in %s: %s", config.output, ", ".join(map(str, removed)))
    _log_args(config, world)
    device = select_device()
    paddle.seed(config.seed)
    dataset = _dataset(config)
    loader = FaceLoader(
        dataset,
        config.batch_size,
        rank=world.rank,
        world_size=world.size,
        seed=config.seed,
        num_threads=max(config.num_workers, 1),
        skip_corrupt=config.skip_corrupt,
    )
    plan = plan_steps(
        len(dataset),
        config.batch_size * world.size,
        lr=config.lr,
        train_unit=config.train_unit,
        train_num=config.train_num,
        warmup_num=config.warmup_num,
        decay_boundaries=config.decay_boundaries,
    )
    for line in plan.log_lines(world.size):
        logger.info(line)
    model = model if model is not None else create_model(config.network, **_model_kwargs(config))
    broadcast_parameters(model, world)
    head = PartialFC(
        config.embedding_size,
        dataset.num_classes,
        margin=config.loss,
        sample_ratio=config.sample_ratio,
        world=world,
        seed=config.seed,
    )
    clip = paddle.nn.ClipGradByGlobalNorm(config.grad_clip) if config.grad_clip > 0 else None
    optimizer = paddle.optimizer.Momentum(
        plan.base_lr,
        momentum=config.momentum,
        parameters=model.parameters(),
        weight_decay=config.weight_decay,
        grad_clip=clip,
    )
    amp, grad_scaler = _amp(config, device)
    validator = Validator(config, world.rank, amp=amp)
    run = _Run(
        config=config,
        world=world,
        device=device,
        loader=loader,
        plan=plan,
        model=model,
        head=head,
        optimizer=optimizer,
        amp=amp,
        grad_scaler=grad_scaler,
        state=TrainState(),
        root=Path(config.output) / config.network,
        validator=validator,
        writer=ScalarWriter(config.logdir, world.rank),
        meter=SpeedMeter(config.batch_size * world.size, _stop_step(config, plan)),
    )
    _maybe_resume(run, num_classes=dataset.num_classes)
    return run


def _model_kwargs(config: TrainConfig) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"embedding_size": config.embedding_size}
    if config.dropout > 0:
        kwargs["dropout"] = config.dropout
    return kwargs


def _stop_step(config: TrainConfig, plan: StepPlan) -> int:
    return min(plan.total_steps, config.max_steps or plan.total_steps)


def _maybe_resume(run: _Run, *, num_classes: int) -> None:
    if run.config.resume == "0":
        return
    expect = {"network": run.config.network, "embedding_size": run.config.embedding_size, "num_classes": num_classes}
    if run.config.resume != "1":
        path = Path(run.config.resume)
        run.state = load_checkpoint(path, model=run.model, head=run.head, optimizer=run.optimizer, expect=expect)
    else:
        path = _resume_newest_good(run, expect)
        if path is None:
            return
    run.validator.highest.update(run.state.highest)
    logger.info(
        "resume from %s at global step %d (epoch %d, batch %d)",
        path,
        run.state.global_step,
        run.state.epoch,
        run.state.step_in_epoch,
    )


def _resume_newest_good(run: _Run, expect: dict[str, Any]) -> Path | None:
    """Load the newest checkpoint under the run's root that reads whole; each damaged one is skipped with one
    warning naming its file. None (a new run) when there is no checkpoint; an error when none is readable."""
    damaged: list[DamagedCheckpointError] = []
    candidates = list_checkpoints(run.root, damaged)
    for error in damaged:
        logger.warning("--resume: skipping a damaged checkpoint: %s", error)
    for _, path in reversed(candidates):
        try:
            run.state = load_checkpoint(path, model=run.model, head=run.head, optimizer=run.optimizer, expect=expect)
            return path
        except DamagedCheckpointError as error:
            damaged.append(error)
            logger.warning("--resume: skipping a damaged checkpoint: %s; trying the one before", error)
    if damaged:
        files = ", ".join(str(e.path) for e in damaged)
        raise InputError(f"--resume 1: no readable checkpoint (damaged: {files})", run.root)
    logger.warning("--resume: no checkpoint under %s yet; starting from scratch", run.root)
    return None


def _step_seed(seed: int, step: int, rank: int) -> int:
    return int(np.random.SeedSequence((seed, step, rank)).generate_state(1, np.uint32)[0])


def _loss_scale(scaler: paddle.amp.GradScaler | None) -> float:
    """The scale the gradients carry: GradScaler keeps it as a shape-[1] tensor (no public getter in 3.3)."""
    value = getattr(scaler, "_scale", None)
    if value is None:
        return 1.0
    return float(np.asarray(value.numpy() if hasattr(value, "numpy") else value).reshape(-1)[0])


def _train_step(run: _Run, images: paddle.Tensor, labels: paddle.Tensor) -> tuple[float, float]:
    config, step = run.config, run.state.global_step
    lr = learning_rate(step, run.plan, kind=config.lr_scheduler, lr_decay=config.lr_decay)
    run.optimizer.set_lr(lr)
    paddle.seed(_step_seed(config.seed, step, run.world.rank))
    scaler = run.grad_scaler
    autocast = paddle.amp.auto_cast(dtype=config.amp_dtype) if run.amp else contextlib.nullcontext()
    with autocast:
        features = run.model(images)
    loss = run.head(features.astype("float32"), labels, step=step)
    scale = _loss_scale(scaler)
    (scaler.scale(loss) if scaler is not None else loss).backward()
    all_reduce_gradients(run.model.parameters(), run.world)
    if scaler is not None:
        scaler.step(run.optimizer)
        scaler.update()
    else:
        run.optimizer.step()
    run.head.step(lr, momentum=config.momentum, weight_decay=config.weight_decay, grad_scale=scale)
    run.optimizer.clear_grad()
    return float(loss), lr


def _after_step(run: _Run, loss: float, lr: float) -> None:
    state, config = run.state, run.config
    run.meter.update(loss)
    run.last_loss = loss
    if state.global_step % config.log_interval == 0:
        logger.info(run.meter.line(epoch=state.epoch, step=state.global_step, lr_backbone=lr, lr_classifier=lr))
        run.writer.add("loss", run.meter.last_loss, state.global_step)
        run.writer.add("lr", lr, state.global_step)
        run.writer.add("throughput", run.meter.last_speed, state.global_step)
    if config.do_validation_while_train and state.global_step % config.val_interval == 0:
        _validate(run)


def _validate(run: _Run) -> None:
    for name, accuracy in run.validator.run(run.model, run.state.global_step).items():
        run.writer.add(f"accuracy/{name}", accuracy, run.state.global_step)
    run.state.highest = dict(run.validator.highest)


def _save(run: _Run, epoch: int) -> Path:
    meta = {
        "network": run.config.network,
        "embedding_size": run.config.embedding_size,
        "num_classes": run.head.num_classes,
        "seed": run.config.seed,
        "config": run.config.to_dict(),
    }
    return save_checkpoint(
        run.root,
        epoch,
        model=run.model,
        head=run.head,
        optimizer=run.optimizer,
        state=run.state,
        meta=meta,
        world=run.world,
        keep=run.config.max_num_last_checkpoint,
    )


def _loop(run: _Run) -> Path | None:
    state, plan = run.state, run.plan
    stop_at = _stop_step(run.config, plan)
    checkpoint = None
    validated_at_end = run.config.do_validation_while_train and stop_at % run.config.val_interval == 0
    while state.global_step < stop_at and state.epoch < plan.total_epoch:
        run.loader.set_epoch(state.epoch)
        for images, labels in run.loader.iterate(state.step_in_epoch):
            loss, lr = _train_step(run, images, labels)
            state.global_step += 1
            state.step_in_epoch += 1
            _after_step(run, loss, lr)
            if state.global_step >= stop_at:
                break
        epoch = state.epoch
        if state.global_step >= stop_at and run.config.do_validation_while_train and not validated_at_end:
            _validate(run)  # the last step was not a validation step: score the final weights once
        if state.step_in_epoch >= len(run.loader):
            state.epoch, state.step_in_epoch = epoch + 1, 0
        checkpoint = _save(run, epoch)
    return checkpoint


def train(config: TrainConfig, model: paddle.nn.Layer | None = None) -> TrainResult:
    """Train as ``config`` says; returns when the schedule (or ``max_steps``) is done.

    ``model``: a backbone to train instead of ``create_model(config.network)`` (a custom architecture; its
    checkpoints are still filed under ``config.network``).
    """
    try:
        run = _build(config, model)
    except BaseException:
        close_training_log()
        raise
    try:
        checkpoint = _loop(run)
    finally:
        run.writer.close()
        close_training_log()
    return TrainResult(run.state, run.last_loss, checkpoint, dict(run.validator.last))
