"""Restricted unpickling: a pickle may only name globals from an explicit allow-list.

``pickle.loads`` on an untrusted file runs whatever callable the file names. ``restricted_loads`` resolves
every global through a caller-supplied mapping instead, and the guarded callables below accept only the exact
arguments that ``pickle`` itself emits for ``bytes`` and for small-itemsize numpy arrays. Anything else raises
:class:`UnsafePickleError`, which is also raised (chained) for every other kind of malformed pickle.

Loading uses ``encoding="bytes"``: Python 2 ``str`` objects (e.g. insightface verification sets written by
Python 2) come back as ``bytes``.
"""

from __future__ import annotations

import io
import math
import pickle
import pickletools
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

__all__ = [
    "BYTES_GLOBALS",
    "RestrictedArray",
    "UnsafePickleError",
    "numpy_float32_globals",
    "numpy_uint8_globals",
    "restricted_loads",
]

AllowedGlobals = Mapping[tuple[str, str], Callable[..., Any]]

_MAX_NDIM = 32


class UnsafePickleError(ValueError):
    """A pickle names a global that is not allowed, passes unexpected arguments, or is malformed."""


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, data: bytes, allowed: AllowedGlobals, persistent: Callable[[Any], Any] | None) -> None:
        super().__init__(io.BytesIO(data), encoding="bytes")
        self._allowed = allowed
        self._persistent = persistent

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self._allowed[(module, name)]
        except KeyError:
            raise UnsafePickleError(
                f"pickle refers to {module}.{name}, which is not allowed in this file type"
            ) from None

    def persistent_load(self, pid: Any) -> Any:
        if self._persistent is None:
            raise UnsafePickleError("pickle uses a persistent id, which is not allowed")
        return self._persistent(pid)


def restricted_loads(
    data: bytes, allowed: AllowedGlobals, *, source: str, persistent_load: Callable[[Any], Any] | None = None
) -> object:
    """Unpickle ``data`` resolving globals only through ``allowed``; ``source`` names the data in errors.

    Before unpickling, every opcode is scanned so that no declared length exceeds the data (the C unpickler
    would otherwise allocate whatever a length field claims). Persistent ids are refused unless
    ``persistent_load`` (which must validate its argument) is given.
    """
    data = bytes(data)
    try:
        _check_opcodes(data)
        return _RestrictedUnpickler(data, allowed, persistent_load).load()
    except UnsafePickleError as exc:
        raise UnsafePickleError(f"{source}: {exc}") from exc
    except Exception as exc:
        raise UnsafePickleError(f"{source}: malformed pickle ({type(exc).__name__}: {exc})") from exc


_OPCODES = {op.code.encode("latin1")[0]: op for op in pickletools.opcodes}
# Arguments prefixed by their length: descriptor size code -> (bytes in the length field, signed).
_LENGTH_FIELDS = {
    pickletools.TAKEN_FROM_ARGUMENT1: (1, False),
    pickletools.TAKEN_FROM_ARGUMENT4: (4, True),
    pickletools.TAKEN_FROM_ARGUMENT4U: (4, False),
    pickletools.TAKEN_FROM_ARGUMENT8U: (8, False),
}


def _check_opcodes(data: bytes) -> None:
    """Walk the opcodes up to STOP, checking every declared length against the remaining data.

    The C unpickler allocates a bytes object of whatever size a length field claims before reading it;
    this walk (no decoding, no allocation) rejects such lies first.
    """
    pos = 0
    while pos < len(data):
        start, op = pos, _OPCODES.get(data[pos])
        if op is None:
            raise ValueError(f"unknown opcode {data[pos : pos + 1]!r} at offset {pos}")
        pos += 1
        if op.name == "STOP":
            return
        size_code = op.arg.n if op.arg is not None else 0
        if size_code in _LENGTH_FIELDS:
            width, signed = _LENGTH_FIELDS[size_code]
            size = int.from_bytes(data[pos : pos + width], "little", signed=signed)
            pos += width + max(size, 0)
        elif size_code == pickletools.UP_TO_NEWLINE:  # GLOBAL and INST take two lines
            for _ in range(2 if op.name in ("GLOBAL", "INST") else 1):
                newline = data.find(b"\n", pos)
                pos = newline + 1 if newline >= 0 else len(data) + 1
        else:
            pos += size_code
        if pos > len(data):
            raise ValueError(f"{op.name} at offset {start} runs past the end of the data")
        _check_size_argument(op.name, data[start + 1 : pos], len(data) - pos, start, len(data))
    raise ValueError("pickle ends without STOP")


