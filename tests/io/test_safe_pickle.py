"""Restricted unpickling: allowed data round-trips, everything else is rejected without running code."""

from __future__ import annotations

import _codecs
import os
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest

from faceid.io.safe_pickle import (
    BYTES_GLOBALS,
    RestrictedArray,
    UnsafePickleError,
    numpy_uint8_globals,
    restricted_loads,
)

ALLOWED = {**BYTES_GLOBALS, **numpy_uint8_globals()}
PROTOCOLS = range(pickle.HIGHEST_PROTOCOL + 1)


class _Reduces:
    """Pickles as ``func(*args)`` (plus an optional BUILD state): a way to craft hostile pickles."""

    def __init__(self, func: object, args: tuple, state: object = None) -> None:
        self.reduced = (func, args) if state is None else (func, args, state)

    def __reduce__(self) -> tuple:
        return self.reduced


def _touch_pickles(marker: Path) -> list[bytes]:
    command = f"touch {marker}"
    quoted = repr(command).encode()
    name = command.encode()
    return [
        b"cos\nsystem\n(S" + quoted + b"\ntR.",
        b"cposix\nsystem\n(V" + name + b"\ntR.",
        b"\x80\x04\x8c\x02os\x8c\x06system\x93\x8c" + bytes([len(name)]) + name + b"\x85R.",
        b"\x80\x04\x8c\x08builtins\x8c\x04eval\x93\x8c\x0f__import__('os')\x85R.",
        b"csubprocess\ncall\n((S'touch'\nS" + repr(str(marker)).encode() + b"\nltR.",
        b"c__builtin__\nopen\n(S" + repr(str(marker)).encode() + b"\nS'w'\ntR.",
        *(pickle.dumps(_Reduces(os.system, (command,)), protocol=p) for p in PROTOCOLS),
        *(pickle.dumps(_Reduces(open, (str(marker), "w")), protocol=p) for p in PROTOCOLS),
    ]


def test_live_payload_positive_control(tmp_path: Path) -> None:
    # The hostile pickles are real: plain pickle.loads on one of them does create the marker file.
    marker = tmp_path / "control"
    handle = pickle.loads(pickle.dumps(_Reduces(open, (str(marker), "w"))))
    handle.close()
    assert marker.exists()


