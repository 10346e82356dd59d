"""Atomic writes: ordinary permissions (not tempfile's 0600/0700), nothing half-written, folder swaps."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from faceid.io.atomic import atomic_write, atomic_write_bytes, make_staging_dir, replace_dir


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_a_new_file_gets_the_umask_default_like_open(tmp_path: Path, umask_022) -> None:
    reference = tmp_path / "plain.txt"
    reference.write_bytes(b"x")  # what an ordinary open() gives
    atomic_write_bytes(tmp_path / "atomic.txt", b"x")
    assert _mode(tmp_path / "atomic.txt") == _mode(reference) == 0o644


def test_the_umask_is_respected_in_a_fresh_process(tmp_path: Path) -> None:
    code = "import os; os.umask(0o027); from faceid.io.atomic import atomic_write_bytes as w; w(os.sys.argv[1], b'x')"
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "f")], check=True)
    assert _mode(tmp_path / "f") == 0o640


def test_a_replaced_file_keeps_its_permissions(tmp_path: Path, umask_022) -> None:
    target = tmp_path / "script.sh"
    target.write_text("old")
    target.chmod(0o755)
    with atomic_write(target, "w") as handle:
        handle.write("new")
    assert target.read_text() == "new" and _mode(target) == 0o755


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "keep.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_write(target, "w") as handle:
        handle.write("partial")
        raise RuntimeError("crash")
    assert target.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]


def test_replace_dir_swaps_a_whole_folder(tmp_path: Path, umask_022) -> None:
    final = tmp_path / "out"
    final.mkdir()
    (final / "stale.onnx").write_text("old model")
    staging = make_staging_dir(final)
    assert _mode(staging) == 0o755 and staging.parent == tmp_path
    (staging / "new.txt").write_text("new")
    replace_dir(staging, final)
    assert sorted(p.name for p in final.iterdir()) == ["new.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no staging or old folder left
    assert _mode(final) == 0o755
