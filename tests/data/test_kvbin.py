"""The kv .bin reader: an opcode-level parser checked against ``pickle.loads`` and hand-built bytes."""

from __future__ import annotations

import os
import pickle
import pickletools
import random
import struct
from pathlib import Path

import pytest

from faceid.data.kvbin import (
    MAX_KEY_LEN,
    KvBinError,
    encode_kv_record,
    parse_pickled_bytes,
    read_kv_file,
    read_kv_record,
    write_kv_file,
)

PROTOCOLS = range(pickle.HIGHEST_PROTOCOL + 1)
SAMPLES = [
    b"",
    b"a",
    bytes(range(256)),
    bytes(range(256))[::-1] * 2,
    os.urandom(300),
    os.urandom(70_000),  # bigger than a protocol-4 frame: written outside frames
    b"line\nbreak\r\n",
    b"back\\slash\\",
    b"'single' \"double\" quotes",
    b"\\u0041 \\U00000041 \\x41",  # escape-like text must stay literal
    b"\x00\x1a\x7f\x80\xff",
]


def _parse(payload: bytes) -> bytes:
    return parse_pickled_bytes(payload, source="t")


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_every_protocol_round_trips(protocol: int) -> None:
    for sample in SAMPLES:
        assert _parse(pickle.dumps(sample, protocol=protocol)) == sample


def _py2_string(data: bytes) -> bytes:
    """A Python 2 ``STRING`` opcode as Python 2's pickler wrote it: ``S`` + ``repr(str)`` + newline."""
    return b"S" + repr(data)[1:].encode("ascii") + b"\n"


PY2_PAYLOADS = [
    *(_py2_string(sample) + b"p0\n." for sample in SAMPLES[:5] + SAMPLES[6:]),
    b"S'\\a\\b\\f\\v\\t\\n\\r\\\\\\'\\\"'\n.",
    b'S"it\'s"\n.',
    b"S'\\0\\12\\123\\1234\\377\\xAb\\xcD'\n.",
    b"S'bare ' quote'\n.",
    b"S''\n.",
    b"\x80\x02U\x05hello.",
    b"\x80\x02U\x00q\x00.",
    b"\x80\x02T\x03\x00\x00\x00\x00\xff\x80q\x01.",
    b"\x80\x02T" + struct.pack("<i", 300) + bytes(range(256)) + bytes(44) + b"q\x00.",
]


@pytest.mark.parametrize("payload", PY2_PAYLOADS)
def test_python2_strings_mean_bytes(payload: bytes) -> None:
    assert _parse(payload) == pickle.loads(payload, encoding="bytes")


OTHER_LEGAL_FORMS = [
    b"\x80\x04\x8e\x03\x00\x00\x00\x00\x00\x00\x00abc\x94.",  # BINBYTES8
    b"\x80\x03B\x02\x00\x00\x00hi.",
    b"c_codecs\nencode\n(V\\u00ff\\u0041\\\\\\x\xe9\\\nVlatin1\ntR.",
    b"c_codecs\nencode\np0\n(Vab\np1\nVlatin-1\np2\ntp3\nRp4\n.",
    b"\x80\x02c_codecs\nencode\nX\x02\x00\x00\x00\xc3\xa9X\x06\x00\x00\x00latin1\x86R.",
    b"\x80\x04\x8c\x07_codecs\x8c\x06encode\x93\x8c\x02ab\x8c\x06latin1\x86R.",
    b"\x80\x04\x8c\x07_codecs\x94\x8c\x06encode\x94\x93\x94(\x8d\x01\x00\x00\x00\x00\x00\x00\x00z\x8c\x06latin1tR.",
    b"\x80\x02c__builtin__\nbytes\nq\x00)Rq\x01.",
    b"c__builtin__\nbytes\np0\n(tRp1\n.",
    b"\x80\x04\x8c\x08builtins\x8c\x05bytes\x93)R.",
    b"\x80\x05cbuiltins\nbytes\n)R.",
    b"\x80\x04\x95\x02\x00\x00\x00\x00\x00\x00\x00C\x00\x95\x01\x00\x00\x00\x00\x00\x00\x00.",  # two frames
    b"\x80\x04\x95\x00\x00\x00\x00\x00\x00\x00\x00C\x01x.",  # an empty frame
    b"\x80\x04C\x01xr\x07\x00\x00\x00.",  # LONG_BINPUT
]


@pytest.mark.parametrize("payload", OTHER_LEGAL_FORMS)
def test_other_legal_forms_match_pickle(payload: bytes) -> None:
    assert _parse(payload) == pickle.loads(payload, encoding="bytes")


def test_utf8_text_round_trips_through_latin1() -> None:
    text = "".join(map(chr, range(256)))
    payload = b"\x80\x02c_codecs\nencode\nX" + struct.pack("<I", len(text.encode())) + text.encode()
    payload += b"X\x06\x00\x00\x00latin1\x86R."
    assert _parse(payload) == bytes(range(256)) == pickle.loads(payload)


