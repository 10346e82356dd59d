"""The training loader: per-rank shards of a seeded per-epoch shuffle, decoded ahead of use.

Each epoch is a permutation drawn from ``(seed, epoch)``; rank r of W takes the r-th contiguous
slice, so ranks see disjoint samples and every run with the same seed sees the same batches and
the same flips. Batches are queued on the native decoder ``prefetch`` deep while training runs.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Iterator
from typing import Any

import numpy as np

from faceid.data.batch_reader import DoneRead, SampleFailure, make_batch_reader
from faceid.data.dataset import IMAGE_SIZE, FaceDataset
from faceid.ops.image import hwc_to_chw

logger = logging.getLogger(__name__)

_MAX_SUBSTITUTES = 16


def shard_indices(
    num_samples: int,
    batch_size: int,
    *,
    rank: int = 0,
    world_size: int = 1,
    seed: int = 0,
    epoch: int = 0,
    shuffle: bool = True,
    drop_last: bool = True,
) -> np.ndarray:
    """The sample indices rank ``rank`` visits in ``epoch``, in order.

    drop_last: global batch ``k`` is items ``[k*B*W, (k+1)*B*W)`` of the epoch's permutation and rank ``r``
    takes its ``r``-th slice of ``B``, so the global batches do not depend on the world size (W ranks of B
    see what one process of W*B sees); the remainder is dropped. Otherwise each rank takes a contiguous
    ``ceil(N / W)`` of the order, padded by wrapping around.
    """
    order = np.random.default_rng((seed, epoch)).permutation(num_samples) if shuffle else np.arange(num_samples)
    return order[_rank_positions(num_samples, batch_size, rank, world_size, drop_last)]


def _rank_positions(num_samples: int, batch_size: int, rank: int, world_size: int, drop_last: bool) -> np.ndarray:
    """Positions in the epoch's order that rank ``rank`` visits (see :func:`shard_indices`)."""
    _check_rank(rank, world_size)
    per_rank = samples_per_rank(num_samples, batch_size, world_size=world_size, drop_last=drop_last)
    if drop_last:
        grid = np.arange(per_rank * world_size).reshape(-1, world_size, batch_size)
        return grid[:, rank, :].ravel()
    return np.arange(rank * per_rank, (rank + 1) * per_rank) % num_samples


def _check_rank(rank: int, world_size: int) -> None:
    if not 0 <= rank < world_size:
        raise ValueError(f"rank must be in [0, {world_size}), got {rank}")


