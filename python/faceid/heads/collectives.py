"""The few collectives the model-parallel classifier needs; each returns early at world size 1.

``world()`` reads the launcher's environment (``PADDLE_TRAINER_ID`` / ``PADDLE_TRAINERS_NUM``), so
single-process code never touches ``paddle.distributed``. Tensors stay on the device they came from.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import paddle
from paddle.autograd import PyLayer

__all__ = ["World", "all_gather_concat", "all_gather_with_grad", "all_reduce_", "world"]


@dataclass(frozen=True)
class World:
    """This process's rank and the number of processes."""

    rank: int = 0
    size: int = 1

    def __post_init__(self) -> None:
        if self.size < 1 or not 0 <= self.rank < self.size:
            raise ValueError(f"invalid world: rank {self.rank} of {self.size}")


def world() -> World:
    """The current world from the launcher's environment (rank 0 of 1 when not launched)."""
    size = int(os.environ.get("PADDLE_TRAINERS_NUM", "1"))
    rank = int(os.environ.get("PADDLE_TRAINER_ID", "0"))
    return World(rank=rank, size=size)


def all_reduce_(tensor: paddle.Tensor, op: str = "sum", size: int = 1) -> paddle.Tensor:
    """In-place all-reduce (``"sum"`` or ``"max"``); a no-op at world size 1."""
    if size == 1:
        return tensor
    import paddle.distributed as dist

    ops = {"sum": dist.ReduceOp.SUM, "max": dist.ReduceOp.MAX}
    dist.all_reduce(tensor, op=ops[op])
    return tensor


def all_gather_concat(tensor: paddle.Tensor, size: int = 1) -> paddle.Tensor:
    """Concatenate every rank's ``tensor`` along axis 0 (same shape on every rank), without gradient."""
    if size == 1:
        return tensor
    import paddle.distributed as dist

    parts: list[paddle.Tensor] = []
    dist.all_gather(parts, tensor)
    return paddle.concat(parts, axis=0)


class _AllGatherWithGrad(PyLayer):
    @staticmethod
    def forward(ctx, tensor: paddle.Tensor, rank: int, size: int) -> paddle.Tensor:
        ctx.rank, ctx.size, ctx.rows = rank, size, tensor.shape[0]
        return all_gather_concat(tensor.detach(), size)

    @staticmethod
    def backward(ctx, grad: paddle.Tensor) -> paddle.Tensor:
        # Every rank's loss depends on every rank's features: sum the gradients, keep our rows.
        grad = all_reduce_(grad.clone(), "sum", ctx.size)
        start = ctx.rank * ctx.rows
        return grad[start : start + ctx.rows]


def all_gather_with_grad(tensor: paddle.Tensor, current: World) -> paddle.Tensor:
    """:func:`all_gather_concat` whose backward sends each rank the summed gradient of its own rows."""
    if current.size == 1:
        return tensor
    return _AllGatherWithGrad.apply(tensor, current.rank, current.size)
