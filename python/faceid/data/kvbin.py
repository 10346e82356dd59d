"""The Arcface-Paddle per-image kv ``.bin`` format, read without unpickling.

A file holds records; only the first one matters::

    uint32 key_len (little-endian) | key (UTF-8 file name, key_len <= 5000) | uint32 value_len | value

``value`` is ``pickle.dumps(encoded_image_bytes)``. :func:`parse_pickled_bytes` is a small opcode-level parser
that accepts exactly the pickles that encode one ``bytes`` object, under protocols 0-5 and as Python 2 ``str``
(which means bytes here), and rejects everything else with :class:`KvBinError`. It is the reference
implementation for the native parser, so the grammar is spelled out here:

* ``PROTO n`` (n <= 5) only as the very first opcode; without it the protocol is 0.
* ``FRAME n`` anywhere outside a frame (or exactly where the previous frame ends); ``n`` must fit in the
  remaining bytes, and every opcode, argument included, must lie entirely inside the frame it starts in.
* Values: ``SHORT_BINBYTES``/``BINBYTES``/``BINBYTES8`` and the Python 2 strings ``STRING``/``BINSTRING``/
  ``SHORT_BINSTRING`` push bytes; ``SHORT_BINUNICODE``/``BINUNICODE``/``BINUNICODE8``/``UNICODE`` push text.
* ``GLOBAL`` or ``STACK_GLOBAL`` may name only ``_codecs.encode``, ``builtins.bytes`` and, when the protocol
  is below 3 (where ``pickle`` maps Python 2 names), ``__builtin__.bytes``.
* ``MARK``/``TUPLE``, ``TUPLE2`` and ``EMPTY_TUPLE`` build argument tuples; ``REDUCE`` then allows only
  ``_codecs.encode(text, 'latin1'|'latin-1')`` (every code point <= 255) and ``bytes()``.
* Memo opcodes ``PUT``/``BINPUT``/``LONG_BINPUT``/``MEMOIZE`` are checked and ignored (``GET`` is not needed
  by any pickler and is rejected). Like ``pickle``, they need an item above the last mark.
* ``STOP`` must leave exactly one bytes object and no mark, and must be the last byte: trailing bytes after
  ``STOP`` are rejected (``pickle.loads`` would ignore them, but in a length-prefixed value they mean
  corruption).

Where ``pickle`` is laxer, this parser is stricter: ``STRING`` escapes other than ``\\\\ \\' \\" \\n \\r \\t
\\a \\b \\f \\v \\xHH \\ooo`` and octal escapes above ``\\377`` are rejected (``codecs.escape_decode`` keeps
or truncates them with a DeprecationWarning), ``PUT`` takes only ASCII digits, and the stack never holds more
than 8 entries (no accepted pickle needs more than 4). No allocation is driven by a length field: every
length is checked against the remaining bytes before anything is sliced.
"""

from __future__ import annotations

import logging
import os
import pickle
import pickletools
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple, NoReturn

from faceid.io.atomic import atomic_write_bytes

__all__ = [
    "MAX_KEY_LEN",
    "KvBinError",
    "encode_kv_record",
    "parse_pickled_bytes",
    "read_kv_file",
    "read_kv_record",
    "write_kv_file",
]

logger = logging.getLogger(__name__)

MAX_KEY_LEN = 5000
_MAX_STACK = 8
_OPCODE_NAMES = {op.code.encode("latin1")[0]: op.name for op in pickletools.opcodes}
_SIMPLE_ESCAPES = {
    ord("\\"): 0x5C,
    ord("'"): 0x27,
    ord('"'): 0x22,
    ord("n"): 0x0A,
    ord("r"): 0x0D,
    ord("t"): 0x09,
    ord("a"): 0x07,
    ord("b"): 0x08,
    ord("f"): 0x0C,
    ord("v"): 0x0B,
}
_HEX_DIGITS = frozenset(b"0123456789abcdefABCDEF")


class KvBinError(ValueError):
    """A kv ``.bin`` record or its pickled value is malformed or not a plain bytes object."""


