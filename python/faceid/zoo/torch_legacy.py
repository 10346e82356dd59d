"""Read a legacy (non-zip) ``torch.save`` state dict without torch and without running code.

Layout: five back-to-back pickles (magic number 0x1950a86a20f9469cfc6c, protocol version 1001, a sys-info
dict, the state dict, the list of storage keys), then each storage's raw data as a little-endian int64 element
count followed by the elements. The state dict is rebuilt by a restricted unpickler that knows only
``collections.OrderedDict``, ``torch._utils._rebuild_tensor_v2`` and ``torch.FloatStorage`` (as guarded
stand-ins) and accepts only ``('storage', FloatStorage, key, location, size)`` persistent ids.
"""

from __future__ import annotations

import os
import pickletools
import struct
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from faceid.io.safe_pickle import UnsafePickleError, restricted_loads

__all__ = ["read_legacy_state_dict"]

MAGIC = 0x1950A86A20F9469CFC6C
PROTOCOL = 1001


@dataclass(frozen=True)
class _Storage:
    key: str
    size: int


@dataclass(frozen=True)
class _TensorRef:
    storage: _Storage
    offset: int
    shape: tuple[int, ...]
    stride: tuple[int, ...]


class _FloatStorageToken:
    """Stands in for ``torch.FloatStorage`` (never called)."""


_FLOAT = _FloatStorageToken()


def _ordered_dict(*args: Any) -> OrderedDict:
    if args:
        raise UnsafePickleError(f"OrderedDict is allowed only empty, got {len(args)} arguments")
    return OrderedDict()


def _ints(value: Any, what: str) -> tuple[int, ...]:
    if not isinstance(value, tuple) or not all(type(v) is int and v >= 0 for v in value):
        raise UnsafePickleError(f"tensor {what} must be a tuple of non-negative ints, got {value!r}")
    return value


def _rebuild_tensor(*args: Any) -> _TensorRef:
    if len(args) != 6 or not isinstance(args[0], _Storage) or type(args[1]) is not int or args[1] < 0:
        raise UnsafePickleError("_rebuild_tensor_v2 is allowed only as (storage, offset, size, stride, grad, hooks)")
    shape, stride = _ints(args[2], "size"), _ints(args[3], "stride")
    if len(shape) != len(stride):
        raise UnsafePickleError(f"tensor size {shape} and stride {stride} differ in length")
    return _TensorRef(args[0], args[1], shape, stride)


_ALLOWED = {
    ("collections", "OrderedDict"): _ordered_dict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch", "FloatStorage"): _FLOAT,
}


def _split(data: bytes, offset: int, source: str) -> tuple[bytes, int]:
    """The pickle starting at ``offset`` (found by parsing opcodes, nothing executed) and where it ends."""
    try:
        for opcode, _, position in pickletools.genops(data[offset:]):
            if opcode.name == "STOP":
                end = offset + position + 1
                return data[offset:end], end
    except Exception as error:
        raise ValueError(f"{source}: malformed pickle at byte {offset} ({error})") from None
    raise ValueError(f"{source}: truncated pickle at byte {offset}")


def _header(data: bytes, source: str) -> int:
    offset = 0
    values = []
    for _ in range(3):
        chunk, offset = _split(data, offset, source)
        values.append(restricted_loads(chunk, {}, source=source))
    magic, protocol, info = values
    if magic != MAGIC or protocol != PROTOCOL:
        raise ValueError(f"{source}: not a legacy torch.save file (magic {magic!r}, protocol {protocol!r})")
    if not isinstance(info, dict) or info.get("little_endian") is not True:
        raise ValueError(f"{source}: only little-endian legacy files are supported")
    return offset


def read_legacy_state_dict(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """name -> float32 array of a legacy ``torch.save(state_dict)`` file."""
    path = Path(path)
    source = str(path)
    data = path.read_bytes()
    offset = _header(data, source)
    storages: dict[str, _Storage] = {}

    def persistent(pid: Any) -> _Storage:
        if not (
            isinstance(pid, tuple)
            and len(pid) in (5, 6)
            and pid[0] == "storage"
            and pid[1] is _FLOAT
            and isinstance(pid[2], str)
            and isinstance(pid[3], str)
            and type(pid[4]) is int
            and pid[4] >= 0
            and (len(pid) == 5 or pid[5] is None)
        ):
            raise UnsafePickleError(
                f"persistent id must be ('storage', FloatStorage, key, location, size), got {pid!r}"
            )
        storages[pid[2]] = _Storage(pid[2], pid[4])
        return storages[pid[2]]

    chunk, offset = _split(data, offset, source)
    state = restricted_loads(chunk, _ALLOWED, source=source, persistent_load=persistent)
    chunk, offset = _split(data, offset, source)
    keys = restricted_loads(chunk, {}, source=source)
    if not isinstance(state, dict) or not isinstance(keys, list) or sorted(keys) != sorted(storages):
        raise ValueError(f"{source}: state dict and storage list do not match")
    raw = {}
    for key in keys:
        if offset + 8 > len(data):
            raise ValueError(f"{source}: truncated before storage {key}")
        (count,) = struct.unpack_from("<q", data, offset)
        end = offset + 8 + 4 * count
        if count != storages[key].size or end > len(data):
            raise ValueError(f"{source}: storage {key} declares {count} floats, expected {storages[key].size}")
        raw[key] = np.frombuffer(data, dtype="<f4", count=count, offset=offset + 8)
        offset = end
    return {name: _materialise(ref, raw[ref.storage.key], name, source) for name, ref in state.items()}


def _materialise(ref: Any, storage: np.ndarray, name: str, source: str) -> np.ndarray:
    if not isinstance(ref, _TensorRef):
        raise ValueError(f"{source}: {name} is not a tensor")
    last = (
        ref.offset + sum((n - 1) * s for n, s in zip(ref.shape, ref.stride, strict=False))
        if all(ref.shape)
        else ref.offset
    )
    if ref.shape and all(ref.shape) and last >= len(storage):
        raise ValueError(f"{source}: {name} reaches past its storage")
    view = np.lib.stride_tricks.as_strided(
        storage[ref.offset :], shape=ref.shape, strides=tuple(4 * s for s in ref.stride), writeable=False
    )
    return np.array(view, dtype=np.float32)
