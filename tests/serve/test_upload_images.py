"""Upload checks: header dimensions equal the decoded ones; bombs, truncated files and non-images refused."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

from faceid.data.images import image_size
from faceid.serve.errors import ApiError
from faceid.serve.images import decode_upload

LIMITS = {"max_bytes": 10_000_000, "max_pixels": 40_000_000}


def test_header_size_matches_decoding(shared_data: Path, tmp_path: Path) -> None:
    cv2 = pytest.importorskip("cv2")
    paths = [*sorted((shared_data / "faces").glob("*.jpg")), *sorted((shared_data / "faces").glob("*.png"))]
    image = np.random.default_rng(1).integers(0, 256, size=(37, 53, 3), dtype=np.uint8)
    for suffix in (".bmp", ".png"):
        cv2.imwrite(str(tmp_path / f"odd{suffix}"), image)
        paths.append(tmp_path / f"odd{suffix}")
    ok, progressive = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])
    assert ok
    (tmp_path / "progressive.jpg").write_bytes(progressive.tobytes())
    paths.append(tmp_path / "progressive.jpg")
    assert len(paths) >= 10
    for path in paths:
        data = path.read_bytes()
        decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        assert image_size(data) == (decoded.shape[1], decoded.shape[0]), path
        out = decode_upload(data, path.name, **LIMITS)
        np.testing.assert_array_equal(out.bgr, decoded)


def _png(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0")) + chunk(b"IEND", b"")


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", "not_an_image"),
        (b"GIF89a....", "not_an_image"),
        (b"\xff\xd8\xff\xe0" + b"\0" * 30, "corrupt_image"),  # JPEG without a frame header
        (_png(100_000, 100_000), "too_large"),  # a decompression bomb: refused from its header
        (_png(6_400, 6_400), "too_large"),
        (_png(0, 10), "corrupt_image"),
        (b"x" * 2_000, "not_an_image"),
    ],
)
def test_refused_uploads(data: bytes, code: str) -> None:
    with pytest.raises(ApiError) as caught:
        decode_upload(data, "upload", **LIMITS)
    assert caught.value.code == code


def test_truncated_jpeg_and_byte_limit(shared_data: Path) -> None:
    data = (shared_data / "faces/obama_small.jpg").read_bytes()
    with pytest.raises(ApiError) as caught:
        decode_upload(data[: len(data) // 2], "half.jpg", **LIMITS)
    assert caught.value.code == "corrupt_image" and "truncated" in caught.value.message
    with pytest.raises(ApiError) as caught:
        decode_upload(data, "big.jpg", max_bytes=len(data) - 1, max_pixels=10**8)
    assert caught.value.code == "too_large" and caught.value.status == 413
