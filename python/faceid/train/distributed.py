"""Process-group set-up and the data-parallel half of training (the classifier is model-parallel).

Launch N processes with ``python -m paddle.distributed.launch --nproc_per_node N -m faceid train ...``
(``--ips host1,host2`` for several nodes); each reads its rank from the launcher's environment.
"""

from __future__ import annotations

import logging

import paddle

from faceid.heads.collectives import World, all_reduce_, world

__all__ = ["all_reduce_gradients", "broadcast_parameters", "init_distributed", "select_device"]

logger = logging.getLogger(__name__)

_BUCKET_BYTES = 32 << 20


def init_distributed() -> World:
    """Join the process group when launched with more than one process; returns this process's place in it."""
    current = world()
    if current.size > 1:
        import paddle.distributed as dist

        dist.init_parallel_env()
        logger.info("joined process group: rank %d of %d (%s)", current.rank, current.size, dist.get_backend())
    return current


def select_device(prefer_gpu: bool = True) -> str:
    """``gpu:<local id>`` when Paddle was built with CUDA and a GPU is visible, else ``cpu``; sets it."""
    if prefer_gpu and paddle.is_compiled_with_cuda() and paddle.device.cuda.device_count() > 0:
        import os

        device = f"gpu:{int(os.environ.get('FLAGS_selected_gpus', '0').split(',')[0])}"  # noqa: SIM112 (Paddle's name)
    else:
        device = "cpu"
    paddle.set_device(device)
    return device


@paddle.no_grad()
def broadcast_parameters(layer: paddle.nn.Layer, current: World) -> None:
    """Make every rank start from rank 0's parameters and buffers."""
    if current.size == 1:
        return
    import paddle.distributed as dist

    for tensor in list(layer.parameters()) + list(layer.buffers()):
        dist.broadcast(tensor, src=0)


@paddle.no_grad()
def all_reduce_gradients(parameters: list[paddle.Tensor], current: World) -> None:
    """Sum the backbone gradients over ranks, in flat buckets.

    The loss is already the mean over the global batch and each rank's feature gradients are exact for its
    rows, so the sum (not the mean) is the global-batch gradient.
    """
    if current.size == 1:
        return
    grads = [p for p in parameters if p.grad is not None]
    bucket: list[paddle.Tensor] = []
    size = 0
    for param in grads:
        bucket.append(param)
        size += param.grad.numel().item() * param.grad.element_size()
        if size >= _BUCKET_BYTES:
            _reduce_bucket(bucket, current)
            bucket, size = [], 0
    if bucket:
        _reduce_bucket(bucket, current)


def _reduce_bucket(params: list[paddle.Tensor], current: World) -> None:
    flat = paddle.concat([p.grad.reshape([-1]) for p in params])
    all_reduce_(flat, "sum", current.size)
    offset = 0
    for param in params:
        count = param.grad.numel().item()
        param.grad.set_value(flat[offset : offset + count].reshape(param.grad.shape))
        offset += count
