"""Model-parallel margin softmax with optional class-centre sampling (PartialFC).

The ``C`` class centres are split by columns over ``W`` ranks: ``ceil(C / W)`` per rank, the remainder
spread so that no shard is empty (see :func:`class_shards`). Every rank sees the features and labels of the
global batch (all-gathered), computes cosine logits against its own centres, and the softmax is normalised
across shards with an all-reduced max and sum. With ``sample_ratio < 1`` each rank uses only the centres of
the classes present in the global batch plus random negatives; only those columns are updated.

The classifier owns its update (:meth:`PartialFC.step`): momentum SGD with L2 decay exactly as
``paddle.optimizer.Momentum``, applied to the sampled columns only, on unscaled gradients (AMP loss scaling
never reaches the classifier).
"""

from __future__ import annotations

import logging
import math

import numpy as np
import paddle
from paddle.autograd import PyLayer

from faceid.heads.collectives import World, all_gather_concat, all_gather_with_grad, all_reduce_
from faceid.heads.margins import MarginSpec, apply_margin, margin_spec

__all__ = ["PartialFC", "class_shards", "init_centres"]

logger = logging.getLogger(__name__)

_INIT_BLOCK = 4096  # classes per independently seeded init block (world-size independent init)


def class_shards(num_classes: int, world_size: int) -> list[tuple[int, int]]:
    """``(start, count)`` per rank: ``ceil(C / W)`` classes each, fewer at the end, never an empty shard.

    Arcface-Paddle's rule (``ceil`` per rank, the last rank the rest) can leave the last rank nothing (C=9, W=4);
    when it would, the surplus is taken one class at a time from the leading shards instead.
    """
    if world_size < 1 or num_classes < world_size:
        raise ValueError(f"cannot split {num_classes} classes over {world_size} ranks (need at least one each)")
    per = math.ceil(num_classes / world_size)
    counts = [min(per, max(num_classes - r * per, 0)) for r in range(world_size)]
    short = [r for r, c in enumerate(counts) if c == 0]
    if short:
        base, extra = divmod(num_classes, world_size)
        counts = [base + (1 if r < extra else 0) for r in range(world_size)]
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).tolist()
    return [(int(s), int(c)) for s, c in zip(starts, counts, strict=False)]


def init_centres(embedding_size: int, start: int, count: int, seed: int) -> np.ndarray:
    """Initial centres for classes ``[start, start + count)``: (embedding_size, count) float32.

    Normal(0, 0.01), drawn in blocks of 4096 classes each seeded by ``(seed, block)``, so a class gets the
    same initial centre for any world size (a 2-rank run starts exactly where a 1-rank run does).
    """
    out = np.empty((embedding_size, count), dtype=np.float32)
    first, last = start // _INIT_BLOCK, (start + count - 1) // _INIT_BLOCK
    for block in range(first, last + 1):
        b0 = block * _INIT_BLOCK
        values = np.random.default_rng((seed, 7919, block)).normal(0.0, 0.01, size=(embedding_size, _INIT_BLOCK))
        lo, hi = max(start, b0), min(start + count, b0 + _INIT_BLOCK)
        out[:, lo - start : hi - start] = values[:, lo - b0 : hi - b0]
    return out


class _ShardedCrossEntropy(PyLayer):
    """Mean cross-entropy of logits split by columns over ranks (labels -1 where the target is elsewhere)."""

    @staticmethod
    def forward(ctx, logits: paddle.Tensor, labels: paddle.Tensor, size: int) -> paddle.Tensor:
        logits = logits.detach().astype("float32")
        row_max = all_reduce_(logits.max(axis=1, keepdim=True), "max", size)
        exp = paddle.exp(logits - row_max)
        total = all_reduce_(exp.sum(axis=1, keepdim=True), "sum", size)
        prob = exp / total
        here = labels >= 0
        onehot = paddle.nn.functional.one_hot(paddle.where(here, labels, paddle.zeros_like(labels)), logits.shape[1])
        onehot = onehot * here.astype("float32").unsqueeze(1)
        # -log p_target = max + log(sum) - logit_target: exact even where p_target underflows.
        target_logit = all_reduce_((logits * onehot).sum(axis=1, keepdim=True), "sum", size)
        ctx.save_for_backward(prob, onehot)
        return (row_max + paddle.log(total) - target_logit).mean()

    @staticmethod
    def backward(ctx, grad: paddle.Tensor) -> paddle.Tensor:
        prob, onehot = ctx.saved_tensor()
        return (prob - onehot) * (grad / prob.shape[0])


def _choose_impl(impl: str, current: World) -> str:
    """``"fused"`` (Paddle's GPU margin_cross_entropy, one process) or ``"ops"``; ``"auto"`` picks."""
    if impl not in ("auto", "ops", "fused"):
        raise ValueError(f"impl must be 'auto', 'ops' or 'fused', got {impl!r}")
    on_gpu = paddle.device.get_device().startswith("gpu")
    if impl == "fused" and not on_gpu:
        raise ValueError("impl='fused' needs a GPU: Paddle has no CPU kernel for margin_cross_entropy")
    if impl == "auto":
        return "fused" if on_gpu and current.size == 1 else "ops"
    return impl


