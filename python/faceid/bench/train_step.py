"""Training-step throughput on this machine: backbone + PartialFC forward/backward + both updates.

Modes: ``dygraph`` (eager) and ``to_static`` (the backbone compiled by ``paddle.jit.to_static``; the
classifier stays eager). Data: ``synthetic`` (one fixed random batch already in memory) or ``loader``
(FaceLoader decoding real JPEGs from a corpus folder on its prefetch threads, as training does).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["format_train_table", "make_train_step", "measure"]

NUM_CLASSES = 1000


def _batches(batch_size: int, data: str, corpus: list[Path] | None) -> Iterator[tuple[Any, Any]]:
    import paddle

    if data == "synthetic":
        rng = np.random.default_rng(0)
        images = paddle.to_tensor(rng.uniform(-1, 1, size=(batch_size, 3, 112, 112)).astype(np.float32))
        labels = paddle.to_tensor(rng.integers(0, NUM_CLASSES, size=batch_size))
        while True:
            yield images, labels
    from faceid.data import FaceDataset, FaceLoader

    if not corpus:
        raise ValueError("data='loader' needs a corpus of JPEG files")
    labels = np.arange(len(corpus)) % NUM_CLASSES
    dataset = FaceDataset(root=corpus[0].parent, paths=tuple(map(str, corpus)), labels=labels, num_classes=NUM_CLASSES)
    loader = FaceLoader(dataset, batch_size, num_threads=2)
    epoch = 0
    while True:
        loader.set_epoch(epoch)
        yield from loader
        epoch += 1


def make_train_step(
    network: str, batch_size: int, *, mode: str = "dygraph", data: str = "synthetic", corpus: list[Path] | None = None
) -> Callable[[], int]:
    """A callable running one full training step per call (returns the images processed)."""
    import paddle

    from faceid.heads import PartialFC
    from faceid.models import create_model, model_spec

    paddle.set_device("cpu")
    paddle.seed(0)
    model = create_model(network)
    if mode == "to_static":
        model = paddle.jit.to_static(model, full_graph=True)
    elif mode != "dygraph":
        raise ValueError(f"mode must be dygraph or to_static, got {mode!r}")
    head = PartialFC(model_spec(network).embedding_size, NUM_CLASSES)
    optimizer = paddle.optimizer.Momentum(0.01, momentum=0.9, parameters=model.parameters(), weight_decay=5e-4)
    batches = _batches(batch_size, data, corpus)

    def step() -> int:
        images, labels = next(batches)
        loss = head(model(images), labels)
        loss.backward()
        optimizer.step()
        head.step(0.01, momentum=0.9, weight_decay=5e-4)
        optimizer.clear_grad()
        return batch_size

    return step


def measure(step: Callable[[], int], *, warmup: int = 1, rounds: int = 3) -> dict[str, float]:
    """Median seconds per step and images per second after ``warmup`` steps."""
    for _ in range(warmup):
        step()
    times, images = [], 0
    for _ in range(rounds):
        started = time.perf_counter()
        images = step()
        times.append(time.perf_counter() - started)
    median = float(np.median(times))
    return {"s_per_step": median, "img_per_s": images / median}


def format_train_table(rows: list[dict[str, Any]]) -> str:
    """Markdown table; each row is compared with the dygraph/synthetic row of the same network."""
    lines = ["| network | batch | mode | data | s/step | img/s | vs dygraph+synthetic |", "|---" * 7 + "|"]
    base = {r["network"]: r["img_per_s"] for r in rows if r["mode"] == "dygraph" and r["data"] == "synthetic"}
    for r in rows:
        ratio = r["img_per_s"] / base[r["network"]] if r["network"] in base else float("nan")
        lines.append(
            f"| {r['network']} | {r['batch']} | {r['mode']} | {r['data']} | {r['s_per_step']:.3f} | "
            f"{r['img_per_s']:.1f} | {ratio:.2f}x |"
        )
    return "\n".join(lines)