def _check_size_argument(name: str, arg: bytes, remaining: int, start: int, total: int) -> None:
    """FRAME must fit the data; memo indices are bounded by the pickle size.

    The C unpickler grows (and zero-fills) its memo table to twice the largest PUT index, so an 8-byte
    pickle with ``LONG_BINPUT 0x07ffffff`` would touch 2 GB. Picklers number memo entries from 0, so a real
    index is always below the number of bytes in the pickle.
    """
    if name == "FRAME" and int.from_bytes(arg, "little") > remaining:
        raise ValueError(f"FRAME at offset {start} is longer than the remaining data")
    if name == "LONG_BINPUT" and int.from_bytes(arg, "little") > total:
        raise ValueError(f"LONG_BINPUT at offset {start} has memo index beyond the pickle size")
    if name == "PUT" and not (arg[:-1].isdigit() and len(arg) <= 20 and int(arg[:-1]) <= total):
        raise ValueError(f"PUT at offset {start} needs a decimal memo index below the pickle size")


# --- bytes --------------------------------------------------------------------------------------------


def _codecs_encode_guard(*args: Any) -> bytes:
    """``_codecs.encode(text, "latin1")``: how protocols 0-2 store bytes."""
    encoding = args[1] if len(args) == 2 and isinstance(args[1], str) else None
    if not isinstance(args[0] if args else None, str) or encoding not in ("latin1", "latin-1"):
        raise UnsafePickleError(f"_codecs.encode is allowed only as encode(str, 'latin1'), got {_describe(args)}")
    try:
        return args[0].encode("latin1")
    except UnicodeEncodeError as exc:
        raise UnsafePickleError(f"_codecs.encode: text has a code point above 255 ({exc})") from None


def _bytes_guard(*args: Any) -> bytes:
    """``bytes()`` (protocols 0-2 pickle ``b""`` this way) or ``bytes(b"...")``; never ``bytes(n)``."""
    if not args:
        return b""
    if len(args) == 1 and isinstance(args[0], bytes):
        return bytes(args[0])
    raise UnsafePickleError(f"bytes is allowed only as bytes() or bytes(b'...'), got {_describe(args)}")


class _Guard:
    """An allowed global as the pickle sees it: calls ``func``, and refuses BUILD (no state can be set)."""

    __slots__ = ("_func", "_name")

    def __init__(self, name: str, func: Callable[..., Any]) -> None:
        self._name = name
        self._func = func

    def __call__(self, *args: Any) -> Any:
        return self._func(*args)

    def __setstate__(self, state: Any) -> None:
        raise UnsafePickleError(f"pickle tries to set the state of {self._name}")

    def __repr__(self) -> str:
        return f"<guarded {self._name}>"


_BYTES_GUARD = _Guard("bytes", _bytes_guard)
BYTES_GLOBALS: Mapping[tuple[str, str], Callable[..., Any]] = {
    ("_codecs", "encode"): _Guard("_codecs.encode", _codecs_encode_guard),
    ("__builtin__", "bytes"): _BYTES_GUARD,
    ("builtins", "bytes"): _BYTES_GUARD,
}


def _describe(args: tuple[Any, ...]) -> str:
    """A short description of call arguments for error messages (never the full data)."""
    return "(" + ", ".join(_describe_one(a) for a in args) + ")"


def _describe_one(value: Any, depth: int = 0) -> str:
    if isinstance(value, (bool, float)) or (isinstance(value, int) and abs(value) < 10**18):
        return repr(value)
    if isinstance(value, str) and len(value) <= 40:
        return repr(value)
    if isinstance(value, tuple) and len(value) <= 8 and depth < 2:
        return "(" + "".join(_describe_one(item, depth + 1) + ", " for item in value) + ")"
    size = f", len={len(value)}" if isinstance(value, (str, bytes, bytearray, tuple, list)) else ""
    return f"<{type(value).__name__}{size}>"


# --- numpy arrays of one-byte items -------------------------------------------------------------------


class _NdarrayToken:
    """Stands in for ``numpy.ndarray`` in a pickle: usable as ``_reconstruct``'s argument, not callable."""

    __slots__ = ()

    def __setstate__(self, state: Any) -> None:
        raise UnsafePickleError("pickle tries to set the state of numpy.ndarray")

    def __repr__(self) -> str:
        return "<numpy.ndarray placeholder>"


