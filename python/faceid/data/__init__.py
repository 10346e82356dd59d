"""Training and evaluation data.

kv ``.bin`` images, MXNet RecordIO, label files, verification sets and converters live in their
submodules (``faceid.data.kvbin``, ``faceid.data.recordio``, ...). The training set and loader are
exported here; they load on first use, so importing this package stays cheap.
"""

from __future__ import annotations

from typing import Any

_EXPORTS = {
    "FaceDataset": "faceid.data.dataset",
    "FaceLoader": "faceid.data.loader",
    "shard_indices": "faceid.data.loader",
    "CorruptImageError": "faceid.data.images",
    "load_verification_set": "faceid.data.verification_set",
    "write_verification_set": "faceid.data.verification_set",
    "check_dataset": "faceid.data.check",
}

__all__ = [  # noqa: RUF022 (grouped as in _EXPORTS)
    "FaceDataset",
    "FaceLoader",
    "shard_indices",
    "CorruptImageError",
    "load_verification_set",
    "write_verification_set",
    "check_dataset",
]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'faceid.data' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(_EXPORTS[name]), name)
