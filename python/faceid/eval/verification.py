"""Verification with a model: decode a set, embed it (with the flip test), score it, log it as Arcface-Paddle does.

``embed_fn`` is any callable taking a float32 (B, 3, 112, 112) RGB batch normalised to [-1, 1] and returning
(B, D) embeddings; :func:`paddle_embed_fn` builds one from a ``paddle.nn.Layer``. The protocol itself is in
:mod:`faceid.eval.metrics`.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from faceid.data.verification_set import VerificationSet, load_verification_set
from faceid.eval.metrics import VerificationResult, verification_metrics

if TYPE_CHECKING:
    import paddle

__all__ = [
    "IMAGE_SIZE",
    "EmbedFn",
    "VerificationTracker",
    "decode_verification_images",
    "embed_images",
    "evaluate_verification_set",
    "format_lines",
    "load_val_targets",
    "paddle_embed_fn",
]

logger = logging.getLogger(__name__)

IMAGE_SIZE = 112

EmbedFn = Callable[[np.ndarray], np.ndarray]
"""float32 (B, 3, H, W) RGB batch in [-1, 1] -> (B, D) embeddings."""


def decode_verification_images(vset: VerificationSet, *, image_size: int = IMAGE_SIZE) -> np.ndarray:
    """All images of ``vset`` decoded into one (2N, image_size, image_size, 3) uint8 **BGR** HWC array.

    Images of another size are resized with OpenCV (bilinear); one warning says how many were.
    """
    import cv2

    from faceid.data.images import decode_bgr

    out = np.empty((len(vset.images), image_size, image_size, 3), dtype=np.uint8)
    resized: list[tuple[int, tuple[int, ...]]] = []
    for index, data in enumerate(vset.images):
        image = decode_bgr(data, f"{vset.name}: image {index}")
        if image.shape[:2] != (image_size, image_size):
            resized.append((index, image.shape[:2]))
            image = cv2.resize(image, (image_size, image_size), interpolation=cv2.INTER_LINEAR)
        out[index] = image
    if resized:
        index, shape = resized[0]
        logger.warning(
            "%s: resized %d of %d images to %dx%d (first: image %d, %dx%d)",
            vset.name, len(resized), len(out), image_size, image_size, index, shape[0], shape[1],
        )  # fmt: skip
    return out


def embed_images(embed_fn: EmbedFn, images_bgr: np.ndarray, *, batch_size: int, flip: bool) -> np.ndarray:
    """Embed (N, H, W, 3) uint8 BGR images in batches of ``batch_size`` (the last one smaller): (N, D) float32.

    Each batch goes through :func:`faceid.ops.hwc_to_chw` (RGB, [-1, 1], mirrored when ``flip``); any batch size
    gives the same result, including one larger than ``N``.
    """
    from faceid.ops.image import hwc_to_chw

    images = np.asarray(images_bgr)
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8 or len(images) == 0:
        got = f"{images.dtype} {images.shape}"
        raise ValueError(f"images_bgr: expected a non-empty (N, H, W, 3) uint8 array, got {got}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size: expected a positive integer, got {batch_size!r}")
    out: np.ndarray | None = None
    for start in range(0, len(images), batch_size):
        chunk = images[start : start + batch_size]
        batch = hwc_to_chw(chunk, np.full(len(chunk), flip, dtype=bool), dtype=np.float32, src_is_bgr=True)
        embeddings = np.asarray(embed_fn(batch))
        if embeddings.ndim != 2 or embeddings.shape[0] != len(chunk):
            raise ValueError(f"embed_fn: expected ({len(chunk)}, D) embeddings, got shape {embeddings.shape}")
        if out is None:
            out = np.empty((len(images), embeddings.shape[1]), dtype=np.float32)
        elif embeddings.shape[1] != out.shape[1]:
            raise ValueError(f"embed_fn: embedding size changed from {out.shape[1]} to {embeddings.shape[1]}")
        out[start : start + len(chunk)] = embeddings
    assert out is not None
    return out


def paddle_embed_fn(model: paddle.nn.Layer) -> EmbedFn:
    """An ``embed_fn`` running ``model`` in eval mode under ``paddle.no_grad()`` on the device of its parameters.

    The train/eval mode of the model and of each sublayer is restored after every call.
    """
    import paddle

    def embed(batch: np.ndarray) -> np.ndarray:
        layers = model.sublayers(include_self=True)
        modes = [layer.training for layer in layers]
        params = model.parameters()
        place = params[0].place if params else None
        model.eval()
        try:
            with paddle.no_grad():
                output = model(paddle.to_tensor(batch, place=place))
            return np.asarray(output.numpy(), dtype=np.float32)
        finally:
            # train()/eval() also set Paddle's global tracer mode; then each sublayer gets its own flag back.
            model.train(bool(modes[0]))
            for layer, training in zip(layers, modes, strict=False):
                layer.training = training

    return embed


def evaluate_verification_set(
    embed_fn: EmbedFn,
    vset_or_images: VerificationSet | np.ndarray,
    issame: np.ndarray | None = None,
    *,
    batch_size: int,
    flip: bool = True,
    nfolds: int = 10,
) -> VerificationResult:
    """Decode (for a :class:`VerificationSet`), embed with and without flips, and run the protocol.

    ``vset_or_images`` is a verification set (``issame`` then comes from it and must be left ``None``) or a
    (2N, H, W, 3) uint8 BGR array with its (N,) ``issame``. ``flip=False`` skips the flip test.
    """
    started = time.perf_counter()
    if isinstance(vset_or_images, VerificationSet):
        if issame is not None:
            raise ValueError("issame: leave it None when passing a VerificationSet (its labels are used)")
        images, issame = decode_verification_images(vset_or_images), vset_or_images.issame
    elif issame is None:
        raise ValueError("issame: required when passing an image array")
    else:
        images = vset_or_images
    emb_orig = embed_images(embed_fn, images, batch_size=batch_size, flip=False)
    emb_flip = embed_images(embed_fn, images, batch_size=batch_size, flip=True) if flip else None
    result = verification_metrics(emb_orig, emb_flip, issame, nfolds=nfolds)
    logger.debug("verification of %d images took %.4f s", len(images), time.perf_counter() - started)
    return result


def format_lines(name: str, step: int, result: VerificationResult, highest: float) -> list[str]:
    """The three Arcface-Paddle log lines: XNorm, Accuracy-Flip mean+-std and Accuracy-Highest."""
    return [
        "[%s][%d]XNorm: %f" % (name, step, result.xnorm),  # noqa: UP031 (the reference's printf formats)
        "[%s][%d]Accuracy-Flip: %1.5f+-%1.5f" % (name, step, result.accuracy, result.accuracy_std),  # noqa: UP031
        "[%s][%d]Accuracy-Highest: %1.5f" % (name, step, highest),  # noqa: UP031
    ]


class VerificationTracker:
    """The running best Accuracy-Flip per target since creation (each starts at 0.0), and its log lines."""

    def __init__(self) -> None:
        self.highest: dict[str, float] = {}

    def update(self, name: str, step: int, result: VerificationResult) -> list[str]:
        """Record ``result`` for target ``name``, log the three lines at INFO and return them."""
        best = max(self.highest.get(name, 0.0), result.accuracy)
        self.highest[name] = best
        lines = format_lines(name, step, result, best)
        for line in lines:
            logger.info("%s", line)
        return lines


def load_val_targets(data_dir: str | os.PathLike[str], names: Iterable[str] | str) -> dict[str, VerificationSet]:
    """Load ``<data_dir>/<name>.bin`` for each target name (a list or a comma-separated string).

    Missing files are skipped with a warning naming each; a file that exists but is invalid raises.
    """
    if isinstance(names, str):
        names = [name.strip() for name in names.split(",") if name.strip()]
    targets: dict[str, VerificationSet] = {}
    for name in names:
        path = Path(data_dir) / f"{name}.bin"
        if not path.is_file():
            logger.warning("validation target %r skipped: %s not found", name, path)
            continue
        targets[name] = load_verification_set(path)
        logger.info("loaded validation target %r: %d pairs from %s", name, len(targets[name]), path)
    return targets
