"""Reading one training image in Python: the reference path and the slow path for non-JPEG files."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from faceid.errors import InputError

# Pillow's limit for a decompression bomb: a header claiming more pixels is refused before decoding.
MAX_IMAGE_PIXELS = 178_956_970


class CorruptImageError(InputError):
    """An image (or kv .bin file) that cannot be read or decoded; ``path`` names it (a ``ValueError`` too)."""

    def __init__(self, path: str | os.PathLike[str], reason: str) -> None:
        super().__init__(reason, path)
        self.path = str(path)
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


_SIGNATURES = ((b"\xff\xd8\xff", "jpeg"), (b"\x89PNG\r\n\x1a\n", "png"), (b"BM", "bmp"))


def sniff_format(data: bytes) -> str | None:
    """'jpeg', 'png' or 'bmp' from the magic bytes, else None."""
    return next((kind for signature, kind in _SIGNATURES if data.startswith(signature)), None)


def read_image_bytes(path: str | os.PathLike[str]) -> bytes:
    """The encoded image held by ``path``: the file itself, or the payload of a kv ``.bin`` file."""
    from faceid.data.kvbin import KvBinError, read_kv_file

    try:
        if Path(path).suffix.lower() == ".bin":
            return read_kv_file(path)[1]
        return Path(path).read_bytes()
    except KvBinError as exc:
        raise CorruptImageError(path, str(exc)) from exc
    except OSError as exc:
        raise CorruptImageError(path, f"cannot read: {exc.strerror or exc}") from exc


_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _jpeg_segments(data: bytes) -> Iterator[tuple[int, int, int]]:
    """``(marker, start, end)`` of each header segment (``data[start:end]`` its payload after the length) up to the
    first frame header; stops at anything that is not a marker."""
    at = 2
    while at + 4 <= len(data):
        if data[at] != 0xFF:
            return
        marker = data[at + 1]
        if marker == 0xFF:  # fill byte
            at += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # markers without a length
            at += 2
            continue
        length = int.from_bytes(data[at + 2 : at + 4], "big")
        yield marker, at + 4, min(at + 2 + length, len(data))
        if marker in _JPEG_SOF:
            return
        at += 2 + length


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from the first start-of-frame marker, or None when no frame header is found."""
    for marker, start, end in _jpeg_segments(data):
        if marker in _JPEG_SOF and start + 5 <= end:
            height, width = (int.from_bytes(data[start + i : start + i + 2], "big") for i in (1, 3))
            return width, height
    return None


def jpeg_exif_orientation(data: bytes) -> int | None:
    """The EXIF orientation tag (1-8) of a JPEG's APP1 segment, or None when it has none (or it cannot be read)."""
    for marker, start, end in _jpeg_segments(data):
        if marker != 0xE1 or data[start : start + 6] != b"Exif\x00\x00":
            continue
        tiff = data[start + 6 : end]
        order = {b"II": "little", b"MM": "big"}.get(tiff[:2])
        if order is None or len(tiff) < 8:
            return None
        ifd = int.from_bytes(tiff[4:8], order)
        if ifd + 2 > len(tiff):
            return None
        for entry in range(ifd + 2, ifd + 2 + 12 * int.from_bytes(tiff[ifd : ifd + 2], order), 12):
            if entry + 12 <= len(tiff) and int.from_bytes(tiff[entry : entry + 2], order) == 0x0112:
                return int.from_bytes(tiff[entry + 8 : entry + 10], order)  # a SHORT, left-justified
        return None
    return None


def image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) that a JPEG, PNG or BMP header declares, without decoding; None when it cannot be read."""
    kind = sniff_format(data)
    if kind == "png" and len(data) >= 24 and data[12:16] == b"IHDR":
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    if kind == "bmp" and len(data) >= 26:
        width = int.from_bytes(data[18:22], "little", signed=True)
        height = int.from_bytes(data[22:26], "little", signed=True)
        return abs(width), abs(height)
    if kind == "jpeg":
        return _jpeg_size(data)
    return None


def decode_bgr(data: bytes, path: str | os.PathLike[str]) -> np.ndarray:
    """Decode with OpenCV into (H, W, 3) uint8 BGR, as the reference does (``cv2.imdecode``).

    OpenCV decodes a truncated JPEG silently; a JPEG without its end marker is reported here so
    that both paths agree that such a file is corrupt.
    """
    import cv2

    if not data:
        raise CorruptImageError(path, "empty file")
    if sniff_format(data) is None:
        raise CorruptImageError(path, "not a JPEG, PNG or BMP image")
    if sniff_format(data) == "jpeg" and data.rfind(b"\xff\xd9") < 0:
        raise CorruptImageError(path, "corrupt JPEG: no end-of-image marker (truncated file?)")
    size = image_size(data)
    if size is not None and size[0] * size[1] > MAX_IMAGE_PIXELS:
        raise CorruptImageError(
            path,
            f"{size[0]}x{size[1]} pixels is over the {MAX_IMAGE_PIXELS:,} pixel limit (decompression bomb?)",
        )
    image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise CorruptImageError(path, "OpenCV could not decode the image")
    return image


def load_bgr(path: str | os.PathLike[str]) -> np.ndarray:
    """Read and decode one training image (plain file or kv .bin) into uint8 BGR."""
    return decode_bgr(read_image_bytes(path), path)


def load_photo_bgr(path: str | os.PathLike[str]) -> np.ndarray:
    """Read a user's photo into uint8 BGR as :func:`load_bgr` does, but strictly (:func:`decode_photo_bgr`)."""
    return decode_photo_bgr(read_image_bytes(path), path)


def decode_photo_bgr(data: bytes, path: str | os.PathLike[str]) -> np.ndarray:
    """Decode a user's photo into uint8 BGR as :func:`decode_bgr` does (OpenCV, EXIF orientation applied), but
    strictly: a JPEG that libjpeg would only warn about (damaged data, decoded as garbage with a message on stderr)
    is refused by the native decoder first, so a damaged file is one clear error (naming ``path``); the native
    decode is the result unless EXIF asks for a rotation (decoded once, not twice)."""
    import cv2

    from faceid.ops.image import DecodeError, decode_jpeg

    if sniff_format(data) == "jpeg" and data.rfind(b"\xff\xd9") >= 0:
        size = image_size(data)
        if size is None or size[0] * size[1] <= MAX_IMAGE_PIXELS:
            try:
                rgb = decode_jpeg(data, MAX_IMAGE_PIXELS)  # bit-exact with OpenCV's decode (tested)
            except DecodeError as error:
                if "colour space" not in str(error):  # CMYK/YCCK: OpenCV reads those
                    raise CorruptImageError(path, str(error)) from None
            else:
                if jpeg_exif_orientation(data) in (None, 1):  # else OpenCV applies the rotation
                    return cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    return decode_bgr(data, path)
