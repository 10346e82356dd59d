"""Training-step throughput on CPU (issue: MobileFaceNet_128 and iresnet50 at batch 64), side by side:
eager vs ``paddle.jit.to_static``, and the real data path vs an in-memory batch. Ratios are written to
``.benchmarks/train_step.md``. ``FACEID_BENCH_TRAIN_BATCH`` changes the batch (iresnet50 at 64 takes
about 90 s per step on 2 cores)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from faceid.bench.train_step import format_train_table, make_train_step

BATCH = int(os.environ.get("FACEID_BENCH_TRAIN_BATCH", "64"))
CASES = [
    ("MobileFaceNet_128", "dygraph", "synthetic"),
    ("MobileFaceNet_128", "to_static", "synthetic"),
    ("MobileFaceNet_128", "dygraph", "loader"),
    ("MobileFaceNet_slim", "dygraph", "synthetic"),
    ("MobileFaceNet_slim", "dygraph", "loader"),
    ("iresnet50", "dygraph", "synthetic"),
    ("iresnet50", "to_static", "synthetic"),
]
_ROWS: list[dict] = []

# Paddle's own dy2static warns about Tensor.place while it builds the program (not our code).
pytestmark = pytest.mark.filterwarnings("ignore:Tensor do not have 'place' interface:UserWarning")


@pytest.mark.benchmark(group="train-step")
@pytest.mark.parametrize(("network", "mode", "data"), CASES)
def test_train_step(benchmark, decode_corpus: list[Path], network: str, mode: str, data: str) -> None:
    step = make_train_step(network, BATCH, mode=mode, data=data, corpus=decode_corpus)
    rounds = 2 if network == "iresnet50" else 3
    benchmark.pedantic(step, rounds=rounds, iterations=1, warmup_rounds=1)
    median = benchmark.stats.stats.median
    _ROWS.append(
        {
            "network": network,
            "batch": BATCH,
            "mode": mode,
            "data": data,
            "s_per_step": median,
            "img_per_s": BATCH / median,
        }
    )
    table = format_train_table(_ROWS)
    Path(".benchmarks").mkdir(exist_ok=True)
    Path(".benchmarks/train_step.md").write_text(table + "\n")
    print("\n" + table)
