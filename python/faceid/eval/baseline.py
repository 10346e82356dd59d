"""What verification needs no learning for: raw-pixel cosine similarity at its best threshold."""

from __future__ import annotations

import numpy as np

from faceid.embeddings import l2_normalize
from faceid.eval.metrics import best_threshold_accuracy

__all__ = ["pixel_baseline_accuracy"]


def pixel_baseline_accuracy(
    first: np.ndarray, second: np.ndarray, issame: np.ndarray, *, size: int | None = None, gray: bool = False
) -> float:
    """Best-threshold verification accuracy of raw-pixel cosine similarity: what needs no learning.

    first, second: (N, H, W, 3) uint8 BGR; pair ``k`` is ``(first[k], second[k])``. Each image is optionally
    made grayscale and area-resized to ``size`` x ``size``, then scaled to [-1, 1] and flattened.
    """

    import cv2

    def features(images: np.ndarray) -> np.ndarray:
        rows = []
        for bgr in images:
            image = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY) if gray else bgr
            image = image if size is None else cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
            rows.append(image.astype(np.float32).ravel() / 127.5 - 1)
        return l2_normalize(np.stack(rows))

    return best_threshold_accuracy((features(first) * features(second)).sum(axis=1), issame)
