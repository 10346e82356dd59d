"""A full verification report per target: Arcface-Paddle's numbers plus TAR@FAR, the best cosine threshold, a ROC
curve image and a JSON file (what ``faceid eval`` writes)."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from faceid.eval.metrics import FAR_TARGET, VerificationResult
from faceid.eval.verification import EmbedFn, evaluate_verification_set
from faceid.io.atomic import atomic_write_bytes

__all__ = [
    "FARS",
    "TargetReport",
    "draw_roc",
    "evaluate_target",
    "far_is_measurable",
    "roc_curve",
    "tar_at_far",
    "write_report",
]

logger = logging.getLogger(__name__)

FARS = (1e-1, 1e-2, 1e-3, 1e-4)


def far_is_measurable(num_impostor_pairs: int, far: float) -> bool:
    """One rule for every rate reported at a false-accept rate (``tar_at_far`` and ``val_at_far_1e-3``): it is
    measured only when the set has at least ``1 / far`` impostor pairs, else reported as ``None``."""
    return num_impostor_pairs >= round(1 / far)


@dataclass
class TargetReport:
    """Everything measured on one verification set."""

    name: str
    result: VerificationResult
    issame: np.ndarray = field(repr=False)
    tar_at_far: dict[str, float | None] = field(default_factory=dict)

    @property
    def distances(self) -> np.ndarray:
        return self.result.distances

    def to_json(self) -> dict[str, Any]:
        r = self.result
        val_measurable = far_is_measurable(int((~self.issame).sum()), FAR_TARGET) and self.issame.any()
        return {
            "target": self.name,
            "num_pairs": int(r.num_pairs),
            "accuracy_flip_mean": float(r.accuracy),
            "accuracy_flip_std": float(r.accuracy_std),
            "xnorm": float(r.xnorm),
            "fold_accuracies": [float(a) for a in r.fold_accuracies],
            "best_threshold_distance": float(np.mean(r.thresholds)),
            "best_threshold_cosine": float(np.mean(r.cosine_thresholds)),
            "val_at_far_1e-3": float(r.val) if val_measurable else None,
            "tar_at_far": self.tar_at_far,
        }


def tar_at_far(distances: np.ndarray, issame: np.ndarray, fars: tuple[float, ...] = FARS) -> dict[str, float | None]:
    """True-accept rate at each false-accept rate over all pairs (``dist < thr`` accepts).

    The threshold is the largest one whose FAR does not exceed the target. A FAR needs at least ``1 / far``
    impostor pairs to be measured (:func:`far_is_measurable`); smaller sets give ``None`` for it.
    """
    distances, issame = np.asarray(distances, dtype=np.float64), np.asarray(issame, dtype=bool)
    impostor = np.sort(distances[~issame])
    genuine = distances[issame]
    out: dict[str, float | None] = {}
    for far in fars:
        key = f"{far:.0e}"
        if not far_is_measurable(len(impostor), far) or len(genuine) == 0:
            out[key] = None
            continue
        allowed = int(np.floor(far * len(impostor)))  # impostors that may fall below the threshold
        threshold = impostor[allowed]  # accepting dist < impostor[allowed] lets exactly `allowed` through
        out[key] = float(np.mean(genuine < threshold))
    return out


def roc_curve(distances: np.ndarray, issame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(FAR, TAR) at every distinct threshold, FAR increasing."""
    order = np.argsort(distances, kind="stable")
    same = np.asarray(issame, dtype=bool)[order]
    tar = np.concatenate([[0.0], np.cumsum(same) / max(same.sum(), 1)])
    far = np.concatenate([[0.0], np.cumsum(~same) / max((~same).sum(), 1)])
    return far, tar


def evaluate_target(
    name: str, embed_fn: EmbedFn, images_bgr: np.ndarray, issame: np.ndarray, *, batch_size: int, flip: bool = True
) -> TargetReport:
    """Embed (with the flip test) and score one set; any batch size works, also one larger than the set."""
    result = evaluate_verification_set(embed_fn, images_bgr, issame, batch_size=batch_size, flip=flip)
    return TargetReport(name, result, np.asarray(issame, dtype=bool), tar_at_far(result.distances, issame))


def draw_roc(report: TargetReport, size: int = 560) -> np.ndarray:
    """The ROC curve (log FAR 1e-4..1 vs TAR) as a BGR image."""
    import cv2

    image = np.full((size, size, 3), 255, np.uint8)
    left, top, right, bottom = 70, 40, size - 20, size - 60
    to_x = lambda far: left + (np.log10(np.clip(far, 1e-4, 1)) + 4) / 4 * (right - left)  # noqa: E731
    to_y = lambda tar: bottom - np.asarray(tar) * (bottom - top)  # noqa: E731
    font, grey = cv2.FONT_HERSHEY_SIMPLEX, (200, 200, 200)
    for exponent in range(-4, 1):
        x = int(to_x(10.0**exponent))
        cv2.line(image, (x, top), (x, bottom), grey, 1)
        cv2.putText(image, f"1e{exponent}", (x - 18, bottom + 20), font, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    for tenth in range(11):
        y = int(to_y(tenth / 10))
        cv2.line(image, (left, y), (right, y), grey, 1)
        cv2.putText(image, f"{tenth / 10:.1f}", (left - 40, y + 5), font, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    if report.issame.all() or not report.issame.any():
        missing = "impostor" if report.issame.all() else "genuine"
        message = f"no {missing} pairs: the ROC curve is undefined"
        cv2.putText(image, message, (left + 20, (top + bottom) // 2), font, 0.6, (0, 0, 200), 1, cv2.LINE_AA)
    far, tar = roc_curve(report.distances, report.issame)
    keep = far > 0
    points = np.stack([to_x(far[keep]), to_y(tar[keep])], axis=1).astype(np.int32)
    if len(points) > 1:
        cv2.polylines(image, [points], False, (200, 80, 0), 2, cv2.LINE_AA)
    cv2.rectangle(image, (left, top), (right, bottom), (0, 0, 0), 1)
    title = f"{report.name}: acc {report.result.accuracy:.4f} +- {report.result.accuracy_std:.4f}"
    cv2.putText(image, title, (left, 25), font, 0.55, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(image, "false accept rate", (size // 2 - 60, size - 20), font, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(image, "TAR", (left - 40, top - 12), font, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    return image


def write_report(report: TargetReport, directory: str | os.PathLike[str], extra: dict[str, Any] | None = None):
    """Write ``<directory>/<target>.json`` and ``<directory>/<target>_roc.png``; returns both paths."""
    import cv2

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    payload = {**report.to_json(), **(extra or {})}
    json_path, png_path = directory / f"{report.name}.json", directory / f"{report.name}_roc.png"
    atomic_write_bytes(json_path, (json.dumps(payload, indent=1) + "\n").encode())
    ok, png = cv2.imencode(".png", draw_roc(report))
    if not ok:
        raise RuntimeError(f"could not encode the ROC image for {report.name}")
    atomic_write_bytes(png_path, png.tobytes())
    return json_path, png_path
