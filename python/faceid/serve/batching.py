"""Dynamic batching: faces from concurrent requests share one recogniser call.

Request threads :meth:`DynamicBatcher.submit` a normalised (n, 3, 112, 112) float32 batch and wait on a future.
One worker thread takes the first waiting batch, keeps collecting for ``window_s`` (or until ``max_batch`` faces),
runs the model once on the concatenation (the native loop releases the GIL, so request threads keep detecting
meanwhile) and hands each request its rows. A single face is never held longer than ``window_s``.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future

import numpy as np

__all__ = ["DynamicBatcher"]

logger = logging.getLogger(__name__)


class DynamicBatcher:
    """Calls ``run(batch) -> (N, D)`` on the concatenation of submitted batches (``window_s``, ``max_batch``)."""

    def __init__(self, run: Callable[[np.ndarray], np.ndarray], *, window_s: float = 0.003, max_batch: int = 32):
        if max_batch < 1 or window_s < 0:
            raise ValueError(f"need max_batch >= 1 and window_s >= 0, got {max_batch}, {window_s}")
        self._run, self.window_s, self.max_batch = run, window_s, max_batch
        self._queue: queue.Queue[tuple[np.ndarray, Future] | None] = queue.Queue()
        self.calls = 0  # model calls made, and the faces they held (for tests and /metrics)
        self.faces = 0
        self._thread = threading.Thread(target=self._loop, name="faceid-batcher", daemon=True)
        self._thread.start()

    def submit(self, batch: np.ndarray) -> Future:
        """A future of the (n, D) embeddings of ``batch``; ``n == 0`` resolves at once."""
        future: Future = Future()
        if len(batch) == 0:
            future.set_result(np.empty((0, 0), np.float32))
            return future
        self._queue.put((batch, future))
        return future

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=5)

    def _collect(self, first: tuple[np.ndarray, Future]) -> tuple[list[tuple[np.ndarray, Future]], bool]:
        items, size, deadline = [first], len(first[0]), time.monotonic() + self.window_s
        while size < self.max_batch:
            left = deadline - time.monotonic()
            try:
                item = self._queue.get(timeout=left) if left > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            if item is None:
                return items, True
            items.append(item)
            size += len(item[0])
        return items, False

    def _loop(self) -> None:
        stop = False
        while not stop:
            first = self._queue.get()
            if first is None:
                break
            items, stop = self._collect(first)
            try:
                batch = items[0][0] if len(items) == 1 else np.concatenate([b for b, _ in items])
                out = self._run(batch)
            except Exception as error:  # every waiting request gets the error, the worker goes on
                logger.exception("recogniser batch of %d failed", sum(len(b) for b, _ in items))
                for _, future in items:
                    future.set_exception(error)
                continue
            self.calls += 1
            self.faces += len(batch)
            start = 0
            for part, future in items:
                future.set_result(out[start : start + len(part)])
                start += len(part)
