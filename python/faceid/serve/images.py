"""Uploaded images: size limit, format sniffing, dimensions read from the header and the decoded-pixel limit
checked *before* decoding (a 100-byte PNG can claim 100k x 100k pixels), then OpenCV decoding to BGR."""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass

import numpy as np

from faceid.data.images import CorruptImageError, decode_bgr, sniff_format
from faceid.serve.errors import ApiError

__all__ = ["DecodedImage", "decode_upload", "image_size"]

_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


@dataclass(frozen=True)
class DecodedImage:
    """One upload: ``bgr`` (H, W, 3) uint8 BGR, its ``filename`` and the SHA-256 of its bytes."""

    bgr: np.ndarray
    filename: str
    sha256: str


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from the first start-of-frame marker, or None when no frame header is found."""
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if marker in _JPEG_SOF and pos + 9 <= len(data):
            height, width = struct.unpack(">HH", data[pos + 5 : pos + 9])
            return width, height
        pos += 2 + length
    return None


def image_size(data: bytes) -> tuple[int, int] | None:
    """``(width, height)`` that a JPEG, PNG or BMP header declares, without decoding; None when unreadable."""
    kind = sniff_format(data)
    if kind == "png" and len(data) >= 24 and data[12:16] == b"IHDR":
        return struct.unpack(">II", data[16:24])
    if kind == "bmp" and len(data) >= 26:
        width, height = struct.unpack("<ii", data[18:26])
        return abs(width), abs(height)
    if kind == "jpeg":
        return _jpeg_size(data)
    return None


def decode_upload(data: bytes, filename: str, *, max_bytes: int, max_pixels: int) -> DecodedImage:
    """Check and decode one uploaded image; :class:`ApiError` (``too_large``, ``not_an_image``,
    ``corrupt_image``) for anything that is not a decodable JPEG/PNG/BMP within the limits."""
    if len(data) > max_bytes:
        raise ApiError("too_large", f"{filename}: {len(data)} bytes, the limit is {max_bytes}")
    if not data:
        raise ApiError("not_an_image", f"{filename}: empty upload (0 bytes)")
    if sniff_format(data) is None:
        raise ApiError("not_an_image", f"{filename}: not a JPEG, PNG or BMP image")
    size = image_size(data)
    if size is None:
        raise ApiError("corrupt_image", f"{filename}: the image header cannot be read")
    width, height = size
    if width <= 0 or height <= 0:
        raise ApiError("corrupt_image", f"{filename}: the header declares {width}x{height} pixels")
    if width * height > max_pixels:
        raise ApiError(
            "too_large", f"{filename}: {width}x{height} = {width * height} pixels, the limit is {max_pixels}"
        )
    try:
        bgr = decode_bgr(data, filename)
    except CorruptImageError as error:
        raise ApiError("corrupt_image", f"{filename}: {error.reason}") from None
    if bgr.shape[:2] != (height, width):
        raise ApiError("corrupt_image", f"{filename}: decoded {bgr.shape[1]}x{bgr.shape[0]}, header {width}x{height}")
    return DecodedImage(bgr, filename, hashlib.sha256(data).hexdigest())
