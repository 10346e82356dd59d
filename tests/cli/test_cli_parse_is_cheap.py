"""Parsing a command line imports neither Paddle nor OpenCV: a usage error or ``--help`` answers at once, and the
heavy imports happen only in the command that needs them."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

PROBE = """
import json, sys
from faceid.cli.main import build_parser
build_parser().parse_args(sys.argv[1:])
print(json.dumps(sorted(m for m in ("paddle", "cv2", "faiss", "psycopg", "onnxruntime") if m in sys.modules)))
"""


@pytest.mark.parametrize(
    "argv",
    [
        ["bench", "embed"],
        ["bench", "gallery"],
        ["bench", "pipeline"],
        ["predict", "--input", "x.jpg", "--output", "out"],
        ["serve", "--gallery", "g.db"],
        ["gallery", "list", "--gallery", "g.db"],
    ],
)
def test_parsing_imports_no_heavy_module(argv: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1]) == []
