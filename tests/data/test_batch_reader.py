"""The native batch decoder equals the Python/OpenCV reference pixel for pixel, flips included."""

from __future__ import annotations

import pickle
import struct
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from faceid import _C
from faceid.data.batch_reader import NativeBatchReader, PythonBatchReader


def _kv_bin(key: str, payload: bytes, protocol: int) -> bytes:
    # Written by hand from the format, independent of faceid's writer.
    value = pickle.dumps(payload, protocol=protocol)
    encoded_key = key.encode()
    return struct.pack("<I", len(encoded_key)) + encoded_key + struct.pack("<I", len(value)) + value


@pytest.fixture(scope="module")
def face_files(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> list[Path]:
    """The 10 real faces as .jpg, as kv .bin (protocols 0..5), and as PNG (the slow path)."""
    out = tmp_path_factory.mktemp("faces")
    jpgs = sorted((shared_data / "train" / "small_dataset" / "images").glob("*.jpg"))
    files = list(jpgs)
    for i, jpg in enumerate(jpgs):
        data = jpg.read_bytes()
        binary = out / f"{jpg.stem}.bin"
        binary.write_bytes(_kv_bin(jpg.name, data, protocol=i % 6))
        png = out / f"{jpg.stem}.png"
        cv2.imwrite(str(png), cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR))
        files += [binary, png]
    return files


def _decode_all(reader, count: int, dtype: type, flips: np.ndarray) -> np.ndarray:
    out = np.full((count, 3, 112, 112), 7, dtype=dtype)
    failures = reader.submit(np.arange(count), flips, out).wait()
    assert failures == []
    return out


@pytest.mark.parametrize("dtype", [np.float32, np.float16, np.uint8])
@pytest.mark.parametrize("threads", [0, 1, 2])
def test_native_equals_python_reference(face_files: list[Path], dtype: type, threads: int) -> None:
    flips = np.random.default_rng(threads).integers(0, 2, len(face_files)).astype(np.uint8)
    assert 0 < flips.sum() < len(flips)
    native = _decode_all(NativeBatchReader(face_files, threads), len(face_files), dtype, flips)
    python = _decode_all(PythonBatchReader(face_files), len(face_files), dtype, flips)
    assert native.tobytes() == python.tobytes()


_LAYOUTS = {
    "420": cv2.IMWRITE_JPEG_SAMPLING_FACTOR_420,
    "422": cv2.IMWRITE_JPEG_SAMPLING_FACTOR_422,
    "444": cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444,
    "411": cv2.IMWRITE_JPEG_SAMPLING_FACTOR_411,
}


@pytest.mark.parametrize("layout", list(_LAYOUTS))
@pytest.mark.parametrize("size", [(112, 112), (37, 53)], ids=["112", "odd"])
def test_native_equals_reference_for_each_chroma_layout(tmp_path: Path, layout: str, size: tuple[int, int]) -> None:
    # The native decoder upsamples 4:2:0/4:2:2/4:4:4 chroma itself; OpenCV's libjpeg-turbo is the reference.
    rng = np.random.default_rng(len(layout) + size[1])
    paths = []
    for i in range(8):
        noise = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
        image = noise if i % 2 else cv2.GaussianBlur(noise, (7, 7), 2)
        params = [cv2.IMWRITE_JPEG_SAMPLING_FACTOR, _LAYOUTS[layout], cv2.IMWRITE_JPEG_QUALITY, 40 + 8 * i]
        params += [cv2.IMWRITE_JPEG_PROGRESSIVE, int(i % 3 == 0)]
        paths.append(tmp_path / f"{i}.jpg")
        paths[-1].write_bytes(cv2.imencode(".jpg", image, params)[1].tobytes())
    flips = np.arange(len(paths), dtype=np.uint8) % 2
    for dtype in (np.uint8, np.float32):
        outs = []
        for reader in (NativeBatchReader(paths, 1), PythonBatchReader(paths)):
            out = np.zeros((len(paths), 3, *size), dtype)
            assert reader.submit(np.arange(len(paths)), flips, out).wait() == []
            outs.append(out)
        assert outs[0].tobytes() == outs[1].tobytes()


