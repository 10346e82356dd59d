"""MXNet RecordIO (``.rec`` + ``.idx``) without mxnet, written from the format.

A record is ``uint32 magic 0xced7230a | uint32 lrecord | data | zero padding to a multiple of 4`` (all
little-endian). ``lrecord`` holds a continuation flag in its upper 3 bits and the data length in the lower 29.
dmlc-core's writer splits a payload wherever the magic occurs at a 4-byte-aligned offset: the parts carry
cflag 1 (first), 2 (middle) and 3 (last), the magic itself is dropped from the data and the reader puts it
back between parts; cflag 0 marks a whole record. The ``.idx`` file holds ``key<TAB>offset`` lines, the
offset being that of the record's (first part's) magic.

An image record's payload is an ``IRHeader`` (``<IfQQ``: flag, label, id, id2; 24 bytes), then ``flag``
float32 labels when ``flag > 0`` (the header's label field is then unused), then the encoded image.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, NoReturn

import numpy as np

from faceid.io.atomic import atomic_write

__all__ = [
    "MAGIC",
    "IRHeader",
    "RecordIOError",
    "RecordIOReader",
    "RecordIOWriter",
    "encode_record",
    "image_record_keys",
    "iter_image_records",
    "pack_record",
    "unpack_record",
]

logger = logging.getLogger(__name__)

MAGIC = 0xCED7230A
_MAGIC_BYTES = struct.pack("<I", MAGIC)
_LENGTH_MASK = (1 << 29) - 1
_HEADER = struct.Struct("<IfQQ")
_WHOLE, _FIRST, _MIDDLE, _LAST = 0, 1, 2, 3


class RecordIOError(ValueError):
    """A ``.rec`` or ``.idx`` file is malformed."""


# --- image record payloads ----------------------------------------------------------------------------


@dataclass(frozen=True)
class IRHeader:
    """MXNet's image record header. ``label`` is a float, or a tuple of floats with ``flag == len(label)``."""

    flag: int
    label: float | tuple[float, ...]
    id: int = 0
    id2: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.label, (list, tuple, np.ndarray)):
            object.__setattr__(self, "label", tuple(float(value) for value in self.label))
        if isinstance(self.label, tuple):
            if not self.label or self.flag != len(self.label):
                raise ValueError(
                    f"IRHeader: a vector label needs flag == len(label) > 0, got flag {self.flag} "
                    f"for {len(self.label)} values"
                )
        elif self.flag != 0:
            raise ValueError(f"IRHeader: a scalar label needs flag 0, got {self.flag}")


def pack_record(header: IRHeader, image_bytes: bytes) -> bytes:
    """Serialize ``header`` and the encoded image as mxnet's ``recordio.pack`` does."""
    if isinstance(header.label, tuple):
        labels = np.asarray(header.label, dtype="<f4").tobytes()
        head = _HEADER.pack(header.flag, 0.0, header.id, header.id2)
    else:
        labels = b""
        head = _HEADER.pack(0, header.label, header.id, header.id2)
    return head + labels + bytes(image_bytes)


def unpack_record(payload: bytes, *, source: str = "image record") -> tuple[IRHeader, bytes]:
    """Split a payload into its header (vector label as a tuple of floats) and the encoded image.

    ``source`` names the record in error messages.
    """
    if len(payload) < _HEADER.size:
        raise RecordIOError(f"{source}: {len(payload)} bytes, shorter than the {_HEADER.size}-byte header")
    flag, label, rec_id, rec_id2 = _HEADER.unpack_from(payload)
    if flag == 0:
        return IRHeader(0, label, rec_id, rec_id2), payload[_HEADER.size :]
    end = _HEADER.size + 4 * flag
    if end > len(payload):
        raise RecordIOError(
            f"{source}: header declares {flag} labels but only {len(payload) - _HEADER.size} bytes follow the header"
        )
    labels = tuple(np.frombuffer(payload, dtype="<f4", count=flag, offset=_HEADER.size).tolist())
    return IRHeader(flag, labels, rec_id, rec_id2), payload[end:]


# --- writing ------------------------------------------------------------------------------------------


def encode_record(payload: bytes) -> bytes:
    """The bytes dmlc-core writes for one record, split at every aligned occurrence of the magic."""
    if len(payload) >= 1 << 29:
        raise ValueError(f"RecordIO records must be shorter than 2**29 bytes, got {len(payload)}")
    parts = []
    start = 0
    offset = payload.find(_MAGIC_BYTES)
    while offset >= 0:
        if offset % 4 == 0:  # dmlc checks aligned words only
            parts.append(_part(_FIRST if start == 0 else _MIDDLE, payload[start:offset]))
            start = offset + 4
        offset = payload.find(_MAGIC_BYTES, offset + (4 if offset % 4 == 0 else 1))
    parts.append(_part(_LAST if start else _WHOLE, payload[start:]))
    padding = b"\0" * (-len(payload) % 4)
    return b"".join(parts) + padding


