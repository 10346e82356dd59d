"""Reading training checkpoints (``<output>/<network>/<epoch>/``): the newest one, its meta, backbone weights.

Weights are npz files read with ``allow_pickle=False``. Written by :mod:`faceid.train.checkpoint`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import paddle

__all__ = ["latest_checkpoint", "list_checkpoints", "load_backbone", "load_npz", "read_meta"]


def list_checkpoints(root: Path) -> list[tuple[int, Path]]:
    """``(global_step, folder)`` of every checkpoint under ``root``, oldest first."""
    found = []
    for path in root.iterdir() if root.is_dir() else []:
        meta = path / "meta.json"
        if path.name.isdigit() and meta.is_file():
            found.append((int(json.loads(meta.read_text())["global_step"]), path))
    return sorted(found)


def latest_checkpoint(root: str | os.PathLike[str]) -> Path | None:
    """The checkpoint under ``root`` with the highest global step, or None."""
    found = list_checkpoints(Path(root))
    return found[-1][1] if found else None


def read_meta(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A checkpoint's ``meta.json`` (FileNotFoundError naming the folder when it has none)."""
    meta = Path(path) / "meta.json"
    if not meta.is_file():
        raise FileNotFoundError(f"{path}: not a checkpoint (no meta.json)")
    return json.loads(meta.read_text())


def load_npz(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


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