_COUNTED_BYTES = {ord("C"): 1, ord("B"): 4, 0x8E: 8, ord("U"): 1}  # opcode -> size of its length field
_COUNTED_TEXT = {0x8C: 1, ord("X"): 4, 0x8D: 8}
_MEMO_ARG_SIZE = {ord("q"): 1, ord("r"): 4, 0x94: 0}  # BINPUT, LONG_BINPUT, MEMOIZE


class _Item(NamedTuple):
    """A parser stack entry."""

    kind: str  # "mark", "bytes", "str", "global" (value "encode" or "bytes") or "tuple" (of _Item)
    value: Any


_MARK = _Item("mark", None)


class _BytesPickleParser:
    """A stack machine over the opcodes listed in the module docstring; see :func:`parse_pickled_bytes`."""

    def __init__(self, payload: bytes, source: str) -> None:
        self.data = payload
        self.source = source
        self.pos = 0
        self.frame_end: int | None = None
        self.proto = 0
        self.stack: list[_Item] = []
        self.handlers: dict[int, Callable[[int], None]] = {
            0x80: self._proto,
            0x95: self._frame,
            ord("T"): self._binstring,
            ord("S"): self._string,
            ord("V"): self._unicode,
            ord("c"): self._global,
            0x93: self._stack_global,
            ord("("): self._mark,
            ord("t"): self._tuple,
            0x86: self._tuple2,
            ord(")"): self._empty_tuple,
            ord("R"): self._reduce,
            ord("p"): self._put,
        }

    # --- driver -----------------------------------------------------------------------------------
    def parse(self) -> bytes:
        while True:
            at = self.pos
            op = self._opcode()
            if op == ord("."):
                return self._stop(at)
            if op in _COUNTED_BYTES:
                self._push(at, "bytes", self._counted(at, _COUNTED_BYTES[op]))
            elif op in _COUNTED_TEXT:
                self._push(at, "str", self._utf8(at, self._counted(at, _COUNTED_TEXT[op])))
            elif op in _MEMO_ARG_SIZE:
                self._memo(at, _MEMO_ARG_SIZE[op])
            elif op in self.handlers:
                self.handlers[op](at)
            else:
                name = _OPCODE_NAMES.get(op, "unknown opcode")
                self._fail(at, f"opcode {bytes([op])!r} ({name}) is not allowed in a pickled bytes object")

    def _fail(self, offset: int, message: str) -> NoReturn:
        raise KvBinError(f"{self.source}: offset {offset}: {message}")

    def _opcode(self) -> int:
        if self.frame_end is not None and self.pos == self.frame_end:
            self.frame_end = None
        if self.pos >= len(self.data):
            self._fail(self.pos, "pickle ends without STOP")
        return self._take(self.pos, 1)[0]

    def _take(self, at: int, size: int) -> bytes:
        """The next ``size`` bytes of the opcode that starts at ``at``; never reads past the frame or data."""
        limit = len(self.data) if self.frame_end is None else self.frame_end
        if size > limit - self.pos:
            where = "the data" if self.frame_end is None else f"the frame ending at offset {self.frame_end}"
            self._fail(at, f"opcode needs {size} bytes at offset {self.pos}, past the end of {where}")
        chunk = self.data[self.pos : self.pos + size]
        self.pos += size
        return chunk

    def _uint(self, at: int, size: int) -> int:
        return int.from_bytes(self._take(at, size), "little")

    def _counted(self, at: int, size_bytes: int) -> bytes:
        return self._take(at, self._uint(at, size_bytes))

    def _line(self, at: int) -> bytes:
        limit = len(self.data) if self.frame_end is None else self.frame_end
        end = self.data.find(b"\n", self.pos, limit)
        if end < 0:
            self._fail(at, "line argument has no terminating newline")
        return self._take(at, end + 1 - self.pos)[:-1]

    # --- stack ------------------------------------------------------------------------------------
    def _push_entry(self, at: int, entry: _Item) -> None:
        if len(self.stack) >= _MAX_STACK:
            self._fail(at, f"more than {_MAX_STACK} stack entries; not a pickled bytes object")
        self.stack.append(entry)

    def _push(self, at: int, kind: str, value: Any) -> None:
        self._push_entry(at, _Item(kind, value))

    def _pop(self, at: int, kind: str) -> Any:
        if not self.stack or self.stack[-1] is _MARK:
            self._fail(at, f"expected a {kind} on the stack, found {'a mark' if self.stack else 'nothing'}")
        item = self.stack.pop()
        if item.kind != kind:
            self._fail(at, f"expected a {kind} on the stack, found a {item.kind}")
        return item.value

    def _pop_to_mark(self, at: int) -> tuple[_Item, ...]:
        if _MARK not in self.stack:
            self._fail(at, "TUPLE without a preceding MARK")
        index = len(self.stack) - 1 - self.stack[::-1].index(_MARK)
        items = tuple(self.stack[index + 1 :])
        del self.stack[index:]
        return items

    # --- opcodes ----------------------------------------------------------------------------------
    def _proto(self, at: int) -> None:
        if at != 0:
            self._fail(at, "PROTO is allowed only as the first opcode")
        self.proto = self._uint(at, 1)
        if self.proto > pickle.HIGHEST_PROTOCOL:
            self._fail(at, f"unsupported pickle protocol {self.proto}")

    def _frame(self, at: int) -> None:
        if self.frame_end is not None:
            self._fail(at, f"FRAME starts before the current frame ends at offset {self.frame_end}")
        size = self._uint(at, 8)
        if size > len(self.data) - self.pos:
            self._fail(at, f"frame of {size} bytes exceeds the {len(self.data) - self.pos} bytes left")
        self.frame_end = self.pos + size

    def _binstring(self, at: int) -> None:
        size = int.from_bytes(self._take(at, 4), "little", signed=True)
        if size < 0:
            self._fail(at, f"BINSTRING has a negative length {size}")
        self._push(at, "bytes", self._take(at, size))

    def _string(self, at: int) -> None:
        line = self._line(at)
        if len(line) < 2 or line[0] != line[-1] or line[0] not in b"'\"":
            self._fail(at, "STRING argument must be quoted")
        self._push(at, "bytes", self._escape_decode(at, line[1:-1]))

    def _escape_decode(self, at: int, body: bytes) -> bytes:
        out = bytearray()
        i = 0
        while i < len(body):
            slash = body.find(b"\\", i)
            if slash < 0:
                out += body[i:]
                break
            out += body[i:slash]
            i = self._escape(at, body, slash, out)
        return bytes(out)

    def _escape(self, at: int, body: bytes, slash: int, out: bytearray) -> int:
        """Decode the escape at ``body[slash]`` into ``out``; return the index after it."""
        code = body[slash + 1] if slash + 1 < len(body) else None
        if code is None:
            self._fail(at, "STRING ends with a lone backslash")
        if code in _SIMPLE_ESCAPES:
            out.append(_SIMPLE_ESCAPES[code])
            return slash + 2
        if code == ord("x"):
            digits = body[slash + 2 : slash + 4]
            if len(digits) != 2 or not _HEX_DIGITS.issuperset(digits):
                self._fail(at, f"invalid \\x escape at string index {slash}")
            out.append(int(digits, 16))
            return slash + 4
        if ord("0") <= code <= ord("7"):
            end = slash + 2
            while end < min(slash + 4, len(body)) and ord("0") <= body[end] <= ord("7"):
                end += 1
            value = int(body[slash + 1 : end], 8)
            if value > 0o377:
                self._fail(at, f"octal escape above \\377 at string index {slash}")
            out.append(value)
            return end
        self._fail(at, f"unsupported escape \\{chr(code)} at string index {slash}")

    def _utf8(self, at: int, raw: bytes) -> str:
        try:
            return raw.decode("utf-8", "surrogatepass")
        except UnicodeDecodeError as exc:
            self._fail(at, f"text is not valid UTF-8 ({exc.reason} at byte {exc.start})")

    def _unicode(self, at: int) -> None:
        self._push(at, "str", self._raw_unicode_escape(at, self._line(at)))

    def _raw_unicode_escape(self, at: int, body: bytes) -> str:
        """``raw-unicode-escape`` decoding: bytes are code points, except ``\\uXXXX`` and ``\\UXXXXXXXX``."""
        parts: list[str] = []
        i = 0
        while i < len(body):
            slash = body.find(b"\\", i)
            if slash < 0 or slash + 1 == len(body):
                parts.append(body[i:].decode("latin1"))
                break
            parts.append(body[i:slash].decode("latin1"))
            code = body[slash + 1]
            if code not in b"uU":
                parts.append(body[slash : slash + 2].decode("latin1"))
                i = slash + 2
                continue
            width = 4 if code == ord("u") else 8
            digits = body[slash + 2 : slash + 2 + width]
            if len(digits) != width or not _HEX_DIGITS.issuperset(digits):
                self._fail(at, f"truncated \\{chr(code)} escape at text index {slash}")
            if int(digits, 16) > 0x10FFFF:
                self._fail(at, f"\\U escape out of range at text index {slash}")
            parts.append(chr(int(digits, 16)))
            i = slash + 2 + width
        return "".join(parts)

    def _global(self, at: int) -> None:
        module = self._line(at)
        name = self._line(at)
        self._push_global(at, module.decode("latin1"), name.decode("latin1"))

    def _stack_global(self, at: int) -> None:
        name = self._pop(at, "str")
        module = self._pop(at, "str")
        self._push_global(at, str(module), str(name))

    def _push_global(self, at: int, module: str, name: str) -> None:
        if (module, name) == ("_codecs", "encode"):
            self._push(at, "global", "encode")
        elif name == "bytes" and (module == "builtins" or (module == "__builtin__" and self.proto < 3)):
            self._push(at, "global", "bytes")
        else:
            self._fail(at, f"global {module[:60]!r}.{name[:60]!r} is not allowed (protocol {self.proto})")

    def _mark(self, at: int) -> None:
        self._push_entry(at, _MARK)

    def _empty_tuple(self, at: int) -> None:
        self._push(at, "tuple", ())

    def _tuple(self, at: int) -> None:
        self._push(at, "tuple", self._pop_to_mark(at))

    def _tuple2(self, at: int) -> None:
        if len(self.stack) < 2 or _MARK in self.stack[-2:]:
            self._fail(at, "TUPLE2 needs two items above the last mark")
        second = self.stack.pop()
        first = self.stack.pop()
        self._push(at, "tuple", (first, second))

    def _reduce(self, at: int) -> None:
        args = self._pop(at, "tuple")
        func = self._pop(at, "global")
        kinds = tuple(item.kind for item in args)
        if func == "bytes" and not args:
            self._push(at, "bytes", b"")
        elif func == "encode" and kinds == ("str", "str") and args[1].value in ("latin1", "latin-1"):
            self._push(at, "bytes", self._latin1(at, args[0].value))
        else:
            allowed = "bytes() and _codecs.encode(text, 'latin1')"
            self._fail(at, f"REDUCE allows only {allowed}, got {func}{kinds}")

    def _latin1(self, at: int, text: str) -> bytes:
        try:
            return text.encode("latin1")
        except UnicodeEncodeError as exc:
            self._fail(at, f"text has code point {ord(exc.object[exc.start]):#x} > 255 at index {exc.start}")

    def _put(self, at: int) -> None:
        digits = self._line(at)
        if not digits or not digits.isdigit() or len(digits) > 18:
            self._fail(at, "PUT needs a decimal memo index")
        self._memo(at, 0)

    def _memo(self, at: int, size: int) -> None:
        self._take(at, size)
        if not self.stack or self.stack[-1] is _MARK:
            self._fail(at, "memo opcode with no item above the last mark")

    def _stop(self, at: int) -> bytes:
        if len(self.stack) != 1 or self.stack[0].kind != "bytes":
            self._fail(at, f"STOP must leave exactly one bytes object, stack holds {self._describe_stack()}")
        if self.pos != len(self.data):
            self._fail(self.pos, f"{len(self.data) - self.pos} trailing bytes after STOP")
        return self.stack[0].value

    def _describe_stack(self) -> str:
        return "[" + ", ".join(item.kind for item in self.stack) + "]"


