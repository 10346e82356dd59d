"""The training ``--output`` folder: what a run leaves there, refusing to mix two runs, removing one when asked.

A run's own files are ``training.log`` and the checkpoint folders ``<output>/<network>/<epoch>/`` (with the
``.staging-<epoch>`` / ``.old-<epoch>`` folders a save may leave); anything else in ``--output`` (the launcher's
``log/``, the user's files) is not part of it and is never removed.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from faceid.errors import UsageError
from faceid.train.config import TrainConfig

__all__ = ["check_output", "previous_run_files"]

TRAINING_LOG = "training.log"
_CHECKPOINT_NAME = re.compile(r"\d+|\.staging-\d+|\.\d+\.old-\w+")  # epochs; a crashed save's leftovers


def _is_checkpoint_folder(path: Path) -> bool:
    if not path.is_dir() or not _CHECKPOINT_NAME.fullmatch(path.name):
        return False
    return path.name.startswith(".") or (path / "meta.json").is_file() or (path / "backbone.npz").is_file()


def previous_run_files(output: str | os.PathLike[str]) -> list[Path]:
    """The files and checkpoint folders a run left in ``output`` (empty when it holds none)."""
    output = Path(output)
    if not output.is_dir():
        return []
    found = [output / TRAINING_LOG] if (output / TRAINING_LOG).is_file() else []
    for network in sorted(p for p in output.iterdir() if p.is_dir()):
        found += sorted(p for p in network.iterdir() if _is_checkpoint_folder(p))
    return found


def _inside(path: Path, folder: Path) -> bool:
    return path.resolve().is_relative_to(folder.resolve())


def check_output(config: TrainConfig, rank: int) -> list[Path]:
    """Before anything is written: refuse a new run into an ``--output`` that holds one, unless ``overwrite``
    (then remove that run's files, on rank 0). Continuing (``resume`` 1, or a checkpoint inside ``output``) is
    always allowed. Returns what was removed."""
    output = Path(config.output)
    continuing = config.resume == "1" or (config.resume != "0" and _inside(Path(config.resume), output))
    if continuing or rank != 0:
        return []
    found = previous_run_files(output)
    if not found:
        return []
    if not config.overwrite:
        raise UsageError(
            f"the output folder already holds a training run ({len(found)} checkpoint/log entries); "
            "--resume 1 continues it, --overwrite removes it and starts over, or choose another --output",
            output,
        )
    for path in found:
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
        parent = path.parent
        if parent != output and not any(parent.iterdir()):
            parent.rmdir()
    return found
