"""Face alignment: a similarity transform onto the ArcFace 112x112 template, then one warp.

The transform is the closed-form least-squares similarity (Umeyama 1991) from the detected points to the
template. 5-point landmarks (eyes, nose, mouth corners) map onto the standard template; BlazeFace's 6 points
use the eyes, the nose tip and the mouth centre (onto the midpoint of the template's mouth corners); its ear
points are ignored.
"""

from __future__ import annotations

import numpy as np

__all__ = ["ARCFACE_TEMPLATE", "align", "alignment_matrix", "similarity_transform", "template_for"]

# insightface's reference points for a 112x112 crop: eye centres, nose tip, mouth corners (image left first).
ARCFACE_TEMPLATE = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    dtype=np.float64,
)


def template_for(keypoints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(source points, template points)`` used for a (5, 2) or BlazeFace (6, 2) keypoint array."""
    keypoints = np.asarray(keypoints, dtype=np.float64)
    if keypoints.shape == (5, 2):
        return keypoints, ARCFACE_TEMPLATE
    if keypoints.shape == (6, 2):
        mouth = ARCFACE_TEMPLATE[3:5].mean(axis=0)
        return keypoints[:4], np.vstack([ARCFACE_TEMPLATE[:3], mouth])
    raise ValueError(f"keypoints: expected (5, 2) landmarks or (6, 2) BlazeFace points, got {keypoints.shape}")


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The 2x3 matrix ``[sR | t]`` minimising ``sum |s R src_i + t - dst_i|^2`` (rotation, no reflection)."""
    src, dst = np.asarray(src, dtype=np.float64), np.asarray(dst, dtype=np.float64)
    if src.shape != dst.shape or src.ndim != 2 or src.shape[1] != 2 or len(src) < 2:
        raise ValueError(f"need two matching (K>=2, 2) point sets, got {src.shape} and {dst.shape}")
    mu_s, mu_d = src.mean(axis=0), dst.mean(axis=0)
    s0, d0 = src - mu_s, dst - mu_d
    var_s = (s0**2).sum() / len(src)
    if var_s < 1e-12:
        raise ValueError("source points coincide: no transform")
    u, sigma, vt = np.linalg.svd(d0.T @ s0 / len(src))
    sign = np.diag([1.0, np.sign(np.linalg.det(u) * np.linalg.det(vt)) or 1.0])
    rotation = u @ sign @ vt
    scale = float((sigma * np.diag(sign)).sum() / var_s)
    matrix = np.empty((2, 3))
    matrix[:, :2] = scale * rotation
    matrix[:, 2] = mu_d - scale * rotation @ mu_s
    return matrix


def alignment_matrix(keypoints: np.ndarray, size: int = 112) -> np.ndarray:
    """The 2x3 image -> ``size`` x ``size`` crop map that puts ``keypoints`` onto the template."""
    src, dst = template_for(keypoints)
    return similarity_transform(src, dst * (size / 112.0))


def align(image: np.ndarray, keypoints: np.ndarray, size: int = 112) -> np.ndarray:
    """The aligned ``size`` x ``size`` crop of ``image`` (uint8 HWC, any colour order, kept as it is).

    For the model's input, :meth:`faceid.Recognizer.embed_aligned` warps and normalises in one native pass
    instead (no uint8 crop in between)."""
    import cv2

    matrix = alignment_matrix(keypoints, size)
    return cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderValue=0.0)
