"""MXNet RecordIO without mxnet: byte layout, dmlc splitting, header-record semantics, error reports."""

from __future__ import annotations

import os
import random
import struct
from pathlib import Path

import pytest

from faceid.data.recordio import (
    MAGIC,
    IRHeader,
    RecordIOError,
    RecordIOReader,
    RecordIOWriter,
    encode_record,
    image_record_keys,
    iter_image_records,
    pack_record,
    unpack_record,
)

M = struct.pack("<I", MAGIC)


def _head(cflag: int, length: int) -> bytes:
    return M + struct.pack("<I", (cflag << 29) | length)


def _write(tmp_path: Path, payloads: list[bytes], keys: list[int] | None = None) -> tuple[Path, Path]:
    rec, idx = tmp_path / "t.rec", tmp_path / "t.idx"
    with RecordIOWriter(rec, idx) as writer:
        for key, payload in zip(keys or range(len(payloads)), payloads, strict=False):
            writer.write(key, payload)
    return rec, idx


def test_tiny_file_byte_by_byte(tmp_path: Path) -> None:
    rec, idx = _write(tmp_path, [b"abc", b"wxyz" + M + b"12", M, b""], keys=[5, 7, 9, 11])
    expected = (
        _head(0, 3)
        + b"abc\0"  # whole record, padded to 4
        + _head(1, 4)
        + b"wxyz"
        + _head(3, 2)
        + b"12\0\0"  # split at the aligned magic
        + _head(1, 0)
        + _head(3, 0)  # a payload that is only the magic
        + _head(0, 0)
    )
    assert rec.read_bytes() == expected
    assert idx.read_bytes() == b"5\t0\n7\t12\n9\t36\n11\t52\n"


def test_split_rules_follow_dmlc() -> None:
    assert encode_record(b"x" + M + b"yyy") == _head(0, 8) + b"x" + M + b"yyy"  # unaligned: no split
    assert encode_record(M + M) == _head(1, 0) + _head(2, 0) + _head(3, 0)
    assert encode_record(b"abcd" + M + b"efgh" + M) == (_head(1, 4) + b"abcd" + _head(2, 4) + b"efgh" + _head(3, 0))
    assert encode_record(b"abcde" + M[:3]) == _head(0, 8) + b"abcde" + M[:3]  # tail shorter than a word


def test_round_trip_with_split_records(tmp_path: Path) -> None:
    rng = random.Random(7)
    payloads = [b"", b"a", b"ab", b"abc", M, M * 3, b"abcd" + M, M + b"z", b"q" + M + b"r" * 6]
    for _ in range(40):
        words = [M if rng.random() < 0.3 else os.urandom(4) for _ in range(rng.randint(0, 12))]
        payloads.append(b"".join(words) + os.urandom(rng.randint(0, 3)))
    rec, idx = _write(tmp_path, payloads)
    with RecordIOReader(rec, idx) as reader:
        assert reader.keys == list(range(len(payloads)))
        assert [reader.read(k) for k in reversed(reader.keys)] == payloads[::-1]
        assert list(reader) == payloads
    with RecordIOReader(rec) as reader:
        assert list(reader) == payloads
        assert not reader.has_index


def test_pack_layout() -> None:
    assert pack_record(IRHeader(0, 3.0, 7, 9), b"img") == struct.pack("<IfQQ", 0, 3.0, 7, 9) + b"img"
    packed = pack_record(IRHeader(2, (1.5, 4.0), 1), b"img")
    assert packed == struct.pack("<IfQQ", 2, 0.0, 1, 0) + struct.pack("<2f", 1.5, 4.0) + b"img"
    assert unpack_record(packed) == (IRHeader(2, (1.5, 4.0), 1, 0), b"img")
    assert unpack_record(struct.pack("<IfQQ", 0, 2.0, 3, 4) + M) == (IRHeader(0, 2.0, 3, 4), M)


def test_header_validation() -> None:
    with pytest.raises(ValueError, match="vector label needs flag"):
        IRHeader(0, (1.0, 2.0))
    with pytest.raises(ValueError, match="scalar label needs flag 0"):
        IRHeader(1, 1.0)
    with pytest.raises(RecordIOError, match="declares 1000 labels"):
        unpack_record(struct.pack("<IfQQ", 1000, 0.0, 0, 0) + b"abcd")
    with pytest.raises(RecordIOError, match="shorter than the 24-byte header"):
        unpack_record(b"short")


def _insightface_rec(tmp_path: Path, images: list[tuple[bytes, int]]) -> tuple[Path, Path]:
    """Record 0: header (first identity record, end); 1..n: images; then one identity record per class."""
    classes = sorted({label for _, label in images})
    first_identity = len(images) + 1
    payloads = [pack_record(IRHeader(2, (float(first_identity), float(first_identity + len(classes)))), b"")]
    for key, (image, label) in enumerate(images, start=1):
        payloads.append(pack_record(IRHeader(0, float(label), key), image))
    payloads += [pack_record(IRHeader(2, (1.0, 2.0)), b"") for _ in classes]
    return _write(tmp_path, payloads)


def test_header_record_selects_image_keys(tmp_path: Path) -> None:
    images = [(b"img-a" + M, 0), (b"img-b", 0), (b"img-c", 1)]
    rec, idx = _insightface_rec(tmp_path, images)
    with RecordIOReader(rec, idx) as reader:
        assert list(image_record_keys(reader)) == [1, 2, 3]
        assert list(iter_image_records(reader)) == [(1, 0, b"img-a" + M), (2, 0, b"img-b"), (3, 1, b"img-c")]
    with RecordIOReader(rec) as reader:  # the same without the index, in file order
        assert list(iter_image_records(reader)) == [(1, 0, b"img-a" + M), (2, 0, b"img-b"), (3, 1, b"img-c")]


