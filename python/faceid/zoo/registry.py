"""The pretrained-weights registry: what each weight set is, where it comes from, and how to find it offline.

Each :class:`ModelRecord` names its source files with a SHA-256; :func:`source_file` finds a file in the
offline source folder (``$FACEID_MODEL_SOURCE`` or an explicit ``source``, laid out like ``../shared/models``:
``<subdir>/<file>``) and verifies its hash before anything reads it. Converted models are cached under
``$FACEID_HOME/models`` (default ``~/.faceid/models``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from faceid.errors import InputError
from faceid.io.hashing import sha256_file

__all__ = ["ModelRecord", "SourceFile", "cache_dir", "get_record", "list_records", "register", "source_file"]


@dataclass(frozen=True)
class SourceFile:
    """One file a weight set is made from: where it lives in a source folder, its URL and SHA-256."""

    path: str  # relative to the model source folder, e.g. "blazeface/face_detection_short_range.tflite"
    sha256: str | None  # None: not verified (say why in the record's caution)
    url: str = ""


@dataclass(frozen=True)
class ModelRecord:
    """A pretrained weight set and how to feed it."""

    name: str
    task: str  # "detection", "recognition", "landmarks"
    architecture: str
    input_size: tuple[int, int]  # (height, width)
    color: str  # "RGB" or "BGR"
    mean: tuple[float, ...]
    std: tuple[float, ...]
    files: tuple[SourceFile, ...]
    licence: str
    caution: str = ""
    extra: dict = field(default_factory=dict)


_RECORDS: dict[str, ModelRecord] = {}


def register(record: ModelRecord) -> ModelRecord:
    if record.name in _RECORDS:
        raise ValueError(f"pretrained model {record.name!r} is registered twice")
    _RECORDS[record.name] = record
    return record


def get_record(name: str) -> ModelRecord:
    if name not in _RECORDS:
        raise InputError(f"unknown pretrained model {name!r}; known: {', '.join(sorted(_RECORDS))}")
    return _RECORDS[name]


def list_records() -> list[ModelRecord]:
    return [_RECORDS[name] for name in sorted(_RECORDS)]


def cache_dir() -> Path:
    """Where converted models are kept: ``$FACEID_HOME/models`` (default ``~/.faceid/models``)."""
    return Path(os.environ.get("FACEID_HOME", Path.home() / ".faceid")) / "models"


def source_file(entry: SourceFile, source: str | os.PathLike[str] | None = None) -> Path:
    """The verified local path of ``entry`` in the offline source folder.

    ``source`` defaults to ``$FACEID_MODEL_SOURCE``. Missing folder/file or a hash mismatch raises with the
    path and what to do.
    """
    root = source or os.environ.get("FACEID_MODEL_SOURCE")
    if not root:
        raise FileNotFoundError(
            f"{entry.path}: no model source; set FACEID_MODEL_SOURCE (or pass --model-source) to a folder laid out "
            f"like ../shared/models, or download it from {entry.url or 'its project page'}"
        )
    path = Path(root) / entry.path
    if not path.is_file():
        raise FileNotFoundError(f"{path}: not found (expected {entry.path} under the model source {root})")
    if entry.sha256 is not None and (actual := sha256_file(path)) != entry.sha256:
        raise InputError(f"SHA-256 {actual} does not match the registry's {entry.sha256}", path)
    return path
