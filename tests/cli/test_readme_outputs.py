"""The outputs of the README's example commands, run from the repository root, are ignored by git."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# Flags whose value is a file or folder the command writes.
OUTPUT_FLAG = re.compile(r"--(?:output|output_dir|bin_path|report|json)\s+([\w./-]+)")


def _example_outputs() -> set[str]:
    blocks = re.findall(r"```bash\n(.*?)```", (REPO / "README.md").read_text(), flags=re.S)
    found = {m.group(1) for block in blocks for line in block.splitlines() if line.lstrip().startswith(("faceid", "$("))
             for m in OUTPUT_FLAG.finditer(line)}  # fmt: skip
    return {path for path in found if path.upper() != path}  # placeholders like FILE or DIR are not paths


def test_readme_example_outputs_are_git_ignored() -> None:
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    outputs = _example_outputs()
    assert {"synth", "out", "exported", "report/", "index.npz"} <= outputs  # the examples are still found
    for path in sorted(outputs):
        probes = [path.rstrip("/") + "/x"] + ([] if path.endswith("/") else [path])  # as a folder, or as a file
        ignored = [subprocess.run(["git", "check-ignore", "-q", "--no-index", p], cwd=REPO, check=False).returncode == 0
                   for p in probes]  # fmt: skip
        assert any(ignored), f"{path} (from a README example) is not in .gitignore"
