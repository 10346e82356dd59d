"""Decode throughput, side by side in one run: cv2.imdecode alone, the numpy pipeline, and
faceid's native decoder with 1 and 2 threads (`faceid bench decode` runs the same code)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from faceid.bench.decode import cv2_decode_pass, format_table, reader_pass, run_decode_benchmark
from faceid.data.batch_reader import NativeBatchReader, PythonBatchReader

BATCH = 128


def _run(benchmark, run) -> None:
    count = benchmark.pedantic(run, rounds=3, iterations=1, warmup_rounds=1)
    benchmark.extra_info["images"] = count


@pytest.mark.benchmark(group="decode")
def test_cv2_imdecode_alone(benchmark, decode_corpus: list[Path]) -> None:
    import cv2

    cv2.setNumThreads(1)
    _run(benchmark, cv2_decode_pass([np.fromfile(p, dtype=np.uint8) for p in decode_corpus]))


@pytest.mark.benchmark(group="decode")
def test_numpy_pipeline(benchmark, decode_corpus: list[Path]) -> None:
    _run(benchmark, reader_pass(PythonBatchReader(decode_corpus), len(decode_corpus), BATCH))


@pytest.mark.benchmark(group="decode")
@pytest.mark.parametrize("threads", [1, 2])
def test_native_decoder(benchmark, decode_corpus: list[Path], threads: int) -> None:
    _run(benchmark, reader_pass(NativeBatchReader(decode_corpus, threads), len(decode_corpus), BATCH))


def test_decode_ratios(decode_corpus: list[Path], tmp_path_factory: pytest.TempPathFactory) -> None:
    """The README table: all four paths interleaved in one call, reported as ratios."""
    result = run_decode_benchmark(decode_corpus, batch_size=BATCH, repeats=5)
    print("\n" + format_table(result))
    out = Path(".benchmarks")
    out.mkdir(exist_ok=True)
    (out / "decode_ratios.json").write_text(json.dumps(result, indent=2) + "\n")
    assert all(row["img_per_s"] > 0 for row in result["rows"])
