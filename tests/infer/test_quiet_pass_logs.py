"""Paddle's oneDNN bf16 pass summaries (written straight to fd 2) are dropped when Paddle's logging is quiet, and
nothing else written meanwhile is lost."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

PROBE = r"""
import os
from faceid.infer.paddle_predictor import quiet_pass_logs
with quiet_pass_logs():
    with quiet_pass_logs():  # nested: the outer capture
        os.write(2, b"\x1b[37m---    marked 181 operators to bfloat16 \x1b[0m\n")
    os.write(2, b"---    squashed 0 requantize ops\nfaceid: error: kept (x.jpg)\n")
os.write(2, b"after\n")
"""


@pytest.mark.parametrize(("level", "expected"), [("2", 2), ("0", 4), (None, 4)])
def test_pass_summaries_go_only_when_paddle_is_quiet(level: str | None, expected: int) -> None:
    env = {k: v for k, v in os.environ.items() if k != "GLOG_minloglevel"}
    if level is not None:
        env["GLOG_minloglevel"] = level
    result = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == expected, lines
    assert lines[-2:] == ["faceid: error: kept (x.jpg)", "after"]