REJECTED = {
    "os.system via GLOBAL": b"cos\nsystem\n(S'touch {marker}'\ntR.",
    "os.system via STACK_GLOBAL": b"\x80\x04\x8c\x02os\x8c\x06system\x93\x8c\x10touch {marker}\x85R.",
    "eval via STACK_GLOBAL": b"\x80\x04\x8c\x08builtins\x8c\x04eval\x93\x8c\x04'x'\x85R.",
    "encode then another global": b"\x80\x04\x8c\x07_codecs\x8c\x06system\x93)R.",
    "a list": pickle.dumps([b"a"], protocol=4),
    "an int": pickle.dumps(1, protocol=4),
    "a str": pickle.dumps("abc", protocol=4),
    "a tuple of bytes": pickle.dumps((b"a",), protocol=2),
    "a bytearray": pickle.dumps(bytearray(b"a"), protocol=5),
    "two bytes objects": b"C\x01aC\x01b.",
    "bytes over a mark": b"(C\x01a.",
    "trailing bytes after STOP": pickle.dumps(b"abc", protocol=3) + b"\x00",
    "missing STOP": pickle.dumps(b"abc", protocol=3)[:-1],
    "empty payload": b"",
    "bytes(n)": b"\x80\x02c__builtin__\nbytes\nJ\x00\xca\x9a;\x85R.",
    "bytes(b'x')": b"\x80\x02c__builtin__\nbytes\nU\x01x\x85R.",
    "__builtin__ needs protocol < 3": b"\x80\x03c__builtin__\nbytes\n)R.",
    "encode to utf-8": b"c_codecs\nencode\n(Vabc\nVutf-8\ntR.",
    "encode with one argument": b"\x80\x02c_codecs\nencode\nX\x01\x00\x00\x00a\x85R.",
    "code point above 255": b"c_codecs\nencode\n(V\\u0100\nVlatin1\ntR.",
    "encode of bytes": b"\x80\x02c_codecs\nencode\nU\x01aX\x06\x00\x00\x00latin1\x86R.",
    "REDUCE on bytes": b"C\x01a)R.",
    "GET": b"\x80\x02U\x01aq\x00h\x00.",
    "PUT on an empty stack": b"\x80\x02q\x00U\x01a.",
    "PUT after a mark": b"(q\x00C\x01at.",
    "PUT with a sign": b"U\x01ap+1\n.",
    "PROTO not first": b"C\x01a\x80\x02.",
    "protocol 6": b"\x80\x06C\x01a.",
    "unquoted STRING": b"Sabc\n.",
    "mismatched quotes": b"S'abc\"\n.",
    "unknown escape": b"S'\\q'\n.",
    "octal above 377": b"S'\\777'\n.",
    "short hex escape": b"S'\\x4'\n.",
    "lone backslash": b"S'abc\\'\n.",
    "negative BINSTRING": b"T\xff\xff\xff\xffabc.",
    "truncated \\u escape": b"c_codecs\nencode\n(V\\u00f\nVlatin1\ntR.",
    "\\U out of range": b"c_codecs\nencode\n(V\\U00110000\nVlatin1\ntR.",
    "invalid UTF-8": b"\x80\x02c_codecs\nencode\nX\x01\x00\x00\x00\xffX\x06\x00\x00\x00latin1\x86R.",
    "length beyond the data": b"\x80\x04\x8e\xff\xff\xff\xff\xff\xff\xff\x7f.",
    "frame beyond the data": b"\x80\x04\x95\xff\x00\x00\x00\x00\x00\x00\x00C\x01a.",
    "opcode straddles a frame": b"\x80\x04\x95\x02\x00\x00\x00\x00\x00\x00\x00C\x01a.",
    "frame inside a frame": b"\x80\x04\x95" + bytes([12] + [0] * 7) + b"\x95" + bytes(8) + b"C\x00.",
    "TUPLE without MARK": b"\x80\x02c__builtin__\nbytes\ntR.",
    "TUPLE2 with one item": b"\x80\x02c_codecs\nencode\nX\x00\x00\x00\x00\x86R.",
    "deep stack": b"((((((((((C\x00.",
}


@pytest.mark.parametrize("name", sorted(REJECTED))
def test_rejected_without_executing(name: str, tmp_path: Path) -> None:
    marker = tmp_path / "m"
    payload = REJECTED[name].replace(b"{marker}", str(marker)[-10:].encode().rjust(10, b"x"))
    with pytest.raises(KvBinError, match=r"^src: offset \d+: "):
        parse_pickled_bytes(payload, source="src")
    assert not marker.exists()


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_every_truncation_is_rejected(protocol: int) -> None:
    for sample in (b"", b"ab\n", bytes(range(256))):
        payload = pickle.dumps(sample, protocol=protocol)
        for cut in range(len(payload)):
            with pytest.raises(KvBinError):
                _parse(payload[:cut])


