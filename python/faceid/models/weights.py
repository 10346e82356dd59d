"""Reading training checkpoints (``<output>/<network>/<epoch>/``): the newest one, its meta, backbone weights.

Weights are npz files read with ``allow_pickle=False``. Written by :mod:`faceid.train.checkpoint`.
"""

from __future__ import annotations

import json
import logging
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import paddle

from faceid.errors import InputError

__all__ = [
    "DamagedCheckpointError",
    "latest_checkpoint",
    "list_checkpoints",
    "load_backbone",
    "load_npz",
    "read_meta",
]

logger = logging.getLogger(__name__)

# What reading a truncated, missing or garbled file raises (np.load / zipfile / json).
_READ_ERRORS = (OSError, EOFError, ValueError, KeyError, TypeError, zipfile.BadZipFile)


class DamagedCheckpointError(InputError):
    """A checkpoint file that is missing or cannot be read; ``path`` names the file."""


def list_checkpoints(root: Path, damaged: list[DamagedCheckpointError] | None = None) -> list[tuple[int, Path]]:
    """``(global_step, folder)`` of every readable checkpoint under ``root``, oldest first.

    An epoch folder whose ``meta.json`` is missing or unreadable is left out: appended to ``damaged`` when
    given, else logged as a warning naming the file.
    """
    found = []
    for path in sorted(root.iterdir()) if root.is_dir() else []:
        if not (path.name.isdigit() and path.is_dir()):
            continue
        try:
            found.append((int(read_meta(path)["global_step"]), path))
        except DamagedCheckpointError as error:
            if damaged is None:
                logger.warning("skipping a damaged checkpoint: %s", error)
            else:
                damaged.append(error)
    return sorted(found)


def latest_checkpoint(root: str | os.PathLike[str]) -> Path | None:
    """The readable checkpoint under ``root`` with the highest global step, or None."""
    found = list_checkpoints(Path(root))
    return found[-1][1] if found else None


def read_meta(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A checkpoint's ``meta.json`` (:class:`DamagedCheckpointError` naming the file when missing or broken)."""
    meta = Path(path) / "meta.json"
    if not meta.is_file():
        raise DamagedCheckpointError("not a checkpoint (no meta.json)", meta)
    try:
        record = json.loads(meta.read_text())
        int(record["global_step"])
    except (*_READ_ERRORS, json.JSONDecodeError) as error:
        raise DamagedCheckpointError(f"unreadable checkpoint meta ({type(error).__name__}: {error})", meta) from None
    return record


def load_npz(path: Path) -> dict[str, np.ndarray]:
    """Every array of an npz file (``allow_pickle=False``); :class:`DamagedCheckpointError` naming the file
    when it is missing, truncated or not an npz."""
    try:
        with open(path, "rb") as handle, np.load(handle, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except _READ_ERRORS as error:
        reason = "missing" if isinstance(error, FileNotFoundError) else f"{type(error).__name__}: {error}"
        raise DamagedCheckpointError(f"unreadable checkpoint file ({reason})", path) from None


def load_backbone(path: str | os.PathLike[str], model: paddle.nn.Layer) -> None:
    """Load ``backbone.npz`` into ``model``; every key must match (names and shapes)."""
    arrays = load_npz(Path(path) / "backbone.npz")
    expected = model.state_dict()
    missing, unexpected = sorted(set(expected) - set(arrays)), sorted(set(arrays) - set(expected))
    if missing or unexpected:
        raise ValueError(
            f"{path}: backbone does not match the model (missing {missing[:5]}, unexpected {unexpected[:5]})"
        )
    for name, tensor in expected.items():
        if list(arrays[name].shape) != list(tensor.shape):
            raise ValueError(f"{path}: {name} has shape {arrays[name].shape}, the model expects {list(tensor.shape)}")
    model.set_state_dict({k: paddle.to_tensor(v) for k, v in arrays.items()})
