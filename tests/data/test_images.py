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


def _with_exif_orientation(jpeg: bytes, orientation: int, byte_order: str) -> bytes:
    """``jpeg`` with an APP1 Exif segment (IFD0: an unrelated tag, then Orientation) right after SOI, written by hand
    from the TIFF/EXIF layout."""
    order = "little" if byte_order == "II" else "big"

    def entry(tag: int, kind: int, value: int) -> bytes:  # SHORT values sit left-justified in the 4-byte field
        return tag.to_bytes(2, order) + kind.to_bytes(2, order) + (1).to_bytes(4, order) + value.to_bytes(2, order) * 2

    ifd = (2).to_bytes(2, order) + entry(0x0128, 3, 2) + entry(0x0112, 3, orientation) + bytes(4)
    tiff = byte_order.encode() + (42).to_bytes(2, order) + (8).to_bytes(4, order) + ifd
    payload = b"Exif\x00\x00" + tiff
    return jpeg[:2] + b"\xff\xe1" + (len(payload) + 2).to_bytes(2, "big") + payload + jpeg[2:]


@pytest.mark.parametrize("byte_order", ["II", "MM"])
@pytest.mark.parametrize("orientation", range(1, 9))
def test_photos_decode_as_opencv_does_with_every_exif_orientation(
    tmp_path: Path, orientation: int, byte_order: str
) -> None:
    """The strict reader's single native decode is used only when EXIF asks for no rotation; every orientation
    gives exactly OpenCV's pixels (OpenCV applies the tag)."""
    import cv2

    from faceid.data.images import jpeg_exif_orientation

    image = cv2.GaussianBlur(np.random.default_rng(2).integers(0, 255, (48, 80, 3), dtype=np.uint8), (5, 5), 0)
    jpeg = _with_exif_orientation(cv2.imencode(".jpg", image)[1].tobytes(), orientation, byte_order)
    assert jpeg_exif_orientation(jpeg) == orientation
    (tmp_path / "photo.jpg").write_bytes(jpeg)
    expected = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert expected.shape[:2] == ((48, 80) if orientation <= 4 else (80, 48))  # the tag really is read by OpenCV
    np.testing.assert_array_equal(load_photo_bgr(tmp_path / "photo.jpg"), expected)


def test_photos_without_exif_are_opencvs_pixels(shared_data: Path) -> None:
    import cv2

    from faceid.data.images import jpeg_exif_orientation

    photos = sorted((shared_data / "gallery_dev").rglob("*.jpg"))
    assert photos
    for path in photos:
        data = path.read_bytes()
        assert jpeg_exif_orientation(data) in (None, 1), path
        np.testing.assert_array_equal(load_photo_bgr(path), cv2.imdecode(np.frombuffer(data, np.uint8), 1), str(path))