def test_without_header_every_record_is_an_image(tmp_path: Path) -> None:
    payloads = [pack_record(IRHeader(0, 4.0), b"a"), pack_record(IRHeader(3, (2.0, 9.0, 9.0)), b"b")]
    rec, idx = _write(tmp_path, payloads, keys=[10, 20])
    with RecordIOReader(rec, idx) as reader:
        assert list(iter_image_records(reader)) == [(10, 4, b"a"), (20, 2, b"b")]  # vector: first element


def test_non_integer_labels_are_reported(tmp_path: Path) -> None:
    rec, idx = _write(tmp_path, [pack_record(IRHeader(0, 1.5), b"a")])
    with RecordIOReader(rec, idx) as reader, pytest.raises(RecordIOError, match=r"record 0 has label 1.5"):
        list(iter_image_records(reader))


def test_every_truncation_names_file_and_offset(tmp_path: Path) -> None:
    rec, _ = _write(tmp_path, [b"abcde", b"wxyz" + M + b"12"])
    data = rec.read_bytes()
    first_record_end = 8 + 5 + 3
    for cut in range(1, len(data)):
        rec.write_bytes(data[:cut])
        with RecordIOReader(rec) as reader:
            if cut == first_record_end:  # a clean record boundary: a valid, shorter file
                assert list(reader) == [b"abcde"]
                continue
            with pytest.raises(RecordIOError, match=rf"^{rec}: byte \d+: "):
                list(reader)


def test_bad_magic_and_cflag_sequences(tmp_path: Path) -> None:
    rec = tmp_path / "bad.rec"
    cases = {
        _head(0, 4) + b"abcd" + b"\x0b\x23\xd7\xce" + bytes(4): r"byte 12: bad magic 0xced7230b",
        _head(2, 0): r"byte 0: part with cflag 2 where a record must start",
        _head(3, 0): r"byte 0: part with cflag 3 where",
        _head(1, 0) + _head(0, 0): r"byte 8: cflag 0 inside the split record that starts at byte 0",
        _head(1, 0) + _head(1, 0): r"byte 8: cflag 1 inside the split record",
        _head(1, 4) + b"abcd": r"byte 12: file ends inside the split record that starts at byte 0",
        _head(0, (1 << 29) - 1): r"byte 0: record declares 536870911 bytes",
        _head(4, 0): r"byte 0: part with cflag 4",
    }
    for data, message in cases.items():
        rec.write_bytes(data)
        with RecordIOReader(rec) as reader, pytest.raises(RecordIOError, match=rf"^{rec}: {message}"):
            list(reader)


def test_index_errors(tmp_path: Path) -> None:
    rec, idx = _write(tmp_path, [b"abcd", b"efgh"])
    for text, message in [
        (b"0\t0\n1\t999\n", r":2: offset 999 is beyond the end of the .rec file \(24 bytes\)"),
        (b"0\t0\n0\t12\n", r":2: duplicate key 0"),
        (b"0 0\n", r":1: expected 'key<TAB>offset'"),
        (b"0\t-4\n", r":1: expected 'key<TAB>offset'"),
    ]:
        idx.write_bytes(text)
        with pytest.raises(RecordIOError, match=rf"^{idx}{message}"):
            RecordIOReader(rec, idx)
    idx.write_bytes(b"0\t4\n")  # points into the middle of a record
    with RecordIOReader(rec, idx) as reader, pytest.raises(RecordIOError, match=r"byte 4: bad magic"):
        reader.read(0)
    with RecordIOReader(rec, idx) as reader, pytest.raises(KeyError, match="key 3 is not in the index"):
        reader.read(3)


def test_writer_checks_keys_and_discards_on_error(tmp_path: Path) -> None:
    rec, idx = tmp_path / "w.rec", tmp_path / "w.idx"
    with pytest.raises(ValueError, match="duplicate record key 1"), RecordIOWriter(rec, idx) as writer:
        writer.write(1, b"a")
        writer.write(1, b"b")
    assert not rec.exists() and not idx.exists() and not list(tmp_path.iterdir())
    with pytest.raises(ValueError, match="non-negative ints"), RecordIOWriter(rec, idx) as writer:
        writer.write(-1, b"a")


def test_split_matches_a_word_by_word_reference() -> None:
    # dmlc-core's loop, transcribed: check each aligned word before the last partial word.
    def reference(payload: bytes) -> list[bytes]:
        chunks, start = [], 0
        for offset in range(0, len(payload) // 4 * 4, 4):
            if payload[offset : offset + 4] == M:
                chunks.append(payload[start:offset])
                start = offset + 4
        return [*chunks, payload[start:]]

    rng = random.Random(3)
    for _ in range(300):
        pieces = [rng.choice([M, M[:2], M[1:], b"\x0a", os.urandom(rng.randint(0, 5))]) for _ in range(8)]
        payload = b"".join(pieces)
        encoded, parts, pos = encode_record(payload), [], 0
        while pos < len(encoded):
            (lrecord,) = struct.unpack_from("<I", encoded, pos + 4)
            length = lrecord & ((1 << 29) - 1)
            parts.append(encoded[pos + 8 : pos + 8 + length])
            pos += 8 + length + (-length % 4)
        assert parts == reference(payload)
        assert len(encoded) % 4 == 0


def test_list_labels_become_tuples() -> None:
    assert IRHeader(2, [1, 2]).label == (1.0, 2.0)  # type: ignore[arg-type]
