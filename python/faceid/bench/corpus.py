"""A benchmark corpus of 112x112 face JPEGs, ~5 KB each like MS1M, made from real faces.

Variants of the aligned faces in a source folder (random flip, crop, small rotation, brightness
and contrast jitter, noise, JPEG quality 70-90). Without a source folder the faces are
procedural (smooth shapes and noise), which decode at a similar speed.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from faceid.data.images import decode_bgr

logger = logging.getLogger(__name__)

SIZE = 112


def default_source() -> Path | None:
    """``<shared>/data`` (:func:`faceid.paths.shared_dir`), if present."""
    from faceid.paths import shared_dir

    shared = shared_dir()
    return shared / "data" if shared is not None and (shared / "data").is_dir() else None


def _source_faces(source: Path) -> list[np.ndarray]:
    """Aligned 112x112 faces (BGR) found under ``source``: image files and verification sets."""
    from faceid.data.verification_set import load_verification_set

    faces = []
    for path in sorted(source.rglob("*")):
        if path.suffix.lower() in (".jpg", ".jpeg", ".png"):
            image = decode_bgr(path.read_bytes(), path)
            if image.shape[:2] == (SIZE, SIZE):
                faces.append(image)
        elif path.suffix == ".bin" and "verification" in path.parts:
            faces.extend(decode_bgr(b, path) for b in load_verification_set(path).images)
    return faces


def _procedural_face(rng: np.random.Generator) -> np.ndarray:
    import cv2

    image = np.full((SIZE, SIZE, 3), rng.integers(40, 200, 3), dtype=np.uint8)
    skin = tuple(int(v) for v in rng.integers(90, 230, 3))
    cv2.ellipse(image, (56, 60), (int(rng.integers(30, 40)), int(rng.integers(40, 50))), 0, 0, 360, skin, -1)
    for x in (40, 72):
        cv2.circle(image, (x, 48), 5, (30, 30, 30), -1)
    cv2.ellipse(image, (56, 82), (14, 5), 0, 0, 180, (60, 40, 120), 2)
    noise = rng.normal(0, 8, image.shape)
    return cv2.GaussianBlur(np.clip(image + noise, 0, 255).astype(np.uint8), (3, 3), 0)


def _variant(face: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    import cv2

    angle = rng.uniform(-8, 8)
    scale = rng.uniform(1.0, 1.15)
    shift = rng.uniform(-4, 4, 2)
    matrix = cv2.getRotationMatrix2D((SIZE / 2, SIZE / 2), angle, scale)
    matrix[:, 2] += shift
    image = cv2.warpAffine(face, matrix, (SIZE, SIZE), borderMode=cv2.BORDER_REFLECT)
    if rng.random() < 0.5:
        image = image[:, ::-1]
    gain, bias = rng.uniform(0.8, 1.2), rng.uniform(-20, 20)
    noisy = image.astype(np.float32) * gain + bias + rng.normal(0, 3, image.shape)
    return np.clip(noisy, 0, 255).astype(np.uint8)


def make_corpus(
    out_dir: str | os.PathLike[str], count: int = 2000, source: str | os.PathLike[str] | None = None, seed: int = 0
) -> list[Path]:
    """Write ``count`` JPEGs into ``out_dir`` and return their paths (reuses a complete corpus)."""
    import cv2

    out_dir = Path(out_dir)
    paths = [out_dir / f"{i:06d}.jpg" for i in range(count)]
    if all(p.exists() for p in paths):
        return paths
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    faces = _source_faces(Path(source)) if source is not None else []
    if not faces:
        logger.info("no aligned 112x112 source faces: using procedural faces")
        faces = [_procedural_face(rng) for _ in range(32)]
    for path in paths:
        image = _variant(faces[int(rng.integers(len(faces)))], rng)
        quality = int(rng.integers(70, 91))
        ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
        if not ok:
            raise RuntimeError(f"OpenCV could not encode {path}")
        path.write_bytes(encoded.tobytes())
    return paths
