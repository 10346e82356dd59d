"""Enrolment quality: is a detected face good enough to represent a person in the gallery?

Three measurements, each with a documented bar (calibrated on ``../shared/data/gallery_dev``, see the tests):

- **size**: the short side of the detector's box in image pixels. Below :data:`MIN_FACE_PX` the 112x112 crop is
  an upscaled blur of a handful of pixels.
- **sharpness**: the variance of the Laplacian of the aligned 112x112 grayscale crop (Pech-Pacheco et al. 2000).
  The 17 faces of ``gallery_dev`` measure 247-5100 (840 and more for the frontal ones); a Gaussian blur of
  sigma 2 px brings every one of them to 21 or less. Bar: :data:`MIN_SHARPNESS` = 60.
- **yaw**: the horizontal offset of the nose tip from the midpoint of the eyes, divided by the eye distance
  (0 for a frontal face; 0.0-0.3 on the ``gallery_dev`` faces, 0.66 for the half-profile third face of
  ``obama_and_biden.jpg``, where the embedding is poor). Bar: :data:`MAX_YAW` = 0.45.
- **pitch**: the nose's position between the eye line (0) and the mouth (1), 0.42-0.61 on ``gallery_dev``;
  outside :data:`PITCH_RANGE` the head is tilted far up or down.

``quality`` is one number in [0, 1] (the smallest margin over the bars, 1 = twice the bar or better) stored with
each face.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "MAX_YAW",
    "MIN_FACE_PX",
    "MIN_SHARPNESS",
    "PITCH_RANGE",
    "Quality",
    "assess",
    "pose_ratios",
    "sharpness",
]

MIN_FACE_PX = 40.0
MIN_SHARPNESS = 60.0
MAX_YAW = 0.45
PITCH_RANGE = (0.15, 0.85)


@dataclass(frozen=True)
class Quality:
    """The measurements of one face and the verdict: ``problem`` is None when it passes, else a sentence."""

    face_px: float
    sharpness: float
    yaw: float
    pitch: float
    score: float
    problem: str | None


def sharpness(crop_bgr: np.ndarray) -> float:
    """Variance of the 3x3 Laplacian (4-neighbour) of a uint8 HWC BGR (or gray HW) crop, in gray levels^2."""
    gray = np.asarray(crop_bgr, dtype=np.float64)
    if gray.ndim == 3:
        gray = gray[..., 0] * 0.114 + gray[..., 1] * 0.587 + gray[..., 2] * 0.299
    lap = gray[:-2, 1:-1] + gray[2:, 1:-1] + gray[1:-1, :-2] + gray[1:-1, 2:] - 4.0 * gray[1:-1, 1:-1]
    return float(lap.var())


def pose_ratios(keypoints: np.ndarray) -> tuple[float, float]:
    """``(yaw, pitch)`` proxies from BlazeFace's keypoints (right eye, left eye, nose tip, mouth centre, ...):
    yaw = |nose - eye midpoint| along the eye line / eye distance; pitch = the nose's position from the eye line
    (0) to the mouth (1), measured perpendicular to the eye line."""
    points = np.asarray(keypoints, dtype=np.float64)
    right, left, nose, mouth = points[0], points[1], points[2], points[3]
    axis = left - right
    distance = float(np.hypot(*axis))
    if distance < 1e-6:
        return float("inf"), float("inf")
    unit = axis / distance
    normal = np.array([-unit[1], unit[0]])
    middle = (left + right) / 2
    yaw = abs(float((nose - middle) @ unit)) / distance
    depth = float((mouth - middle) @ normal)
    pitch = float((nose - middle) @ normal) / depth if abs(depth) > 1e-6 else float("inf")
    return yaw, pitch


def assess(box: np.ndarray, keypoints: np.ndarray, crop_bgr: np.ndarray) -> Quality:
    """Measure one face (``box`` xyxy and ``keypoints`` in image pixels, its aligned uint8 BGR crop) against the
    bars above."""
    x1, y1, x2, y2 = (float(v) for v in box)
    face_px = min(x2 - x1, y2 - y1)
    sharp = sharpness(crop_bgr)
    yaw, pitch = pose_ratios(keypoints)
    problem = None
    if face_px < MIN_FACE_PX:
        problem = f"face too small ({face_px:.0f} px, at least {MIN_FACE_PX:.0f} needed)"
    elif sharp < MIN_SHARPNESS:
        problem = f"face blurred (sharpness {sharp:.0f}, at least {MIN_SHARPNESS:.0f} needed)"
    elif yaw > MAX_YAW:
        problem = f"face turned too far sideways (yaw ratio {yaw:.2f}, at most {MAX_YAW} allowed)"
    elif not PITCH_RANGE[0] <= pitch <= PITCH_RANGE[1]:
        problem = f"head tilted too far up or down (pitch ratio {pitch:.2f}, {PITCH_RANGE} allowed)"
    margins = (
        face_px / (2 * MIN_FACE_PX),
        sharp / (2 * MIN_SHARPNESS),
        1.0 - yaw / (2 * MAX_YAW),
        1.0 - abs(pitch - 0.5) / 0.7 if np.isfinite(pitch) else 0.0,
    )
    score = float(np.clip(min(margins), 0.0, 1.0))
    return Quality(face_px, sharp, yaw, pitch, round(score, 4), problem)
