"""A reader of MXNet's legacy NDArray list format (``*.params`` checkpoints), without MXNet and without pickle.

Layout (little-endian), as written by ``mx.nd.save`` / ``Module.save_checkpoint``:

* ``uint64`` list magic ``0x112``, ``uint64`` reserved (0);
* ``uint64`` count, then ``count`` NDArrays, each:

  * ``uint32`` NDArray magic: ``0xF993FAC9`` (V2: then ``int32`` storage type, 0 = dense) or ``0xF993FAC8`` (V1);
    ``0xF993FACA`` (V3, numpy shape semantics) is read like V2. Any other value is a pre-V1 array whose first
    word is already ``ndim`` and whose dimensions are ``uint32``;
  * shape: ``uint32`` ndim then ``ndim`` x ``int64`` dimensions (pre-V1: ``uint32``). An empty shape (ndim 0;
    V3: -1) is a "none" array and ends the record;
  * context: ``int32`` device type, ``int32`` device id (ignored: everything is read to host memory);
  * ``int32`` dtype flag (0 float32, 1 float64, 2 float16, 3 uint8, 4 int32, 5 int8, 6 int64, 7 bool);
  * the data, C order, ``prod(shape) * itemsize`` bytes;

* ``uint64`` count of names (0, or the number of arrays), each ``uint64`` length + UTF-8 bytes
  (``arg:conv1_weight``, ``aux:bn1_moving_mean``).

Sparse storage (row_sparse / csr) is not supported and is rejected with a clear error.
"""

from __future__ import annotations

import logging
import os
import struct
from pathlib import Path

import numpy as np

__all__ = ["DTYPE_FLAGS", "LIST_MAGIC", "NDARRAY_V1_MAGIC", "NDARRAY_V2_MAGIC", "NDARRAY_V3_MAGIC", "read_params"]

logger = logging.getLogger(__name__)

LIST_MAGIC = 0x112
NDARRAY_V1_MAGIC = 0xF993FAC8
NDARRAY_V2_MAGIC = 0xF993FAC9
NDARRAY_V3_MAGIC = 0xF993FACA
DTYPE_FLAGS: dict[int, np.dtype] = {
    0: np.dtype("<f4"),
    1: np.dtype("<f8"),
    2: np.dtype("<f2"),
    3: np.dtype("u1"),
    4: np.dtype("<i4"),
    5: np.dtype("i1"),
    6: np.dtype("<i8"),
    7: np.dtype("?"),
}
_MAX_NDIM = 32


class _Reader:
    """Bounds-checked little-endian reads from a byte buffer; errors name the file and the offset."""

    def __init__(self, data: bytes, source: str) -> None:
        self.data = memoryview(data)
        self.source = source
        self.offset = 0

    def error(self, message: str) -> ValueError:
        return ValueError(f"{self.source}: {message} (at byte {self.offset} of {len(self.data)})")

    def take(self, size: int, what: str) -> memoryview:
        if size < 0 or self.offset + size > len(self.data):
            raise self.error(f"truncated: {what} needs {size} bytes, {len(self.data) - self.offset} left")
        chunk = self.data[self.offset : self.offset + size]
        self.offset += size
        return chunk

    def unpack(self, fmt: str, what: str) -> int:
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt), what))[0]


def _read_shape(reader: _Reader, ndim: int, dim_fmt: str, index: int) -> tuple[int, ...] | None:
    """The dimensions after ``ndim``; None for a "none" array (no shape)."""
    if ndim in (0, -1, 0xFFFFFFFF):
        return None
    if not 0 < ndim <= _MAX_NDIM:
        raise reader.error(f"array {index}: implausible ndim {ndim} (corrupt file?)")
    shape = tuple(reader.unpack(dim_fmt, f"array {index} dimension") for _ in range(ndim))
    if any(dim < 0 for dim in shape):
        raise reader.error(f"array {index}: negative dimension in shape {shape}")
    return shape


def _read_array(reader: _Reader, index: int) -> np.ndarray | None:
    """One NDArray record (None for a "none" array)."""
    first = reader.unpack("I", f"array {index} magic")
    if first in (NDARRAY_V2_MAGIC, NDARRAY_V3_MAGIC):
        stype = reader.unpack("i", f"array {index} storage type")
        if stype != 0:
            raise reader.error(f"array {index}: sparse storage type {stype} is not supported (only dense, 0)")
        ndim, dim_fmt = reader.unpack("i", f"array {index} ndim"), "q"
    elif first == NDARRAY_V1_MAGIC:
        ndim, dim_fmt = reader.unpack("i", f"array {index} ndim"), "q"
    else:  # pre-V1: the first word is ndim, dimensions are uint32
        ndim, dim_fmt = first, "I"
    shape = _read_shape(reader, ndim, dim_fmt, index)
    if shape is None:
        return None
    reader.unpack("i", f"array {index} device type")
    reader.unpack("i", f"array {index} device id")
    flag = reader.unpack("i", f"array {index} dtype")
    if flag not in DTYPE_FLAGS:
        raise reader.error(f"array {index}: unknown dtype flag {flag} (known: {sorted(DTYPE_FLAGS)})")
    dtype = DTYPE_FLAGS[flag]
    count = int(np.prod(shape, dtype=np.int64))
    data = reader.take(count * dtype.itemsize, f"array {index} data ({shape}, {dtype})")
    return np.frombuffer(data, dtype=dtype).reshape(shape).astype(dtype.newbyteorder("="), copy=True)


def _read_names(reader: _Reader, count: int) -> list[str]:
    total = reader.unpack("Q", "name count")
    if total not in (0, count):
        raise reader.error(f"{total} names for {count} arrays")
    names = []
    for index in range(total):
        length = reader.unpack("Q", f"name {index} length")
        raw = bytes(reader.take(length, f"name {index}"))
        try:
            names.append(raw.decode("utf-8"))
        except UnicodeDecodeError as error:
            raise reader.error(f"name {index} is not UTF-8") from error
    return names


def read_params(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """The named arrays of an MXNet ``.params`` file, keys as stored (``arg:...`` / ``aux:...``).

    Raises ``FileNotFoundError`` for a missing file and ``ValueError`` naming the file for a bad magic,
    a truncated or over-long file, unsupported storage, duplicate or missing names.
    """
    path = Path(path)
    reader = _Reader(path.read_bytes(), str(path))
    magic = reader.unpack("Q", "list magic")
    if magic != LIST_MAGIC:
        raise reader.error(f"not an MXNet NDArray list: magic {magic:#x}, expected {LIST_MAGIC:#x}")
    reader.unpack("Q", "reserved word")
    count = reader.unpack("Q", "array count")
    if count > len(reader.data) // 8:
        raise reader.error(f"implausible array count {count} for the file size")
    arrays = [_read_array(reader, index) for index in range(count)]
    names = _read_names(reader, count)
    if reader.offset != len(reader.data):
        raise reader.error(f"{len(reader.data) - reader.offset} unexpected bytes after the name list")
    if not names:
        raise reader.error("the arrays have no names (a checkpoint stores names)")
    if len(set(names)) != len(names):
        raise reader.error("duplicate array names")
    result = {name: array for name, array in zip(names, arrays, strict=True) if array is not None}
    logger.debug("%s: %d arrays", path, len(result))
    return result