def test_reference_path_is_the_arcface_transform(face_files: list[Path]) -> None:
    # Independent of both readers: cv2 BGR -> flip -> (x - 127.5) / 127.5 -> RGB -> CHW.
    path = face_files[0]
    bgr = cv2.imread(str(path))
    expected = ((bgr[:, ::-1].astype(np.float32) - 127.5) / 127.5)[:, :, ::-1].transpose(2, 0, 1)
    got = _decode_all(NativeBatchReader([path], 1), 1, np.float32, np.array([1], np.uint8))[0]
    np.testing.assert_array_equal(got, expected)


def test_kv_parsers_agree(face_files: list[Path]) -> None:
    from faceid.data.kvbin import read_kv_record

    for path in face_files:
        if path.suffix == ".bin":
            data = path.read_bytes()
            assert _C.parse_kv_record(data) == read_kv_record(data, source=str(path))[1]


def _broken_files(tmp_path: Path, good: Path) -> dict[str, Path]:
    data = good.read_bytes()
    files = {
        "truncated": tmp_path / "truncated.jpg",
        "garbage": tmp_path / "garbage.jpg",
        "missing": tmp_path / "missing.jpg",
        "wrong_size": tmp_path / "wrong_size.jpg",
        "bad_bin": tmp_path / "bad.bin",
    }
    files["truncated"].write_bytes(data[: len(data) // 2])
    files["garbage"].write_bytes(b"this is not an image" * 10)
    small = cv2.resize(cv2.imdecode(np.frombuffer(data, np.uint8), 1), (100, 120))
    files["wrong_size"].write_bytes(cv2.imencode(".jpg", small)[1].tobytes())
    files["bad_bin"].write_bytes(struct.pack("<I", 9999) + b"x" * 20)
    return files


@pytest.mark.parametrize("reader_class", [NativeBatchReader, PythonBatchReader])
def test_failures_name_the_file_and_the_problem(tmp_path: Path, face_files: list[Path], reader_class) -> None:
    broken = _broken_files(tmp_path, face_files[0])
    paths = [face_files[0], *broken.values()]
    reader = reader_class(paths)
    out = np.zeros((len(paths), 3, 112, 112), np.float32)
    failures = {Path(f.path).name: f for f in reader.submit(np.arange(len(paths)), np.zeros(len(paths)), out).wait()}
    assert set(failures) == {p.name for p in broken.values()}
    assert "expected 112x112" in failures["wrong_size.jpg"].reason
    assert "100x120" in failures["wrong_size.jpg"].reason
    assert "5000" in failures["bad.bin"].reason  # key length over the reference limit
    assert failures["truncated.jpg"].slot == 1 and failures["truncated.jpg"].index == 1
    assert str(broken["garbage"]) in str(failures["garbage.jpg"].error())


def test_submit_validates_arguments(face_files: list[Path]) -> None:
    reader = NativeBatchReader(face_files[:2], 1)
    out = np.zeros((2, 3, 112, 112), np.float32)
    with pytest.raises(ValueError, match=r"sample index 5 out of range \[0, 2\)"):
        reader.submit(np.array([0, 5]), np.zeros(2), out)
    with pytest.raises(ValueError, match=r"expected shape \(N, 3, H, W\), got \(2, 112, 112\)"):
        reader.submit(np.array([0, 1]), np.zeros(2), out[:, 0])
    with pytest.raises(ValueError, match="C-contiguous"):
        reader.submit(np.array([0, 1]), np.zeros(2), out[:, :, :, ::2])
    with pytest.raises(ValueError, match=r"expected at least 2 samples"):
        reader.submit(np.array([0, 1]), np.zeros(2), out[:1])
    with pytest.raises(ValueError, match="num_threads"):
        NativeBatchReader(face_files, -1)


def test_prefetched_batches_complete_in_order_of_submission(face_files: list[Path]) -> None:
    # One worker takes the items of the oldest queued batch first: when the last batch is done, so is every
    # batch before it (a pool that served the newest batch first would leave older ones queued).
    jpegs = [str(p) for p in face_files if p.suffix != ".png"]
    decoder = _C.BatchDecoder(jpegs, 1, (127.5,) * 3, (127.5,) * 3)
    outs = [np.zeros((len(jpegs), 3, 112, 112), np.float32) for _ in range(4)]
    flips = np.zeros(len(jpegs), np.uint8)
    pending = [decoder.submit(np.arange(len(jpegs)), flips, out) for out in outs]
    assert pending[-1].wait() == []
    assert [read.done() for read in pending] == [True, True, True, True]
    for read in pending:
        assert read.wait() == []
    for out in outs[1:]:
        assert out.tobytes() == outs[0].tobytes()


def test_native_failures_carry_a_decode_status(tmp_path: Path, face_files: list[Path]) -> None:
    png = next(p for p in face_files if p.suffix == ".png")
    garbage = tmp_path / "garbage.jpg"
    garbage.write_bytes(b"\xff\xd8\xff" + b"\x00" * 100)
    decoder = _C.BatchDecoder([str(face_files[0]), str(png), str(garbage)], 1, (127.5,) * 3, (127.5,) * 3)
    out = np.zeros((3, 3, 112, 112), np.float32)
    failures = decoder.submit(np.arange(3), np.zeros(3, np.uint8), out).wait()
    assert [(slot, status) for slot, status, _ in failures] == [
        (1, _C.DecodeStatus.NOT_JPEG),
        (2, _C.DecodeStatus.ERROR),
    ]
    assert int(_C.DecodeStatus.OK) == 0 and failures[1][2]  # an error says why


def test_an_exception_in_a_pool_item_surfaces_as_a_python_exception() -> None:
    # Without a catch-all in the worker loop this would end the process (std::terminate).
    for threads in (0, 1, 2):
        assert _C._debug_thread_pool(threads, 50, -1) == 50
        with pytest.raises(RuntimeError, match="item 7 failed on purpose"):
            _C._debug_thread_pool(threads, 50, 7)
    assert _C._debug_thread_pool(2, 10, -1) == 10  # the pool machinery still works


_TEARDOWN_SCRIPT = """
import sys, threading, time
import numpy as np
from faceid import _C

sys.setswitchinterval(100)  # the main thread gives up the GIL only where it releases it
decoder = _C.BatchDecoder([sys.argv[1]] * 100, 1, (127.5,) * 3, (127.5,) * 3)
out = np.zeros((100, 3, 112, 112), np.uint8)
pending = [decoder.submit(np.arange(100), np.zeros(100, np.uint8), out) for _ in range(30)]
ticks, stop = [0], threading.Event()

def tick():  # runs only while no other thread holds the GIL
    while not stop.is_set():
        ticks[0] += 1
        time.sleep(0.0005)

threading.Thread(target=tick).start()
while ticks[0] == 0:
    time.sleep(0.001)
queued = not pending[-1].done()
before = ticks[0]
del decoder  # finishes the queued batches before its worker stops
during = ticks[0] - before
stop.set()
print(queued, all(p.done() for p in pending), during > 0)
"""


def test_decoder_teardown_drains_its_queue_without_holding_the_gil(face_files: list[Path]) -> None:
    result = subprocess.run(
        [sys.executable, "-c", _TEARDOWN_SCRIPT, str(face_files[0])],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    # Work was still queued when the decoder went away, all of it was finished, and another Python thread ran
    # meanwhile (with the GIL held through the teardown it could not have).
    assert result.stdout.split() == ["True", "True", "True"]
