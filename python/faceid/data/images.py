"""Reading one training image in Python: the reference path and the slow path for non-JPEG files."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np


class CorruptImageError(ValueError):
    """An image (or kv .bin file) that cannot be read or decoded; ``path`` names it."""

    def __init__(self, path: str | os.PathLike[str], reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason


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


def decode_bgr(data: bytes, path: str | os.PathLike[str]) -> np.ndarray:
    """Decode with OpenCV into (H, W, 3) uint8 BGR, as the reference does (``cv2.imdecode``).

    OpenCV decodes a truncated JPEG silently; a JPEG without its end marker is reported here so
    that both paths agree that such a file is corrupt.
    """
    import cv2

    if sniff_format(data) is None:
        raise CorruptImageError(path, "not a JPEG, PNG or BMP image")
    if sniff_format(data) == "jpeg" and data.rfind(b"\xff\xd9") < 0:
        raise CorruptImageError(path, "corrupt JPEG: no end-of-image marker (truncated file?)")
    image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise CorruptImageError(path, "OpenCV could not decode the image")
    return image


def load_bgr(path: str | os.PathLike[str]) -> np.ndarray:
    """Read and decode one training image (plain file or kv .bin) into uint8 BGR."""
    return decode_bgr(read_image_bytes(path), path)
