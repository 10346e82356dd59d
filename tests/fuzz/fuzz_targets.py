"""atheris fuzz targets for faceid's parsers of untrusted files.

    python tests/fuzz/fuzz_targets.py TARGET [CORPUS_DIR] [libFuzzer flags, e.g. -runs=20000]

Targets: kvbin (C++ and Python kv .bin parsers, which must agree), jpeg (the native JPEG decode
entry), recordio (the RecordIO reader and record unpacking), unpickler (verification-set loading
through the restricted unpickler). Each writes a seed corpus of valid inputs into CORPUS_DIR when
that folder is empty. Only the documented error types may escape; anything else is a finding.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import atheris
import numpy as np

with atheris.instrument_imports():
    from faceid import _C
    from faceid.data import kvbin, recordio, verification_set
    from faceid.io import safe_pickle

# Where targets write their input files; the suite points this into its tmp_path.
_SCRATCH = Path(os.environ.get("FACEID_FUZZ_SCRATCH") or tempfile.mkdtemp(prefix="faceid-fuzz-"))


def _small_jpegs() -> list[bytes]:
    import cv2

    rng = np.random.default_rng(0)
    image = cv2.GaussianBlur(rng.integers(0, 256, (24, 16, 3), dtype=np.uint8), (3, 3), 0)
    params = [[], [cv2.IMWRITE_JPEG_PROGRESSIVE, 1], [cv2.IMWRITE_JPEG_SAMPLING_FACTOR, 0x111111]]
    jpegs = [cv2.imencode(".jpg", image, p)[1].tobytes() for p in params]
    jpegs.append(cv2.imencode(".jpg", image[:, :, 0])[1].tobytes())
    return jpegs


def _seeds(target: str) -> list[bytes]:
    jpeg = _small_jpegs()[0]
    if target == "kvbin":
        return [kvbin.encode_kv_record("a.jpg", jpeg[:64], protocol=p) for p in range(6)]
    if target == "jpeg":
        return _small_jpegs()
    if target == "recordio":
        rec, idx = _SCRATCH / "seed.rec", _SCRATCH / "seed.idx"
        with recordio.RecordIOWriter(rec, idx) as writer:
            writer.write(0, recordio.pack_record(recordio.IRHeader(2, (3.0, 4.0), 0, 0), b""))
            writer.write(1, recordio.pack_record(recordio.IRHeader(0, 1.0, 1, 0), jpeg[:40] + b"\x0a\x23\xd7\xce"))
            writer.write(2, recordio.pack_record(recordio.IRHeader(0, 2.0, 2, 0), jpeg[:10]))
        return [rec.read_bytes()]
    images = [jpeg[:30], jpeg[:20]]
    return [pickle.dumps((images, [True]), protocol=p) for p in (2, 4)] + [
        pickle.dumps(([np.frombuffer(i, np.uint8).reshape(-1, 1) for i in images], [False]), protocol=p)
        for p in (2, 3, 5)
    ]


def _kvbin(data: bytes) -> None:
    try:
        native = _C.parse_kv_record(data)
    except _C.DecodeError as exc:
        native = exc
    try:
        reference = kvbin.read_kv_record(data, source="fuzz")[1]
    except kvbin.KvBinError as exc:
        reference = exc
    if isinstance(native, Exception) != isinstance(reference, Exception):
        raise AssertionError(f"parsers disagree on {data!r}: native {native!r}, reference {reference!r}")
    if not isinstance(native, Exception) and native != reference:
        raise AssertionError(f"parsers return different bytes for {data!r}")


_JPEGS: list[bytes] = []


def _decode_checked(data: bytes) -> None:
    try:
        image = _C.decode_jpeg(data, 1 << 20)
    except _C.DecodeError:
        return
    if image.ndim != 3 or image.shape[2] != 3 or image.size > 3 << 20:
        raise AssertionError(f"bad decode result {image.shape}")


def _jpeg(data: bytes) -> None:
    """The raw input, and a valid JPEG damaged as the input says (the C++ side has no coverage
    feedback here, so mutating real JPEGs is what reaches deep into the decoder)."""
    _decode_checked(data)
    if not _JPEGS:
        _JPEGS.extend(_small_jpegs())
    fdp = atheris.FuzzedDataProvider(data)
    damaged = bytearray(_JPEGS[fdp.ConsumeIntInRange(0, len(_JPEGS) - 1)])
    if fdp.ConsumeBool():
        del damaged[fdp.ConsumeIntInRange(2, len(damaged)) :]
    while fdp.remaining_bytes() >= 3 and damaged:
        damaged[fdp.ConsumeIntInRange(0, len(damaged) - 1)] = fdp.ConsumeInt(1) & 0xFF
    _decode_checked(bytes(damaged))


def _recordio(data: bytes) -> None:
    rec = _SCRATCH / "input.rec"
    rec.write_bytes(data)
    try:
        with recordio.RecordIOReader(rec) as reader:
            for payload in reader:
                recordio.unpack_record(payload)
    except recordio.RecordIOError:
        pass


def _unpickler(data: bytes) -> None:
    path = _SCRATCH / "input_lfw.bin"
    path.write_bytes(data)
    with contextlib.suppress(safe_pickle.UnsafePickleError, ValueError):
        verification_set.load_verification_set(path)


TARGETS: dict[str, Callable[[bytes], None]] = {
    "kvbin": _kvbin,
    "jpeg": _jpeg,
    "recordio": _recordio,
    "unpickler": _unpickler,
}


def main() -> None:
    target = sys.argv[1]
    argv = [sys.argv[0], *sys.argv[2:]]
    corpus = next((Path(a) for a in argv[1:] if not a.startswith("-")), None)
    if corpus is not None:
        corpus.mkdir(parents=True, exist_ok=True)
        if not any(corpus.iterdir()):
            for i, seed in enumerate(_seeds(target)):
                (corpus / f"seed{i}").write_bytes(seed)
    atheris.Setup(argv, TARGETS[target])
    atheris.Fuzz()


if __name__ == "__main__":
    main()
