"""insightface verification sets (``lfw.bin``, ``cfp_fp.bin``, ``agedb_30.bin``, ...).

The file is a pickle of ``(bins, issame)``: ``2 * N`` encoded images and ``N`` booleans; images ``2k`` and
``2k + 1`` form pair ``k``. Images may be ``bytes``, Python 2 ``str`` (loaded as bytes) or uint8 numpy
arrays holding the encoded bytes (e.g. shape ``(L, 1)``). Loading never runs code from the file: only the
globals needed for bytes and uint8/bool arrays are resolved, through guarded callables.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from faceid.io.atomic import atomic_write_bytes
from faceid.io.safe_pickle import BYTES_GLOBALS, numpy_uint8_globals, restricted_loads

__all__ = ["VerificationSet", "load_verification_set", "write_verification_set"]

_ALLOWED_GLOBALS = {**BYTES_GLOBALS, **numpy_uint8_globals(allow_bool=True)}


@dataclass(frozen=True, eq=False)
class VerificationSet:
    """A loaded verification set: encoded images (pair ``k`` is images ``2k``, ``2k+1``) and pair labels."""

    name: str
    images: list[bytes] = field(repr=False)
    issame: np.ndarray = field(repr=False)

    def __len__(self) -> int:
        """The number of pairs."""
        return len(self.issame)

    def pair(self, index: int) -> tuple[bytes, bytes, bool]:
        """``(first image, second image, same person)`` for pair ``index``."""
        return self.images[2 * index], self.images[2 * index + 1], bool(self.issame[index])


def load_verification_set(path: str | os.PathLike[str]) -> VerificationSet:
    """Load and validate a verification set; ``ValueError`` (or a subclass) names the file on any problem."""
    path = Path(path)
    loaded = restricted_loads(path.read_bytes(), _ALLOWED_GLOBALS, source=str(path))
    if not isinstance(loaded, (tuple, list)) or len(loaded) != 2:
        raise ValueError(f"{path}: expected a pickled (bins, issame) pair, got {_kind(loaded)}")
    bins, issame = loaded
    if not isinstance(bins, list):
        raise ValueError(f"{path}: bins must be a list of encoded images, got {_kind(bins)}")
    images = [_image_bytes(item, index, path) for index, item in enumerate(bins)]
    flags = _issame_array(issame, path)
    if len(images) != 2 * len(flags):
        raise ValueError(f"{path}: {len(images)} images for {len(flags)} pairs (expected {2 * len(flags)})")
    return VerificationSet(name=path.stem, images=images, issame=flags)


def _kind(value: object) -> str:
    size = f" of length {len(value)}" if isinstance(value, (tuple, list)) else ""
    return f"{type(value).__name__}{size}"


def _image_bytes(item: object, index: int, path: Path) -> bytes:
    """One encoded image as bytes: from bytes/bytearray or a 1-D (or single row/column) uint8 array."""
    if isinstance(item, (bytes, bytearray)):
        data = bytes(item)
    elif isinstance(item, np.ndarray) and item.dtype == np.uint8 and _is_vector(item.shape):
        data = np.asarray(item).tobytes()
    else:
        shape = f" {item.dtype} {item.shape}" if isinstance(item, np.ndarray) else ""
        got = f"{type(item).__name__}{shape}"
        raise ValueError(f"{path}: image {index} must be bytes or a uint8 vector, got {got}")
    if not data:
        raise ValueError(f"{path}: image {index} is empty")
    return data


def _is_vector(shape: tuple[int, ...]) -> bool:
    return len(shape) == 1 or (len(shape) == 2 and 1 in shape)


def _issame_array(issame: object, path: Path) -> np.ndarray:
    """The pair labels as a bool array: a list of bools or 0/1 ints, or a 1-D numpy bool array."""
    if isinstance(issame, np.ndarray):
        if issame.dtype != np.bool_ or issame.ndim != 1:
            raise ValueError(f"{path}: issame array must be 1-D bool, got {issame.dtype} {issame.shape}")
        return np.array(issame, dtype=bool)
    if not isinstance(issame, list):
        raise ValueError(f"{path}: issame must be a list of bools, got {_kind(issame)}")
    for index, flag in enumerate(issame):
        if type(flag) not in (bool, int) or flag not in (0, 1):
            raise ValueError(f"{path}: issame[{index}] must be a bool (or 0/1), got {type(flag).__name__}")
    return np.array(issame, dtype=bool)


def write_verification_set(path: str | os.PathLike[str], images: Sequence[bytes], issame: Sequence[bool]) -> None:
    """Write ``(images, issame)`` as an insightface verification set (pickle protocol 4, bytes elements)."""
    image_list = [_checked_image(image, index) for index, image in enumerate(images)]
    flags = [_checked_flag(flag, index) for index, flag in enumerate(issame)]
    if len(image_list) != 2 * len(flags):
        expected = 2 * len(flags)
        raise ValueError(f"{path}: {len(image_list)} images for {len(flags)} pairs (expected {expected})")
    atomic_write_bytes(path, pickle.dumps((image_list, flags), protocol=4))


def _checked_image(image: object, index: int) -> bytes:
    if not isinstance(image, (bytes, bytearray)):
        raise TypeError(f"images[{index}] must be bytes, got {type(image).__name__}")
    if not image:
        raise ValueError(f"images[{index}] is empty")
    return bytes(image)


def _checked_flag(flag: object, index: int) -> bool:
    if not isinstance(flag, (bool, int, np.bool_)) or flag not in (0, 1):
        raise TypeError(f"issame[{index}] must be a bool, got {flag!r:.40}")
    return bool(flag)
