"""Operations on embedding vectors that every layer shares (data, eval, gallery, pipeline): plain numpy."""

from __future__ import annotations

import numpy as np

__all__ = ["l2_normalize"]


def l2_normalize(x: np.ndarray) -> np.ndarray:
    """Each row (last axis) divided by its L2 norm; all-zero rows stay zero (as sklearn ``normalize``).

    Floating inputs keep their dtype; others are converted to float64.
    """
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float64)
    norms = np.sqrt(np.einsum("...i,...i->...", x, x))
    norms = np.where(norms == 0, 1, norms).astype(x.dtype, copy=False)
    return x / norms[..., None]