def _part(cflag: int, data: bytes) -> bytes:
    return _MAGIC_BYTES + struct.pack("<I", (cflag << 29) | len(data)) + data


class RecordIOWriter:
    """Write ``.rec`` and ``.idx`` files; both appear atomically when the writer closes without error.

    Use as a context manager; ``write(key, payload)`` appends one record and its index line.
    """

    def __init__(self, rec_path: str | os.PathLike[str], idx_path: str | os.PathLike[str]) -> None:
        self.rec_path, self.idx_path = Path(rec_path), Path(idx_path)
        self._stack = contextlib.ExitStack()
        self._rec: BinaryIO = self._stack.enter_context(atomic_write(self.rec_path, "wb"))
        self._idx: BinaryIO = self._stack.enter_context(atomic_write(self.idx_path, "wb"))
        self._offset = 0
        self._keys: set[int] = set()

    def write(self, key: int, payload: bytes) -> None:
        """Append ``payload`` as the record for integer ``key``."""
        if isinstance(key, bool) or not isinstance(key, int) or key < 0:
            raise ValueError(f"{self.rec_path}: record keys must be non-negative ints, got {key!r}")
        if key in self._keys:
            raise ValueError(f"{self.rec_path}: duplicate record key {key}")
        encoded = encode_record(bytes(payload))
        self._rec.write(encoded)
        self._idx.write(f"{key}\t{self._offset}\n".encode("ascii"))
        self._keys.add(key)
        self._offset += len(encoded)

    def close(self) -> None:
        """Commit both files."""
        self._stack.close()

    def __enter__(self) -> RecordIOWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.close()
        else:  # the atomic writers discard their temporary files
            self._stack.__exit__(exc_type, exc, tb)


# --- reading ------------------------------------------------------------------------------------------


class RecordIOReader:
    """Read records from a ``.rec`` file, by key through its ``.idx`` or sequentially.

    Every length is checked against the file size before anything is read, so a corrupt length field can
    never cause a large allocation. Errors name the file and the byte offset.
    """

    def __init__(self, rec_path: str | os.PathLike[str], idx_path: str | os.PathLike[str] | None = None) -> None:
        self.rec_path = Path(rec_path)
        self._file: BinaryIO = open(self.rec_path, "rb")  # noqa: SIM115 (closed by close())
        self._size = os.fstat(self._file.fileno()).st_size
        self._index: dict[int, int] = {}
        self.idx_path = Path(idx_path) if idx_path is not None else None
        try:
            if self.idx_path is not None:
                self._index = _read_idx(self.idx_path, self._size)
        except BaseException:
            self._file.close()
            raise

    @property
    def has_index(self) -> bool:
        return self.idx_path is not None

    @property
    def keys(self) -> list[int]:
        """Record keys in ``.idx`` order (empty without an index)."""
        return list(self._index)

    def read(self, key: int) -> bytes:
        """The payload of the record with ``key``."""
        if key not in self._index:
            where = self.idx_path or "(no .idx given)"
            raise KeyError(f"{self.rec_path}: key {key!r} is not in the index {where}")
        payload, _ = self._read_at(self._index[key])
        return payload

    def __iter__(self) -> Iterator[bytes]:
        """All payloads in file order."""
        offset = 0
        while offset < self._size:
            payload, offset = self._read_at(offset)
            yield payload

    def _read_at(self, offset: int) -> tuple[bytes, int]:
        """Read the record whose first part starts at ``offset``; return it and the next record's offset."""
        pieces: list[bytes] = []
        record_start = offset
        while True:
            part_start = offset
            cflag, data, offset = self._read_part(offset)
            if part_start == record_start and cflag not in (_WHOLE, _FIRST):
                self._fail(part_start, f"part with cflag {cflag} where a record must start (cflag 0 or 1)")
            if part_start != record_start and cflag not in (_MIDDLE, _LAST):
                self._fail(
                    part_start,
                    f"cflag {cflag} inside the split record that starts at byte {record_start} (expected 2 or 3)",
                )
            pieces.append(data)
            if cflag in (_WHOLE, _LAST):
                return _MAGIC_BYTES.join(pieces), offset
            if offset >= self._size:
                self._fail(offset, f"file ends inside the split record that starts at byte {record_start}")

    def _read_part(self, offset: int) -> tuple[int, bytes, int]:
        """Return ``(cflag, data, offset after padding)`` for the part at ``offset``."""
        if self._size - offset < 8:
            self._fail(offset, f"truncated record header ({self._size - offset} of 8 bytes)")
        self._file.seek(offset)
        magic, lrecord = struct.unpack("<II", self._file.read(8))
        if magic != MAGIC:
            self._fail(offset, f"bad magic {magic:#010x} (expected {MAGIC:#010x})")
        cflag, length = lrecord >> 29, lrecord & _LENGTH_MASK
        padded = length + (-length % 4)
        if padded > self._size - offset - 8:
            self._fail(
                offset,
                f"record declares {length} bytes (+{padded - length} padding) but only "
                f"{self._size - offset - 8} remain",
            )
        data = self._file.read(length)
        if len(data) != length:
            self._fail(offset, "file shrank while reading")
        return cflag, data, offset + 8 + padded

    def _fail(self, offset: int, message: str) -> NoReturn:
        raise RecordIOError(f"{self.rec_path}: byte {offset}: {message}")

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> RecordIOReader:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _read_idx(path: Path, rec_size: int) -> dict[int, int]:
    """Parse ``key<TAB>offset`` lines; every offset must lie inside the ``.rec`` file."""
    index: dict[int, int] = {}
    with open(path, "rb") as handle:
        for lineno, raw in enumerate(handle, start=1):
            line = raw.strip()
            if not line:
                continue
            fields = line.split(b"\t")
            if len(fields) != 2 or not all(f.isdigit() for f in fields):
                raise RecordIOError(
                    f"{path}:{lineno}: expected 'key<TAB>offset' with non-negative integers, got {raw[:80]!r}"
                )
            key, offset = int(fields[0]), int(fields[1])
            if key in index:
                raise RecordIOError(f"{path}:{lineno}: duplicate key {key}")
            if offset >= rec_size:
                raise RecordIOError(
                    f"{path}:{lineno}: offset {offset} is beyond the end of the .rec file ({rec_size} bytes)"
                )
            index[key] = offset
    return index


