"""Evaluation: the face-verification protocol (``metrics``) and running it with a model (``verification``).

Importing this package is cheap: OpenCV, Paddle and the native ops load only when a function needs them.
"""

from __future__ import annotations

from faceid.eval.metrics import (
    ACCURACY_THRESHOLDS,
    FAR_TARGET,
    VAL_THRESHOLDS,
    VerificationResult,
    accuracy_folds,
    kfold_splits,
    l2_normalize,
    pair_distances,
    val_at_far,
    verification_metrics,
)
from faceid.eval.verification import (
    IMAGE_SIZE,
    EmbedFn,
    VerificationTracker,
    decode_verification_images,
    embed_images,
    evaluate_verification_set,
    format_lines,
    load_val_targets,
    paddle_embed_fn,
)

__all__ = [
    "ACCURACY_THRESHOLDS",
    "FAR_TARGET",
    "IMAGE_SIZE",
    "VAL_THRESHOLDS",
    "EmbedFn",
    "VerificationResult",
    "VerificationTracker",
    "accuracy_folds",
    "decode_verification_images",
    "embed_images",
    "evaluate_verification_set",
    "format_lines",
    "kfold_splits",
    "l2_normalize",
    "load_val_targets",
    "paddle_embed_fn",
    "pair_distances",
    "val_at_far",
    "verification_metrics",
]
