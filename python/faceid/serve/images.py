"""Uploaded images: size limit, format sniffing, dimensions read from the header and the decoded-pixel limit
checked *before* decoding (a 100-byte PNG can claim 100k x 100k pixels), then OpenCV decoding to BGR."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from faceid.data.images import CorruptImageError, decode_bgr, image_size, sniff_format
from faceid.serve.errors import ApiError

__all__ = ["DecodedImage", "decode_upload"]


@dataclass(frozen=True)
class DecodedImage:
    """One upload: ``bgr`` (H, W, 3) uint8 BGR, its ``filename`` and the SHA-256 of its bytes."""

    bgr: np.ndarray
    filename: str
    sha256: str


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