# --- insightface layout -------------------------------------------------------------------------------


def _header_end(payload: bytes | None, source: Path) -> int | None:
    """``int(label[0])`` when ``payload`` is an insightface header record (flag > 0), else None."""
    if payload is None:
        return None
    header, _ = unpack_record(payload, source=f"{source}: record 0")
    if not isinstance(header.label, tuple):
        return None
    if not math.isfinite(header.label[0]):
        raise RecordIOError(f"{source}: record 0 is a header record with label {header.label[0]}")
    return int(header.label[0])


def image_record_keys(reader: RecordIOReader) -> Sequence[int]:
    """Keys of the image records: ``1 .. label[0] - 1`` when record 0 is an insightface header, else all keys.

    Needs the ``.idx`` index.
    """
    if not reader.has_index:
        raise ValueError(f"{reader.rec_path}: image_record_keys needs the .idx index")
    end = _header_end(reader.read(0), reader.rec_path) if 0 in reader.keys else None
    if end is None:
        return reader.keys
    logger.debug("%s: header record, image keys 1..%d", reader.rec_path, end - 1)
    return range(1, max(end, 1))


def _indexed_records(reader: RecordIOReader) -> Iterator[tuple[int, bytes]]:
    for key in image_record_keys(reader):
        yield key, reader.read(key)


def _sequential_records(reader: RecordIOReader) -> Iterator[tuple[int, bytes]]:
    """Records in file order, keyed by position; the same header rule applies to position 0."""
    records = enumerate(reader)
    first = next(records, None)
    if first is None:
        return
    end = _header_end(first[1], reader.rec_path)
    if end is None:
        yield first
        yield from records
        return
    for position, payload in records:
        if position >= end:
            return
        yield position, payload


def iter_image_records(reader: RecordIOReader) -> Iterator[tuple[int, int, bytes]]:
    """Yield ``(key, integer label, encoded image bytes)`` for every image record.

    Uses the index when the reader has one, else reads in file order with positions as keys. A vector label
    contributes its first element; labels must be non-negative integers.
    """
    records = _indexed_records(reader) if reader.has_index else _sequential_records(reader)
    for key, payload in records:
        header, image = unpack_record(payload, source=f"{reader.rec_path}: record {key}")
        value = header.label[0] if isinstance(header.label, tuple) else header.label
        if not math.isfinite(value) or value != int(value) or value < 0:
            raise RecordIOError(f"{reader.rec_path}: record {key} has label {value}, not a non-negative integer")
        yield key, int(value), image