def parse_pickled_bytes(payload: bytes, *, source: str) -> bytes:
    """Return the bytes object that ``payload`` pickles, without unpickling; see the module docstring.

    Raises :class:`KvBinError` naming ``source``, the offset in ``payload`` and the problem.
    """
    return _BytesPickleParser(bytes(payload), source).parse()


# --- records ------------------------------------------------------------------------------------------


def _field(data: bytes, offset: int, size: int, what: str, source: str) -> bytes:
    if size > len(data) - offset:
        raise KvBinError(f"{source}: offset {offset}: truncated {what}: needs {size} bytes, {len(data) - offset} left")
    return data[offset : offset + size]


def read_kv_record(data: bytes, *, source: str) -> tuple[str, bytes]:
    """Parse the first kv record of ``data``: return ``(key, encoded image bytes)``.

    Bytes after the first record are ignored, as the reference reader does.
    """
    key_len = int.from_bytes(_field(data, 0, 4, "key length", source), "little")
    if key_len > MAX_KEY_LEN:
        raise KvBinError(f"{source}: offset 0: wrong key len {key_len} (at most {MAX_KEY_LEN})")
    raw_key = _field(data, 4, key_len, "key", source)
    try:
        key = raw_key.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise KvBinError(f"{source}: offset {4 + exc.start}: key is not valid UTF-8 ({exc.reason})") from None
    value_at = 4 + key_len + 4
    value_len = int.from_bytes(_field(data, value_at - 4, 4, "value length", source), "little")
    value = _field(data, value_at, value_len, "value", source)
    if len(data) > value_at + value_len:
        logger.debug("%s: ignoring %d bytes after the first record", source, len(data) - value_at - value_len)
    image = parse_pickled_bytes(value, source=f"{source} (pickled value at offset {value_at})")
    return key, image


