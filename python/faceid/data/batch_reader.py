"""Decode batches of training images into caller-owned (N, 3, H, W) buffers.

Two interchangeable readers: ``NativeBatchReader`` (C++, worker threads, GIL released, batches
queued so decoding overlaps training) and ``PythonBatchReader`` (OpenCV + numpy, the readable
reference whose output the native reader must equal bit for bit).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from faceid.data.images import CorruptImageError, load_bgr
from faceid.ops.image import TRAIN_MEAN, TRAIN_STD, hwc_to_chw, hwc_to_chw_reference


@dataclass(frozen=True)
class SampleFailure:
    """A sample of a batch that could not be decoded; its slot in ``out`` holds garbage."""

    slot: int
    index: int
    path: str
    reason: str

    def error(self) -> CorruptImageError:
        return CorruptImageError(self.path, self.reason)


def _decode_with_opencv(
    path: str, flip: bool, out: np.ndarray, slot: int, *, mean: tuple, std: tuple, native: bool
) -> str | None:
    """Decode one sample with OpenCV into ``out[slot]``; returns the reason on failure, else None.

    ``native`` picks the C++ transform (the slow path of the native reader) or the numpy one.
    """
    try:
        image = load_bgr(path)
    except CorruptImageError as exc:
        return exc.reason
    h, w = image.shape[:2]
    if (h, w) != out.shape[2:]:
        return f"image is {w}x{h}, expected {out.shape[3]}x{out.shape[2]}"
    if native:
        hwc_to_chw(image[None], [flip], out=out[slot : slot + 1], mean=mean, std=std)
    else:
        out[slot] = hwc_to_chw_reference(image[None], [flip], dtype=out.dtype.type, mean=mean, std=std)[0]
    return None


class DoneRead:
    """A batch that was decoded at once; ``wait()`` returns its failures."""

    def __init__(self, out: np.ndarray, failures: list[SampleFailure]) -> None:
        self.out = out
        self._failures = failures

    def wait(self) -> list[SampleFailure]:
        return self._failures


class PythonBatchReader:
    """Reference reader: ``cv2.imdecode`` + numpy flip/normalise/transpose, one image at a time."""

    def __init__(
        self,
        paths: Sequence[str | os.PathLike[str]],
        mean: Sequence[float] = TRAIN_MEAN,
        std: Sequence[float] = TRAIN_STD,
    ) -> None:
        self.paths = [str(p) for p in paths]
        self.mean, self.std = tuple(mean), tuple(std)

    def submit(self, indices: np.ndarray, flips: np.ndarray, out: np.ndarray) -> DoneRead:
        failures = []
        for slot, (index, flip) in enumerate(zip(indices.tolist(), flips.tolist(), strict=False)):
            reason = _decode_with_opencv(
                self.paths[index], bool(flip), out, slot, mean=self.mean, std=self.std, native=False
            )
            if reason is not None:
                failures.append(SampleFailure(slot, index, self.paths[index], reason))
        return DoneRead(out, failures)


class _NativeRead:
    def __init__(self, reader: NativeBatchReader, pending, indices: np.ndarray, flips: np.ndarray) -> None:
        self._reader, self._pending = reader, pending
        self._indices, self._flips = indices, flips

    @property
    def out(self) -> np.ndarray:
        return self._pending.out

    def wait(self) -> list[SampleFailure]:
        failures = []
        out = self._pending.out
        from faceid import _C

        for slot, status, message in self._pending.wait():
            index = int(self._indices[slot])
            reason = message
            if status == _C.DecodeStatus.NOT_JPEG:  # PNG/BMP, or a .bin holding one: OpenCV's slow path
                reason = self._reader.decode_slow(index, bool(self._flips[slot]), out, slot)
            if reason is not None:
                failures.append(SampleFailure(slot, index, self._reader.paths[index], reason))
        return failures


class NativeBatchReader:
    """C++ reader: libjpeg-turbo straight into ``out`` on ``num_threads`` workers (0 = inline)."""

    def __init__(
        self,
        paths: Sequence[str | os.PathLike[str]],
        num_threads: int = 2,
        mean: Sequence[float] = TRAIN_MEAN,
        std: Sequence[float] = TRAIN_STD,
    ) -> None:
        from faceid import _C

        self.paths = [str(p) for p in paths]
        self.mean, self.std = tuple(mean), tuple(std)
        self._decoder = _C.BatchDecoder(self.paths, num_threads, self.mean, self.std)

    @property
    def num_threads(self) -> int:
        return self._decoder.num_threads

    def submit(self, indices: np.ndarray, flips: np.ndarray, out: np.ndarray) -> _NativeRead:
        """Queue a batch; decoding runs in the background until ``.wait()`` is called."""
        indices = np.ascontiguousarray(indices, dtype=np.int64)
        flips = np.ascontiguousarray(flips, dtype=np.uint8)
        return _NativeRead(self, self._decoder.submit(indices, flips, out), indices, flips)

    def decode_slow(self, index: int, flip: bool, out: np.ndarray, slot: int) -> str | None:
        return _decode_with_opencv(self.paths[index], flip, out, slot, mean=self.mean, std=self.std, native=True)


def make_batch_reader(
    paths: Sequence[str | os.PathLike[str]], backend: str = "native", num_threads: int = 2
) -> NativeBatchReader | PythonBatchReader:
    """``backend``: 'native' (fast) or 'python' (the reference, for debugging)."""
    if backend == "native":
        return NativeBatchReader(paths, num_threads)
    if backend == "python":
        return PythonBatchReader(paths)
    raise ValueError(f"backend: expected 'native' or 'python', got {backend!r}")
