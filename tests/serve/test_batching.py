"""Dynamic batching: concurrent submissions share model calls, each caller gets exactly its own rows."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from faceid.serve.batching import DynamicBatcher


def _model(calls: list[int]):
    def run(batch: np.ndarray) -> np.ndarray:
        calls.append(len(batch))
        time.sleep(0.01)  # a model call takes time: others queue up meanwhile
        return batch.reshape(len(batch), -1)[:, :4] * 2.0

    return run


def test_concurrent_requests_share_calls_and_get_their_rows() -> None:
    calls: list[int] = []
    batcher = DynamicBatcher(_model(calls), window_s=0.005, max_batch=16)
    results: dict[int, np.ndarray] = {}
    inputs = {i: np.full((1 + i % 3, 2, 2, 2), float(i), np.float32) for i in range(24)}
    start = threading.Barrier(24)

    def client(i: int) -> None:
        start.wait()
        results[i] = batcher.submit(inputs[i]).result(timeout=10)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(24)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    batcher.close()
    for i, batch in inputs.items():
        np.testing.assert_array_equal(results[i], batch.reshape(len(batch), -1)[:, :4] * 2.0)
    assert sum(calls) == sum(len(b) for b in inputs.values()) == batcher.faces
    assert len(calls) < 24 / 2 and max(calls) <= 16 + 2  # shared calls; a batch ends once max_batch is reached


def test_errors_reach_every_waiting_caller_and_the_worker_survives() -> None:
    fail = {"now": True}

    def run(batch: np.ndarray) -> np.ndarray:
        if fail["now"]:
            raise RuntimeError("model failed")
        return batch[:, :1]

    batcher = DynamicBatcher(run, window_s=0.001)
    with pytest.raises(RuntimeError, match="model failed"):
        batcher.submit(np.ones((2, 3), np.float32)).result(timeout=5)
    fail["now"] = False
    np.testing.assert_array_equal(batcher.submit(np.ones((2, 3), np.float32)).result(timeout=5), np.ones((2, 1)))
    assert batcher.submit(np.ones((0, 3), np.float32)).result(timeout=1).shape[0] == 0
    batcher.close()
