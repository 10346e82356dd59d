"""Synthetic face-like identities: a training set and a verification set that a small CNN can learn on a CPU.

There is no MS1M here, so training code proves that it learns on procedurally drawn faces. Identity ``i`` of a
seed is a fixed parameter set (:class:`IdentityParams`): head shape (superellipse jaw, chin taper), skin tone,
a low-frequency skin texture field, moles and freckles, eye spacing/height/size/tilt and iris colour, brows
(length, angle, arch, thickness), nose length/width, mouth width/height/lips/resting curve, ears, hair style
(bald, buzz, short, fringe, side part, long, curly, receding) with colour, hairline and volume, beard, glasses.
Sample ``k`` of it draws a fresh nuisance from its own generator:

* pose: roll +-10 deg, scale +-8 %, shift +-4 px, yaw (inner features slide sideways by depth, the head
  narrows up to 9 %) and pitch (features slide vertically);
* expression: smile, open mouth (30 %), eye openness and blinks (6 %), brow raise, gaze;
* scene: background colours, gradient and clutter, clothes colour, an occluder (hand or object, 25 %),
  glasses off in 20 % of a wearer's samples;
* camera: side lighting (gain gradient up to +-40 %), contrast, brightness, colour cast, gamma, low
  resolution (15 %), blur (40 %) and Gaussian noise.

Images are 112x112 uint8 BGR, aligned roughly like insightface crops (eyes near y = 51, x = 38 and 73). The
same ``(seed, identity, k)`` gives the same pixels on every run, in any order, from any thread.

Difficulty, measured with seed 0 on 1000 verification pairs of unseen identities (500 genuine, 500 impostor),
accuracy at the best threshold chosen on the pairs themselves (optimistic for these no-learning baselines; see
:func:`faceid.eval.baseline.pixel_baseline_accuracy`):

* cosine of the raw [-1, 1] RGB pixels, 112x112: 0.714 (the 10-fold protocol gives the same, 0.714)
* cosine of 16x16 grayscale pixels: 0.700 (10-fold 0.689)

A throwaway CNN (8 depthwise-separable blocks, 64x64 input, 128-d, CosFace s=32 m=0.35, SGD) trained on 300
identities x 30 samples verifies 0.951 of those pairs after 200 steps of 128 and 0.963 after 300 (6 min on two
shared cores). Writing that set plus the 1000 pairs as kv ``.bin`` files takes about 32 s on two cores.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import cv2
import numpy as np

from faceid.data._face_painter import IMAGE_SIZE, IdentityParams, draw_identity, render
from faceid.data.kvbin import write_kv_file
from faceid.data.label_file import write_label_file
from faceid.data.verification_set import write_verification_set
from faceid.io.atomic import atomic_write_bytes

__all__ = [
    "IMAGE_SIZE",
    "VAL_IDENTITY_OFFSET",
    "IdentityParams",
    "SyntheticFaces",
    "encode_jpeg",
    "verification_pairs",
    "write_training_set",
]

logger = logging.getLogger(__name__)

_T = TypeVar("_T")

VAL_IDENTITY_OFFSET = 1_000_000  # verification identities start here, far above any training identity


class SyntheticFaces:
    """The generator: identity ``i`` of ``seed`` is fixed, its sample ``k`` is a fresh nuisance draw.

    Everything derives from ``(seed, i, k)`` through :class:`numpy.random.Generator` seeds, so any image can be
    rebuilt on its own. Methods are thread-safe.
    """

    def __init__(self, seed: int = 0) -> None:
        if seed < 0:
            raise ValueError(f"seed must be non-negative, got {seed}")
        self.seed = seed

    def identity(self, index: int) -> IdentityParams:
        """The fixed parameters of identity ``index`` (any non-negative int)."""
        if index < 0:
            raise ValueError(f"identity index must be non-negative, got {index}")
        return draw_identity(index, np.random.default_rng([self.seed, 0, index]))

    def sample_rng(self, identity_index: int, sample_index: int) -> np.random.Generator:
        """The generator :meth:`sample` hands to :meth:`render` for sample ``sample_index``."""
        if sample_index < 0:
            raise ValueError(f"sample index must be non-negative, got {sample_index}")
        return np.random.default_rng([self.seed, 1, identity_index, sample_index])

    @staticmethod
    def render(params: IdentityParams, rng: np.random.Generator) -> np.ndarray:
        """One image of ``params`` with a nuisance drawn from ``rng``: (112, 112, 3) uint8 BGR."""
        return render(params, rng)

    def sample(self, identity_index: int, sample_index: int) -> np.ndarray:
        """Image ``sample_index`` of identity ``identity_index``: (112, 112, 3) uint8 BGR."""
        return self.render(self.identity(identity_index), self.sample_rng(identity_index, sample_index))


def encode_jpeg(image: np.ndarray, quality: int = 95) -> bytes:
    """JPEG bytes of a uint8 BGR HWC image."""
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError(f"cv2.imencode failed for an image of shape {image.shape}")
    return data.tobytes()


def verification_pairs(
    num_pairs: int, *, seed: int = 0, identity_offset: int = VAL_IDENTITY_OFFSET
) -> list[tuple[int, int, int, int, bool]]:
    """``(identity_a, sample_a, identity_b, sample_b, same)`` for ``num_pairs`` pairs in a shuffled order.

    ``ceil(num_pairs / 2)`` pairs are genuine (samples 0 and 1 of identity ``identity_offset + k``), the rest
    impostors (sample 2 of two different identities from ``identity_offset .. identity_offset + num_pairs - 1``),
    so no image appears twice. The order is shuffled because the 10-fold protocol uses contiguous folds.
    """
    if num_pairs < 2:
        raise ValueError(f"a verification set needs at least 2 pairs (one of each kind), got {num_pairs}")
    if identity_offset < 0:
        raise ValueError(f"identity_offset must be non-negative, got {identity_offset}")
    rng = np.random.default_rng([seed, 2, identity_offset, num_pairs])
    genuine = (num_pairs + 1) // 2
    pairs = [(identity_offset + k, 0, identity_offset + k, 1, True) for k in range(genuine)]
    for _ in range(num_pairs - genuine):
        a, b = (identity_offset + int(i) for i in rng.choice(num_pairs, size=2, replace=False))
        pairs.append((a, 2, b, 2, False))
    return [pairs[i] for i in rng.permutation(num_pairs)]


def write_training_set(
    root: str | os.PathLike[str],
    *,
    num_identities: int,
    samples_per_identity: int,
    seed: int = 0,
    fmt: str = "bin",
    val_pairs: int = 0,
    val_name: str = "lfw",
    val_identity_offset: int | None = None,
    progress: bool = False,
    num_threads: int | None = None,
) -> dict[str, Any]:
    """Write an MS1M-style synthetic training set and, optionally, a verification set of unseen identities.

    Writes ``root/images/<identity>_<k>.bin`` (kv files holding JPEGs; ``fmt="jpg"``: plain ``.jpg`` files) and
    ``root/label.txt``, where identity ``i`` of ``SyntheticFaces(seed)`` has label ``i``. With ``val_pairs > 0``
    also ``root/<val_name>.bin``: :func:`verification_pairs` from identities ``val_identity_offset`` on (default
    :data:`VAL_IDENTITY_OFFSET`), which must lie above the training identities.

    Returns ``root``, ``label_file``, ``format``, ``num_identities``, ``num_images``, ``train_identities`` and
    ``val_identities`` (half-open ranges), ``val_file`` (None without pairs), ``val_pairs``, ``val_genuine`` and
    ``seconds``.
    """
    offset = VAL_IDENTITY_OFFSET if val_identity_offset is None else val_identity_offset
    _check_request(num_identities, samples_per_identity, fmt=fmt, val_pairs=val_pairs, val_name=val_name, offset=offset)
    started, root, generator = time.perf_counter(), Path(root), SyntheticFaces(seed)

    def write_identity(identity: int) -> list[tuple[str, int]]:
        params, entries = generator.identity(identity), []
        for k in range(samples_per_identity):
            data = encode_jpeg(generator.render(params, generator.sample_rng(identity, k)))
            stem = f"{identity:06d}_{k:03d}"
            if fmt == "bin":
                write_kv_file(root / "images" / f"{stem}.bin", f"{stem}.jpg", data)
            else:
                atomic_write_bytes(root / "images" / f"{stem}.jpg", data)
            entries.append((f"images/{stem}.{fmt}", identity))
        return entries

    summary: dict[str, Any] = {"val_file": None, "val_pairs": 0, "val_genuine": 0, "val_identities": (offset, offset)}
    with ThreadPoolExecutor(num_threads or min(8, os.cpu_count() or 1)) as pool:
        written = pool.map(write_identity, range(num_identities))
        written = _progress(written, num_identities, progress, "synthetic identities", "id")
        write_label_file(root / "label.txt", [entry for entries in written for entry in entries])
        if val_pairs:
            path = root / f"{val_name}.bin"
            summary = _write_verification(pool, generator, path, num_pairs=val_pairs, offset=offset, progress=progress)
    summary.update(root=str(root), label_file=str(root / "label.txt"), format=fmt, num_identities=num_identities)
    summary.update(num_images=num_identities * samples_per_identity, train_identities=(0, num_identities))
    summary["seconds"] = time.perf_counter() - started
    logger.info("wrote %d images of %d synthetic identities and %d verification pairs to %s in %.1f s",
                summary["num_images"], num_identities, val_pairs, root, summary["seconds"])  # fmt: skip
    return summary


def _check_request(identities: int, samples: int, *, fmt: str, val_pairs: int, val_name: str, offset: int) -> None:
    if fmt not in ("bin", "jpg"):
        raise ValueError(f"fmt must be 'bin' or 'jpg', got {fmt!r}")
    if identities <= 0 or samples <= 0:
        raise ValueError(f"need positive sizes, got {identities} identities x {samples} samples")
    if val_pairs < 0 or (val_pairs and (not val_name or any(c in val_name for c in "/\\\0"))):
        raise ValueError(f"need val_pairs >= 0 and a plain file stem for val_name, got {val_pairs}, {val_name!r}")
    if val_pairs and offset < identities:
        raise ValueError(f"val_identity_offset {offset} overlaps the training identities 0..{identities - 1}")


def _write_verification(
    pool: ThreadPoolExecutor, generator: SyntheticFaces, path: Path, *, num_pairs: int, offset: int, progress: bool
) -> dict[str, Any]:
    pairs = verification_pairs(num_pairs, seed=generator.seed, identity_offset=offset)

    def encode_pair(pair: tuple[int, int, int, int, bool]) -> tuple[bytes, bytes]:
        return encode_jpeg(generator.sample(pair[0], pair[1])), encode_jpeg(generator.sample(pair[2], pair[3]))

    encoded = _progress(pool.map(encode_pair, pairs), num_pairs, progress, "verification pairs", "pair")
    images = [image for both in encoded for image in both]
    issame = [pair[4] for pair in pairs]
    write_verification_set(path, images, issame)
    return {"val_file": str(path), "val_pairs": num_pairs, "val_genuine": sum(issame),
            "val_identities": (offset, offset + num_pairs)}  # fmt: skip


def _progress(items: Iterator[_T], total: int, enabled: bool, desc: str, unit: str) -> Iterator[_T]:
    if not enabled:
        return items
    from tqdm import tqdm

    return iter(tqdm(items, total=total, desc=desc, unit=unit))