def read_kv_file(path: str | os.PathLike[str]) -> tuple[str, bytes]:
    """Read ``(key, encoded image bytes)`` from a kv ``.bin`` file."""
    return read_kv_record(Path(path).read_bytes(), source=str(path))


def encode_kv_record(key: str, image_bytes: bytes, protocol: int = pickle.HIGHEST_PROTOCOL) -> bytes:
    """Encode one kv record: the key (UTF-8, at most 5000 bytes) and ``pickle.dumps(image_bytes)``."""
    raw_key = key.encode("utf-8")
    if len(raw_key) > MAX_KEY_LEN:
        raise ValueError(f"kv key {key[:40]!r}... is {len(raw_key)} bytes in UTF-8, at most {MAX_KEY_LEN}")
    if not isinstance(image_bytes, (bytes, bytearray, memoryview)):
        raise TypeError(f"image_bytes must be bytes-like, got {type(image_bytes).__name__}")
    if not -1 <= protocol <= pickle.HIGHEST_PROTOCOL:
        raise ValueError(f"pickle protocol must be in -1..{pickle.HIGHEST_PROTOCOL}, got {protocol}")
    value = pickle.dumps(bytes(image_bytes), protocol=protocol)
    if len(value) >= 2**32:
        raise ValueError(f"kv value for {key!r} is {len(value)} bytes; the format allows less than 4 GiB")
    size = len(raw_key).to_bytes(4, "little")
    return size + raw_key + len(value).to_bytes(4, "little") + value


def write_kv_file(
    path: str | os.PathLike[str], key: str, image_bytes: bytes, protocol: int = pickle.HIGHEST_PROTOCOL
) -> None:
    """Write one kv record to ``path`` atomically."""
    atomic_write_bytes(path, encode_kv_record(key, image_bytes, protocol))