def test_code_execution_pickles_are_rejected(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    for payload in _touch_pickles(marker):
        with pytest.raises(UnsafePickleError, match=r"^evil\.pkl: .*not allowed"):
            restricted_loads(payload, ALLOWED, source="evil.pkl")
    assert not marker.exists()


def test_persistent_ids_are_rejected() -> None:
    with pytest.raises(UnsafePickleError, match="persistent id"):
        restricted_loads(b"Pobject-1\n.", ALLOWED, source="p.pkl")
    with pytest.raises(UnsafePickleError, match="persistent id"):
        restricted_loads(b"\x80\x02K\x01Q.", ALLOWED, source="p.pkl")


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_bytes_round_trip(protocol: int) -> None:
    for value in (b"", b"abc", bytes(range(256)), os.urandom(5000), [b"a", b"\x00\xff"]):
        assert restricted_loads(pickle.dumps(value, protocol=protocol), ALLOWED, source="t") == value


def test_python2_str_loads_as_bytes() -> None:
    py2 = b"\x80\x02]q\x00(U\x03abcq\x01T\x02\x00\x00\x00\xff\x00q\x02S'x\\ny'\nq\x03e."
    assert restricted_loads(py2, ALLOWED, source="t") == [b"abc", b"\xff\x00", b"x\ny"]
    assert restricted_loads(py2, ALLOWED, source="t") == pickle.loads(py2, encoding="bytes")


def test_bytes_guards_accept_only_pickles_own_forms() -> None:
    hostile = [
        _Reduces(bytes, (10**10,)),  # would allocate 10 GB
        _Reduces(bytes, ("abc", "utf-8")),
        _Reduces(_codecs.encode, ("abc", "utf-16")),
        _Reduces(_codecs.encode, ("abc",)),
    ]
    for obj in hostile:
        for protocol in (0, 2, 4):
            with pytest.raises(UnsafePickleError, match=r"^t: (bytes|_codecs.encode) is allowed only as"):
                restricted_loads(pickle.dumps(obj, protocol=protocol), ALLOWED, source="t")
    with pytest.raises(UnsafePickleError, match="code point above 255"):
        restricted_loads(b"c_codecs\nencode\n(V\\u0100\nVlatin1\ntR.", ALLOWED, source="t")


def _arrays() -> list[np.ndarray]:
    base = np.arange(60, dtype=np.uint8).reshape(6, 10)
    return [
        base,
        base.T,
        base[:, ::3],
        np.zeros((0,), np.uint8),
        np.zeros((3, 0, 2), np.uint8),
        np.frombuffer(os.urandom(4000), np.uint8).reshape(4000, 1),
        np.array(7, dtype=np.uint8),
    ]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_uint8_arrays_round_trip(protocol: int) -> None:
    for array in _arrays():
        loaded = restricted_loads(pickle.dumps(array, protocol=protocol), ALLOWED, source="t")
        assert isinstance(loaded, RestrictedArray)
        assert loaded.dtype == np.uint8 and loaded.shape == array.shape
        np.testing.assert_array_equal(loaded, array)
        assert type(np.asarray(loaded)) is np.ndarray


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_other_dtypes_are_rejected(protocol: int) -> None:
    for array in (
        np.zeros(3),
        np.zeros(3, np.int64),
        np.array([b"a", 1], dtype=object),
        np.zeros(3, bool),
        np.zeros(3, ">u2"),
        np.zeros(3, [("a", "u1")]),
    ):
        with pytest.raises(UnsafePickleError, match=r"numpy\.dtype is allowed only"):
            restricted_loads(pickle.dumps(array, protocol=protocol), ALLOWED, source="t")


def test_bool_arrays_need_allow_bool() -> None:
    flags = np.array([True, False, True])
    allowed = {**BYTES_GLOBALS, **numpy_uint8_globals(allow_bool=True)}
    for protocol in PROTOCOLS:
        loaded = restricted_loads(pickle.dumps(flags, protocol=protocol), allowed, source="t")
        assert loaded.dtype == np.bool_
        np.testing.assert_array_equal(loaded, flags)


def _reconstruct() -> object:
    from numpy._core.multiarray import _reconstruct

    return _reconstruct


def test_reconstruct_with_a_huge_shape_is_rejected() -> None:
    huge = _Reduces(_reconstruct(), (np.ndarray, (10**12,), b"b"))
    with pytest.raises(UnsafePickleError, match=r"_reconstruct is allowed only as"):
        restricted_loads(pickle.dumps(huge, protocol=2), ALLOWED, source="t")
    state = (1, (10**12,), np.dtype("u1"), False, b"abc")
    shape_lies = _Reduces(_reconstruct(), (np.ndarray, (0,), b"b"), state)
    with pytest.raises(UnsafePickleError, match=r"does not match 3 data bytes"):
        restricted_loads(pickle.dumps(shape_lies, protocol=2), ALLOWED, source="t")


def test_ndarray_class_cannot_be_called() -> None:
    with pytest.raises(UnsafePickleError, match="not callable"):
        restricted_loads(pickle.dumps(_Reduces(np.ndarray, ((10**12,),)), protocol=4), ALLOWED, source="t")


def test_crafted_dtype_state_is_rejected() -> None:
    # numpy itself accepts this state and builds an inconsistent dtype (itemsize 1, sub-array of 10**6).
    state = (3, "|", (np.dtype("u1"), (10**6,)), None, None, -1, -1, 0)
    crafted = _Reduces(np.dtype, ("u1", False, True), state)
    with pytest.raises(UnsafePickleError, match="unexpected pickled state"):
        restricted_loads(pickle.dumps(crafted, protocol=2), ALLOWED, source="t")


def test_frombuffer_with_a_lying_shape_is_rejected() -> None:
    from numpy._core.numeric import _frombuffer

    lying = _Reduces(_frombuffer, (bytearray(b"abc"), np.dtype("u1"), (10**9,), "C"))
    with pytest.raises(UnsafePickleError, match="does not match 3 data bytes"):
        restricted_loads(pickle.dumps(lying, protocol=5), ALLOWED, source="t")


def test_declared_lengths_beyond_the_data_fail_before_allocating() -> None:
    for opcode, size in ((b"\x8e", 2**40), (b"\x8d", 2**40), (b"B", 2**31)):
        width = 8 if opcode in (b"\x8e", b"\x8d") else 4
        data = b"\x80\x04" + opcode + size.to_bytes(width, "little") + b"."
        with pytest.raises(UnsafePickleError, match=r"^big\.pkl: malformed pickle"):
            restricted_loads(data, ALLOWED, source="big.pkl")
    with pytest.raises(UnsafePickleError, match="malformed"):
        restricted_loads(b"\x80\x05\x95" + struct.pack("<Q", 2**40) + b"C\x00.", ALLOWED, source="t")


def test_every_truncation_is_an_unsafe_pickle_error() -> None:
    data = pickle.dumps([np.arange(10, dtype=np.uint8), b"abc"], protocol=2)
    for cut in range(len(data)):
        with pytest.raises(UnsafePickleError, match=r"^cut: "):
            restricted_loads(data[:cut], ALLOWED, source="cut")


def test_allowed_globals_cannot_be_mutated() -> None:
    allowed = {**BYTES_GLOBALS, **numpy_uint8_globals()}
    for target in (b"c_codecs\nencode\n", b"cbuiltins\nbytes\n", b"cnumpy\nndarray\n", b"cnumpy\ndtype\n"):
        for state in (b"}", b"(S'__call__'\nI1\nd", b"N}\x86"):
            with pytest.raises(UnsafePickleError, match="tries to set the state of"):
                restricted_loads(target + state + b"b.", allowed, source="t")


def test_huge_memo_indices_are_rejected_before_the_unpickler_grows_its_memo() -> None:
    # Plain pickle.loads zero-fills a memo table of 2 * index entries (about 2 GB here).
    for payload in (b"K\x01r\xff\xff\xff\x07.", b"K\x01p134217727\n.", b"K\x01p99999999999999999999999\n."):
        with pytest.raises(UnsafePickleError, match="memo index"):
            restricted_loads(payload, ALLOWED, source="t")
    assert restricted_loads(b"K\x01r\x03\x00\x00\x00.", ALLOWED, source="t") == 1
    assert restricted_loads(b"K\x01p3\n.", ALLOWED, source="t") == 1
