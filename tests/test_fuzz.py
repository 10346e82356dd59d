"""Bounded fuzzing of every parser of untrusted files (>= 20,000 inputs each, a few seconds).

A longer run: `python tests/fuzz/fuzz_targets.py TARGET CORPUS_DIR -max_len=4096` (see README).
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("atheris", reason="atheris (the fuzzer) is not installed")

HARNESS = Path(__file__).with_name("fuzz") / "fuzz_targets.py"
RUNS = 20_000


@pytest.mark.slow
@pytest.mark.fuzz
@pytest.mark.parametrize("target", ["kvbin", "jpeg", "recordio", "unpickler"])
def test_fuzz_target_finds_nothing(target: str, tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    # libFuzzer reads the peak RSS from getrusage, which a child inherits from this (possibly large) pytest
    # process across fork/exec: allow 1 GiB above what it starts with.
    rss_limit = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024 + 1024
    command = [
        sys.executable,
        str(HARNESS),
        target,
        str(corpus),
        f"-runs={RUNS}",
        "-max_len=4096",
        "-timeout=10",
        f"-rss_limit_mb={rss_limit}",
        f"-artifact_prefix={tmp_path}/",
        "-seed=1",
    ]
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "FACEID_FUZZ_SCRATCH": str(scratch)}
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env, check=False)
    tail = "\n".join(result.stderr.splitlines()[-40:])
    assert result.returncode == 0, f"fuzzer found a problem:\n{tail}"
    assert f"Done {RUNS} runs" in result.stderr, tail
    assert list(corpus.iterdir()), "the seed corpus was not written"
