"""Header sizes and the decompression-bomb limit of faceid.data.images, against images OpenCV encoded."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from faceid.data.images import MAX_IMAGE_PIXELS, CorruptImageError, decode_bgr, image_size, load_photo_bgr
from faceid.errors import InputError


@pytest.mark.parametrize("suffix", [".jpg", ".png", ".bmp"])
@pytest.mark.parametrize(("height", "width"), [(1, 1), (37, 101), (480, 640)])
def test_image_size_reads_the_header(suffix: str, height: int, width: int) -> None:
    import cv2

    image = np.random.default_rng(0).integers(0, 255, (height, width, 3), dtype=np.uint8)
    ok, encoded = cv2.imencode(suffix, image)
    assert ok
    assert image_size(encoded.tobytes()) == (width, height)
    progressive = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])[1].tobytes()
    assert image_size(progressive) == (width, height)


def test_a_header_over_the_pixel_limit_is_refused_before_decoding() -> None:
    import cv2

    png = bytearray(cv2.imencode(".png", np.zeros((4, 4, 3), np.uint8))[1].tobytes())
    side = int(MAX_IMAGE_PIXELS**0.5) + 1
    png[16:24] = side.to_bytes(4, "big") * 2  # IHDR width, height (the CRC no longer matches: never read)
    with pytest.raises(CorruptImageError, match=f"{side}x{side} pixels is over") as info:
        decode_bgr(bytes(png), "bomb.png")
    assert isinstance(info.value, InputError) and isinstance(info.value, ValueError)
    assert info.value.path == "bomb.png" and str(info.value).startswith("bomb.png: ")


def test_load_photo_refuses_a_jpeg_that_libjpeg_only_warns_about(tmp_path: Path) -> None:
    import cv2

    image = np.random.default_rng(1).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    good = cv2.imencode(".jpg", image)[1].tobytes()
    (tmp_path / "good.jpg").write_bytes(good)
    np.testing.assert_array_equal(load_photo_bgr(tmp_path / "good.jpg"), cv2.imdecode(np.frombuffer(good, np.uint8), 1))
    damaged = bytearray(good)
    damaged[len(good) // 2 : len(good) // 2 + 40] = b"\xff\x00" * 20
    (tmp_path / "damaged.jpg").write_bytes(bytes(damaged))
    with pytest.raises(CorruptImageError, match="corrupt JPEG"):
        load_photo_bgr(tmp_path / "damaged.jpg")
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(CorruptImageError, match="empty file"):
        load_photo_bgr(tmp_path / "empty.jpg")