def samples_per_rank(num_samples: int, batch_size: int, *, world_size: int = 1, drop_last: bool = True) -> int:
    """How many samples each rank visits per epoch (see :func:`shard_indices`)."""
    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    if drop_last:
        return (num_samples // (world_size * batch_size)) * batch_size
    return -(-num_samples // world_size)


class FaceLoader:
    """Iterates ``(images, labels)`` batches: paddle tensors, or numpy with ``to_tensor=False``.

    images: (B, 3, 112, 112) RGB in [-1, 1] (``dtype`` float32 or float16; uint8 keeps 0..255),
    each flipped horizontally with probability 1/2. labels: (B,) int64. With ``to_tensor=False``
    a batch's arrays are reused once the next batch is requested.

    A file that fails to decode raises :class:`CorruptImageError` naming it; with
    ``skip_corrupt=True`` it is logged once and replaced by another random sample.
    """

    def __init__(
        self,
        dataset: FaceDataset,
        batch_size: int,
        *,
        rank: int = 0,
        world_size: int = 1,
        seed: int = 0,
        shuffle: bool = True,
        drop_last: bool = True,
        backend: str = "native",
        num_threads: int = 2,
        prefetch: int = 2,
        dtype: str = "float32",
        skip_corrupt: bool = False,
        to_tensor: bool = True,
        place: Any = None,
    ) -> None:
        if prefetch < 1:
            raise ValueError(f"prefetch must be at least 1, got {prefetch}")
        self.dataset, self.batch_size = dataset, batch_size
        self.rank, self.world_size, self.seed = rank, world_size, seed
        self.shuffle, self.drop_last = shuffle, drop_last
        self.prefetch, self.dtype = prefetch, np.dtype(dtype)
        self.skip_corrupt, self.to_tensor, self.place = skip_corrupt, to_tensor, place
        self.epoch = 0
        self._reported: set[str] = set()
        self._reader = None if dataset.synthetic else make_batch_reader(dataset.paths, backend, num_threads)
        _check_rank(rank, world_size)
        samples_per_rank(len(dataset), batch_size, world_size=world_size)  # checks batch_size

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose shuffle and flips the next iteration uses."""
        self.epoch = epoch

    def indices(self) -> np.ndarray:
        return shard_indices(
            len(self.dataset),
            self.batch_size,
            rank=self.rank,
            world_size=self.world_size,
            seed=self.seed,
            epoch=self.epoch,
            shuffle=self.shuffle,
            drop_last=self.drop_last,
        )

    def __len__(self) -> int:
        per_rank = samples_per_rank(
            len(self.dataset), self.batch_size, world_size=self.world_size, drop_last=self.drop_last
        )
        return math.ceil(per_rank / self.batch_size)

    def _flips(self) -> np.ndarray:
        # One draw per epoch position, independent of the shuffle's generator and of the world size.
        rng = np.random.default_rng((self.seed, self.epoch, 1))
        flips = (rng.random(len(self.dataset)) < 0.5).astype(np.uint8)
        positions = _rank_positions(len(self.dataset), self.batch_size, self.rank, self.world_size, self.drop_last)
        return flips[positions]

    def __iter__(self) -> Iterator[tuple[Any, Any]]:
        return self.iterate()

    def iterate(self, start_batch: int = 0) -> Iterator[tuple[Any, Any]]:
        """This epoch's batches from batch ``start_batch`` on (resuming mid-epoch reads nothing before it)."""
        order = self.indices()
        flips = self._flips()
        if not 0 <= start_batch <= len(self):
            raise ValueError(f"start_batch must lie in [0, {len(self)}], got {start_batch}")
        starts = range(start_batch * self.batch_size, len(order), self.batch_size)
        ring = [self._new_buffer() for _ in range(self.prefetch + 1)]
        pending: deque = deque()
        for i, start in enumerate(starts):
            k, stop = start_batch + i, start + self.batch_size
            pending.append((k, order[start:stop], self._submit(order[start:stop], flips[start:stop], ring, k)))
            if len(pending) <= self.prefetch and i + 1 < len(starts):
                continue
            yield self._finish(*pending.popleft())
        while pending:
            yield self._finish(*pending.popleft())

    def _new_buffer(self) -> np.ndarray:
        return np.empty((self.batch_size, 3, IMAGE_SIZE, IMAGE_SIZE), dtype=self.dtype)

    def _submit(self, indices: np.ndarray, flips: np.ndarray, ring: list[np.ndarray], k: int):
        out = ring[k % len(ring)][: len(indices)]
        if self._reader is None:
            return _fill_synthetic(out, flips, (self.seed, self.epoch, self.rank, k))
        return self._reader.submit(indices, flips, out)

    def _finish(self, k: int, indices: np.ndarray, pending) -> tuple[Any, Any]:
        out = pending.out
        labels = self.dataset.labels[indices].copy()
        for failure in pending.wait():
            self._handle_failure(failure, out, labels, k)
        if not self.to_tensor:
            return out, labels
        import paddle

        return paddle.to_tensor(out, place=self.place), paddle.to_tensor(labels, place=self.place)

    def _handle_failure(self, failure: SampleFailure, out: np.ndarray, labels: np.ndarray, k: int) -> None:
        if not self.skip_corrupt:
            raise failure.error()
        if failure.path not in self._reported:
            self._reported.add(failure.path)
            logger.warning("skipping corrupt sample %s (%s)", failure.path, failure.reason)
        rng = np.random.default_rng((self.seed, self.epoch, self.rank, k, failure.slot))
        for _ in range(_MAX_SUBSTITUTES):
            index = int(rng.integers(len(self.dataset)))
            flip = np.array([rng.random() < 0.5], dtype=np.uint8)
            slot = out[failure.slot : failure.slot + 1]
            if not self._reader.submit(np.array([index]), flip, slot).wait():
                labels[failure.slot] = self.dataset.labels[index]
                return
        raise failure.error()


def _fill_synthetic(out: np.ndarray, flips: np.ndarray, key: tuple) -> DoneRead:
    rng = np.random.default_rng(key)
    images = rng.integers(0, 256, size=(len(out), IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.uint8)
    hwc_to_chw(images, flips, out=out)
    return DoneRead(out, [])