_NDARRAY = _NdarrayToken()


class _DtypeToken:
    """Stands in for an allowed builtin numpy dtype; its BUILD state must be numpy's canonical one.

    A real ``numpy.dtype`` is never handed to the pickle: ``dtype.__setstate__`` accepts states (e.g. a huge
    sub-array shape) that produce inconsistent dtypes and out-of-bounds reads.
    """

    __slots__ = ("dtype",)

    def __init__(self, dtype: np.dtype) -> None:
        self.dtype = dtype

    def __setstate__(self, state: Any) -> None:
        if not _is_canonical_dtype_state(state, self.dtype):
            got = _describe_one(state)
            raise UnsafePickleError(f"dtype {self.dtype} has an unexpected pickled state {got}")

    def __repr__(self) -> str:
        return f"<dtype placeholder {self.dtype}>"


def _is_canonical_dtype_state(state: Any, dtype: np.dtype) -> bool:
    """numpy's state for a builtin dtype: ``(3, '|', None, None, None, -1, -1, 0)`` (``'<'`` if multi-byte)."""
    if not isinstance(state, tuple) or len(state) != 8:
        return False
    version, byteorder, subarray, names, fields, elsize, alignment, flags = state
    ints = (version, elsize, alignment, flags)
    if not all(type(value) is int for value in ints) or not isinstance(byteorder, (str, bytes)):
        return False
    order = ("|", b"|") if dtype.itemsize == 1 else ("<", b"<")
    return (
        version == 3
        and byteorder in order
        and subarray is None
        and names is None
        and fields is None
        and elsize in (-1, dtype.itemsize)
        and alignment in (-1, dtype.alignment)
        and flags == 0
    )


class RestrictedArray(np.ndarray):
    """An ndarray restored by :func:`restricted_loads`; ``numpy.asarray(x)`` gives a plain ndarray view.

    Its ``__setstate__`` validates the pickled state before numpy sees it.
    """

    def __setstate__(self, state: Any) -> None:
        if not isinstance(state, tuple) or len(state) not in (4, 5):
            raise UnsafePickleError(f"ndarray state must be a 4- or 5-tuple, got {type(state).__name__}")
        if len(state) == 5:
            if type(state[0]) is not int or state[0] != 1:
                raise UnsafePickleError(f"unsupported ndarray state version {_describe_one(state[0])}")
            state = state[1:]
        shape, dtype, is_fortran, raw = state
        shape = _checked_shape(shape)
        if not isinstance(dtype, _DtypeToken):
            got = type(dtype).__name__
            raise UnsafePickleError(f"ndarray dtype must come from an allowed numpy.dtype, got {got}")
        if not isinstance(is_fortran, (bool, int)) or is_fortran not in (0, 1):
            got = _describe_one(is_fortran)
            raise UnsafePickleError(f"ndarray is_fortran flag must be a bool, got {got}")
        if not isinstance(raw, bytes):
            raise UnsafePickleError(f"ndarray data must be bytes, got {type(raw).__name__}")
        _check_data(raw, shape, dtype.dtype, "ndarray")
        super().__setstate__((1, shape, dtype.dtype, bool(is_fortran), raw))


def _checked_shape(shape: Any) -> tuple[int, ...]:
    if not isinstance(shape, tuple) or len(shape) > _MAX_NDIM:
        got = _describe_one(shape)
        raise UnsafePickleError(f"array shape must be a tuple of at most {_MAX_NDIM} ints, got {got}")
    for dim in shape:
        if isinstance(dim, bool) or not isinstance(dim, int) or dim < 0:
            raise UnsafePickleError(f"array shape must hold non-negative ints, got {_describe_one(shape)}")
    return shape


def _reconstruct_guard(*args: Any) -> RestrictedArray:
    """``_reconstruct(ndarray, (0,), b'b')``: an empty array that the following BUILD fills in."""
    typecode = args[2] if len(args) == 3 and isinstance(args[2], (bytes, str)) else None
    if typecode not in (b"b", "b") or args[0] is not _NDARRAY or _checked_shape(args[1]) != (0,):
        raise UnsafePickleError(
            f"numpy _reconstruct is allowed only as _reconstruct(ndarray, (0,), b'b'), got {_describe(args)}"
        )
    return np.ndarray.__new__(RestrictedArray, (0,), np.uint8)