def _has_huge_memo_index(payload: bytes) -> bool:
    try:  # pickletools is stricter about STRING arguments than pickle; those cases have no huge index
        ops = list(pickletools.genops(payload))
    except UnicodeDecodeError:
        return False
    return any(op.name in ("PUT", "LONG_BINPUT") and int(arg) > 10**5 for op, arg, _ in ops)


def test_mutations_accepted_only_when_pickle_agrees() -> None:
    # Differential check: whatever the parser accepts, pickle.loads must load to the same bytes
    # (the accepted grammar names only _codecs.encode and bytes, so running pickle.loads is safe).
    rng = random.Random(1234)
    seeds = [pickle.dumps(s, protocol=p) for p in PROTOCOLS for s in (b"", b"ab\\\n'", bytes(range(10)))]
    seeds += PY2_PAYLOADS[:6] + OTHER_LEGAL_FORMS
    accepted = 0
    for _ in range(6000):
        data = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 3)):
            position = rng.randrange(len(data) + 1)
            action = rng.randrange(3)
            if action == 0 and data:
                data[min(position, len(data) - 1)] = rng.randrange(256)
            elif action == 1:
                data.insert(position, rng.randrange(256))
            elif data:
                del data[min(position, len(data) - 1)]
        try:
            result = _parse(bytes(data))
        except KvBinError:
            continue
        accepted += 1
        if not _has_huge_memo_index(bytes(data)):  # the C unpickler sizes its memo by the index
            assert pickle.loads(bytes(data), encoding="bytes") == result
    assert accepted > 200, accepted


# --- records -------------------------------------------------------------------------------------------


def test_record_layout_matches_the_format() -> None:
    image = bytes(range(200))
    for protocol in PROTOCOLS:
        value = pickle.dumps(image, protocol=protocol)
        expected = struct.pack("<I", 10) + b"\xc3\xa9_01.jpeg" + struct.pack("<I", len(value)) + value
        assert encode_kv_record("é_01.jpeg", image, protocol) == expected
        assert read_kv_record(expected, source="t") == ("é_01.jpeg", image)


def test_real_jpeg_round_trip(tmp_path: Path, small_dataset: Path) -> None:
    jpg = sorted((small_dataset / "images").glob("*.jpg"))[0]
    data = jpg.read_bytes()
    for protocol in PROTOCOLS:
        target = tmp_path / f"p{protocol}.bin"
        write_kv_file(target, jpg.name, data, protocol=protocol)
        assert read_kv_file(target) == (jpg.name, data)
        assert target.read_bytes()[4 + len(jpg.name) + 4 :] == pickle.dumps(data, protocol=protocol)


def test_every_record_truncation_is_rejected() -> None:
    record = encode_kv_record("a.jpg", b"\xff\xd8\xff" + bytes(40), protocol=2)
    for cut in range(len(record)):
        with pytest.raises(KvBinError, match=r"^rec: "):
            read_kv_record(record[:cut], source="rec")


def test_bytes_after_the_first_record_are_ignored() -> None:
    record = encode_kv_record("a.jpg", b"abc")
    assert read_kv_record(record + encode_kv_record("b.jpg", b"xyz"), source="t") == ("a.jpg", b"abc")


def test_record_header_errors(tmp_path: Path) -> None:
    with pytest.raises(KvBinError, match="wrong key len 5001"):
        read_kv_record(struct.pack("<I", MAX_KEY_LEN + 1) + bytes(6000), source="t")
    with pytest.raises(KvBinError, match=r"offset 5: key is not valid UTF-8"):
        read_kv_record(struct.pack("<I", 2) + b"a\xff" + encode_kv_record("", b"")[4:], source="t")
    bad = tmp_path / "bad.bin"
    bad.write_bytes(struct.pack("<I", 1) + b"k" + struct.pack("<I", 2**32 - 1) + b"C\x00.")
    message = "offset 9: truncated value: needs 4294967295 bytes, 3 left"
    with pytest.raises(KvBinError, match=rf"^{bad}: {message}"):
        read_kv_file(bad)
    bad.write_bytes(encode_kv_record("k", b"")[:-1] + b"\x00")
    with pytest.raises(KvBinError, match=rf"^{bad} \(pickled value at offset 9\): offset \d+: "):
        read_kv_file(bad)


def test_encode_checks_its_arguments() -> None:
    with pytest.raises(ValueError, match="at most 5000"):
        encode_kv_record("x" * 5001, b"")
    with pytest.raises(TypeError, match="bytes-like"):
        encode_kv_record("a", "not bytes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="protocol"):
        encode_kv_record("a", b"", protocol=9)