class PartialFC(paddle.nn.Layer):
    """This rank's shard of the margin-softmax classifier; ``forward(features, labels) -> loss``.

    features: (B, D) float embeddings of this rank's batch (same B on every rank); labels: (B,) int64 in
    ``[0, num_classes)``. The loss is the mean over the global batch and is the same on every rank; feature
    gradients are exact for this rank's rows. Call :meth:`step` after ``backward`` to update the centres.
    """

    def __init__(
        self,
        embedding_size: int,
        num_classes: int,
        *,
        margin: str | MarginSpec = "ArcFace",
        sample_ratio: float = 1.0,
        world: World | None = None,
        seed: int = 0,
        impl: str = "auto",
    ) -> None:
        super().__init__()
        if not 0.0 < sample_ratio <= 1.0:
            raise ValueError(f"sample_ratio must be in (0, 1], got {sample_ratio}")
        self.world = world or World()
        self.embedding_size, self.num_classes = embedding_size, num_classes
        self.margin, self.sample_ratio, self.seed = margin_spec(margin), sample_ratio, seed
        self.class_start, self.num_local = class_shards(num_classes, self.world.size)[self.world.rank]
        self.num_sample = self.num_local if sample_ratio >= 1.0 else max(1, int(sample_ratio * self.num_local))
        self.impl = _choose_impl(impl, self.world)
        centres = paddle.to_tensor(init_centres(embedding_size, self.class_start, self.num_local, seed))
        self.register_buffer("weight", centres)
        self.register_buffer("velocity", paddle.zeros_like(centres))
        self._pending: tuple[paddle.Tensor, paddle.Tensor | None] | None = None

    def sample_columns(self, global_labels: np.ndarray, step: int) -> np.ndarray | None:
        """Sorted local column indices to use this step (None = all): every positive, then random negatives."""
        if self.num_sample >= self.num_local:
            return None
        local = global_labels - self.class_start
        positives = np.unique(local[(local >= 0) & (local < self.num_local)])
        if len(positives) >= self.num_sample:
            return positives.astype(np.int64)
        rng = np.random.default_rng((self.seed, 104729, step, self.world.rank))
        mask = np.ones(self.num_local, dtype=bool)
        mask[positives] = False
        negatives = rng.choice(np.flatnonzero(mask), size=self.num_sample - len(positives), replace=False)
        return np.sort(np.concatenate([positives, negatives])).astype(np.int64)

    def forward(self, features: paddle.Tensor, labels: paddle.Tensor, step: int = 0) -> paddle.Tensor:
        if features.ndim != 2 or features.shape[1] != self.embedding_size:
            raise ValueError(f"features: expected (B, {self.embedding_size}), got {list(features.shape)}")
        if labels.shape != [features.shape[0]]:
            raise ValueError(f"labels: expected shape [{features.shape[0]}], got {list(labels.shape)}")
        all_features = all_gather_with_grad(features, self.world)
        all_labels = all_gather_concat(labels.astype("int64"), self.world.size)
        label_np = all_labels.numpy()
        if label_np.min() < 0 or label_np.max() >= self.num_classes:
            raise ValueError(f"labels must lie in [0, {self.num_classes}), got {label_np.min()}..{label_np.max()}")
        columns = self.sample_columns(label_np, step)
        local = self._local_labels(label_np, columns)
        sub = self.weight if columns is None else paddle.gather(self.weight, paddle.to_tensor(columns), axis=1)
        sub = sub.detach()
        sub.stop_gradient = False
        self._pending = (sub, None if columns is None else paddle.to_tensor(columns))
        norm_features = paddle.nn.functional.normalize(all_features.astype("float32"), axis=1)
        cosine = paddle.matmul(norm_features, paddle.nn.functional.normalize(sub, axis=0))
        local_labels = paddle.to_tensor(local, place=features.place)
        if self.impl == "fused":
            m = self.margin
            return paddle.nn.functional.margin_cross_entropy(cosine, local_labels, m.m1, m.m2, m.m3, m.s)
        logits = apply_margin(cosine, local_labels, self.margin)
        return _ShardedCrossEntropy.apply(logits, local_labels, self.world.size)

    def _local_labels(self, labels: np.ndarray, columns: np.ndarray | None) -> np.ndarray:
        local = labels - self.class_start
        inside = (local >= 0) & (local < self.num_local)
        if columns is not None:
            local = np.searchsorted(columns, np.clip(local, 0, self.num_local - 1))
        return np.where(inside, local, -1).astype(np.int64)

    @paddle.no_grad()
    def step(self, lr: float, *, momentum: float = 0.9, weight_decay: float = 0.0, grad_scale: float = 1.0) -> bool:
        """Momentum SGD on the columns used by the last forward; returns False (and skips) on inf/NaN.

        ``grad_scale`` divides the gradient first (pass the AMP loss scale). Same update as Paddle's
        ``Momentum`` with L2 decay: ``v = m*v + (g + wd*w)``, ``w -= lr*v``.
        """
        if self._pending is None:
            raise RuntimeError("PartialFC.step() called before forward/backward")
        sub, columns = self._pending
        self._pending = None
        if sub.grad is None:
            raise RuntimeError("PartialFC.step(): no gradient; call loss.backward() first")
        grad = sub.grad / grad_scale
        if not bool(paddle.isfinite(grad).all()):
            logger.warning("Found inf or nan in classifier gradient; skipping its update")
            return False
        if columns is None:
            self.velocity.set_value(momentum * self.velocity + grad + weight_decay * self.weight)
            self.weight.set_value(self.weight - lr * self.velocity)
            return True
        w = paddle.gather(self.weight, columns, axis=1)
        v = momentum * paddle.gather(self.velocity, columns, axis=1) + grad + weight_decay * w
        self._scatter_columns(self.velocity, columns, v)
        self._scatter_columns(self.weight, columns, w - lr * v)
        return True

    @staticmethod
    def _scatter_columns(target: paddle.Tensor, columns: paddle.Tensor, values: paddle.Tensor) -> None:
        rows = paddle.scatter(target.t(), columns, values.t(), overwrite=True)
        target.set_value(rows.t())