def _make_dtype_guard(allowed: Mapping[str, np.dtype]) -> Callable[..., _DtypeToken]:
    def dtype_guard(*args: Any) -> _DtypeToken:
        spec = args[0] if args else None
        if isinstance(spec, bytes):  # Python 2 pickles loaded with encoding="bytes"
            spec = spec.decode("ascii", "replace")
        flags_ok = all(isinstance(flag, (bool, int)) and flag in (0, 1) for flag in args[1:])
        if not 1 <= len(args) <= 3 or not isinstance(spec, str) or spec not in allowed or not flags_ok:
            got = _describe(args)
            raise UnsafePickleError(f"numpy.dtype is allowed only for {sorted(allowed)}, got {got}")
        return _DtypeToken(allowed[spec])

    return dtype_guard


def _check_data(raw: bytes | bytearray, shape: tuple[int, ...], dtype: np.dtype, what: str) -> None:
    if math.prod(shape) * dtype.itemsize != len(raw):
        raise UnsafePickleError(f"{what}: shape {shape} does not match {len(raw)} data bytes")
    if dtype == np.bool_ and raw.translate(None, b"\x00\x01"):
        raise UnsafePickleError(f"{what}: bool array holds bytes other than 0 and 1")


def _frombuffer_guard(*args: Any) -> RestrictedArray:
    """``_frombuffer(buf, dtype, shape, order)``: how protocol 5 pickles contiguous arrays."""
    if len(args) != 4 or not isinstance(args[0], (bytes, bytearray)) or not isinstance(args[1], _DtypeToken):
        raise UnsafePickleError(
            f"numpy _frombuffer is allowed only as _frombuffer(bytes, dtype, shape, order), got {_describe(args)}"
        )
    buf, dtype, shape, order = args
    shape = _checked_shape(shape)
    if not isinstance(order, str) or order not in ("C", "F"):
        raise UnsafePickleError(f"numpy _frombuffer order must be 'C' or 'F', got {_describe_one(order)}")
    _check_data(buf, shape, dtype.dtype, "numpy _frombuffer")
    array = np.frombuffer(bytearray(buf), dtype=dtype.dtype).reshape(shape, order=order)
    return array.view(RestrictedArray)


_UINT8_SPECS = ("u1", "|u1", "uint8", "B")
_BOOL_SPECS = ("b1", "|b1", "bool", "?")
_FLOAT32_SPECS = ("f4", "<f4", "float32")


def numpy_uint8_globals(*, allow_bool: bool = False) -> dict[tuple[str, str], Callable[..., Any]]:
    """Guarded numpy globals that restore uint8 arrays (and bool arrays if ``allow_bool``), nothing else.

    Covers numpy 1 (``numpy.core``) and numpy 2 (``numpy._core``) module names, the ``_reconstruct`` + BUILD
    form (protocols 0-4, non-contiguous arrays) and the ``_frombuffer`` form (protocol 5). ``numpy.ndarray``
    resolves to a non-callable placeholder, so a pickle can never call ``ndarray(shape)`` to allocate.
    Restored arrays are :class:`RestrictedArray` instances.
    """
    specs = {spec: np.dtype(np.uint8) for spec in _UINT8_SPECS}
    if allow_bool:
        specs.update({spec: np.dtype(np.bool_) for spec in _BOOL_SPECS})
    return _numpy_globals(specs)


def numpy_float32_globals() -> dict[tuple[str, str], Callable[..., Any]]:
    """Like :func:`numpy_uint8_globals`, for little-endian float32 arrays only (e.g. saved weights)."""
    return _numpy_globals({spec: np.dtype("<f4") for spec in _FLOAT32_SPECS})


def _numpy_globals(specs: dict[str, np.dtype]) -> dict[tuple[str, str], Callable[..., Any]]:
    reconstruct = _Guard("numpy _reconstruct", _reconstruct_guard)
    frombuffer = _Guard("numpy _frombuffer", _frombuffer_guard)
    table: dict[tuple[str, str], Callable[..., Any]] = {
        ("numpy", "ndarray"): _NDARRAY,  # type: ignore[dict-item]
        ("numpy", "dtype"): _Guard("numpy.dtype", _make_dtype_guard(specs)),
    }
    for core in ("numpy.core", "numpy._core"):
        table[(f"{core}.multiarray", "_reconstruct")] = reconstruct
        table[(f"{core}.numeric", "_frombuffer")] = frombuffer
    return table
