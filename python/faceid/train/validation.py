"""Verification during training: rank 0 scores ``<data_dir>/<target>.bin`` every ``val_interval`` steps."""

from __future__ import annotations

import logging
import time

import numpy as np
import paddle

from faceid.eval.verification import (
    decode_verification_images,
    evaluate_verification_set,
    format_lines,
    load_val_targets,
    paddle_embed_fn,
)
from faceid.train.config import TrainConfig

__all__ = ["Validator"]

logger = logging.getLogger("faceid.train")


class Validator:
    """Holds the decoded verification sets and the best accuracy per target (Accuracy-Highest)."""

    def __init__(self, config: TrainConfig, rank: int, *, amp: bool = False) -> None:
        self.batch_size = config.val_batch_size or config.batch_size
        self.amp, self.amp_dtype = amp, config.amp_dtype
        self.highest: dict[str, float] = {}
        self.last: dict[str, float] = {}
        self.targets: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        if rank != 0 or not config.do_validation_while_train or config.synthetic:
            return
        for name, vset in load_val_targets(config.data_dir, config.val_targets).items():
            self.targets[name] = (decode_verification_images(vset), vset.issame)

    def run(self, model: paddle.nn.Layer, step: int) -> dict[str, float]:
        """Score every target with ``model``; logs Arcface-Paddle's lines and returns ``{target: accuracy}``."""
        if not self.targets:
            return {}
        started = time.perf_counter()
        embed = paddle_embed_fn(model)
        if self.amp:
            plain = embed

            def embed(batch: np.ndarray) -> np.ndarray:
                with paddle.amp.auto_cast(dtype=self.amp_dtype):
                    return plain(batch)

        results = {}
        for name, (images, issame) in self.targets.items():
            result = evaluate_verification_set(embed, images, issame, batch_size=self.batch_size)
            self.highest[name] = max(self.highest.get(name, 0.0), result.accuracy)
            for line in format_lines(name, step, result, self.highest[name]):
                logger.info(line)
            results[name] = result.accuracy
        logger.info("test time: %.4f", time.perf_counter() - started)
        self.last = results
        return results
