"""Evaluation: the face-verification protocol (``metrics``), running it with a model (``verification``) and the
no-learning pixel baseline (``baseline``).

Importing this package is cheap: OpenCV, Paddle and the native ops load only when a function needs them.
"""

from __future__ import annotations

from faceid.embeddings import l2_normalize  # re-exported: part of faceid.eval's public API before it moved
from faceid.eval.baseline import pixel_baseline_accuracy
from faceid.eval.metrics import (
    ACCURACY_THRESHOLDS,
    FAR_TARGET,
    VAL_THRESHOLDS,
    VerificationResult,
    accuracy_folds,
    best_threshold_accuracy,
    kfold_splits,
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
    "best_threshold_accuracy",
    "decode_verification_images",
    "embed_images",
    "evaluate_verification_set",
    "format_lines",
    "kfold_splits",
    "l2_normalize",
    "load_val_targets",
    "paddle_embed_fn",
    "pair_distances",
    "pixel_baseline_accuracy",
    "val_at_far",
    "verification_metrics",
]
