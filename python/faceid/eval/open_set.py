"""Open-set identification: how often a known person is named, and how often a stranger is taken for someone.

A probe is *mated* when its person is enrolled in the gallery, *non-mated* otherwise. Each probe is scored against
every subject (the best cosine over the subject's faces):

- rank-k identification rate: the mated probes whose own subject is among the k best-scoring subjects;
- FPIR(t): the non-mated probes whose best score is >= t (a stranger gets a name);
- FNIR(t): the mated probes whose best subject is not theirs or scores < t (TPIR = 1 - FNIR);
- TPIR at FPIR x: the threshold is the lowest one that keeps FPIR <= x (at most ``floor(x * N)`` of N non-mated
  probes pass it). With N non-mated probes FPIR moves in steps of 1/N: below 1/N the threshold simply rejects every
  stranger seen, so 1e-1 and 1e-2 are always reported and 1e-3 only from 1,000 non-mated probes.

A probe without a detected face scores -inf: a miss when mated, a correct rejection when not. The pure functions
take the score matrix; :func:`evaluate_open_set` runs detection, alignment and embedding over two photo folders.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from faceid.io.atomic import atomic_write_bytes

__all__ = [
    "OpenSetReport",
    "det_curve",
    "rank_k_rate",
    "subject_scores",
    "tpir_at_fpir",
    "write_open_set_report",
]

FPIRS = (1e-1, 1e-2, 1e-3)


def subject_scores(probes: np.ndarray, gallery: np.ndarray, labels: list[str]) -> tuple[np.ndarray, list[str]]:
    """(P, S) best cosine of each unit probe row against each subject's unit gallery rows; subjects sorted.
    A probe row of NaN (no face) scores -inf everywhere."""
    subjects = sorted(set(labels))
    codes = np.array([subjects.index(label) for label in labels])
    sims = np.nan_to_num(probes @ gallery.T, nan=-np.inf)
    scores = np.full((len(probes), len(subjects)), -np.inf, dtype=np.float64)
    for s in range(len(subjects)):
        scores[:, s] = sims[:, codes == s].max(axis=1)
    return scores, subjects


def _mated(subjects: list[str], truth: list[str]) -> tuple[np.ndarray, np.ndarray]:
    index = {name: i for i, name in enumerate(subjects)}
    target = np.array([index.get(name, -1) for name in truth])
    return target >= 0, target


def rank_k_rate(scores: np.ndarray, subjects: list[str], truth: list[str], k: int) -> float | None:
    """Share of mated probes whose subject is among the ``k`` best (ties count against); None without mated probes."""
    mated, target = _mated(subjects, truth)
    if not mated.any():
        return None
    own = scores[mated, target[mated]]
    better = (scores[mated] > own[:, None]).sum(axis=1)
    return float(np.mean((better < k) & np.isfinite(own)))


def _best(scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    best = scores.argmax(axis=1)
    return best, scores[np.arange(len(scores)), best]


def det_curve(scores: np.ndarray, subjects: list[str], truth: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(thresholds, fpir, fnir)`` at every distinct best score (ascending thresholds)."""
    mated, target = _mated(subjects, truth)
    best, top = _best(scores)
    thresholds = np.unique(top[np.isfinite(top)])
    hit = (best == target) & mated
    fpir = np.array([np.mean(top[~mated] >= t) if (~mated).any() else np.nan for t in thresholds])
    fnir = np.array([1 - np.mean(hit[mated] & (top[mated] >= t)) if mated.any() else np.nan for t in thresholds])
    return thresholds, fpir, fnir


def tpir_at_fpir(
    scores: np.ndarray, subjects: list[str], truth: list[str], fpir: float, *, min_non_mated: int = 1
) -> tuple[float, float] | None:
    """``(tpir, threshold)`` at the lowest threshold with FPIR <= ``fpir``; None with fewer than ``min_non_mated``
    non-mated probes (or no mated ones)."""
    mated, target = _mated(subjects, truth)
    strangers = int((~mated).sum())
    if not mated.any() or strangers < max(1, min_non_mated):
        return None
    best, top = _best(scores)
    allowed = int(np.floor(fpir * strangers + 1e-9))
    ranked = np.sort(top[~mated])[::-1]
    threshold = -np.inf if allowed >= strangers else float(np.nextafter(ranked[allowed], np.inf))
    tpir = float(np.mean((best[mated] == target[mated]) & (top[mated] >= threshold)))
    return tpir, threshold


@dataclass
class OpenSetReport:
    subjects: list[str]
    probe_names: list[str]
    scores: np.ndarray
    truth: list[str]
    undetected: list[str]

    def to_json(self) -> dict[str, Any]:
        mated, _ = _mated(self.subjects, self.truth)
        at = {
            f"{x:.0e}": tpir_at_fpir(self.scores, self.subjects, self.truth, x, min_non_mated=1000 if x < 1e-2 else 1)
            for x in FPIRS
        }
        return {
            "gallery_subjects": len(self.subjects),
            "mated_probes": int(mated.sum()),
            "non_mated_probes": int((~mated).sum()),
            "probes_without_face": self.undetected,
            "rank_1": rank_k_rate(self.scores, self.subjects, self.truth, 1),
            "rank_5": rank_k_rate(self.scores, self.subjects, self.truth, 5),
            "tpir_at_fpir": {key: None if value is None else value[0] for key, value in at.items()},
            "threshold_at_fpir": {key: None if value is None else value[1] for key, value in at.items()},
        }


def draw_det(report: OpenSetReport, size: int = 560) -> np.ndarray:
    """The DET curve (log FPIR vs log FNIR, 1e-3..1) as a BGR image."""
    import cv2

    image = np.full((size, size, 3), 255, np.uint8)
    left, top, right, bottom = 70, 40, size - 20, size - 60
    to_x = lambda v: left + (np.log10(np.clip(v, 1e-3, 1)) + 3) / 3 * (right - left)  # noqa: E731
    to_y = lambda v: bottom - (np.log10(np.clip(v, 1e-3, 1)) + 3) / 3 * (bottom - top)  # noqa: E731
    font, grey, black = cv2.FONT_HERSHEY_SIMPLEX, (200, 200, 200), (0, 0, 0)
    for exponent in range(-3, 1):
        x, y = int(to_x(10.0**exponent)), int(to_y(10.0**exponent))
        cv2.line(image, (x, top), (x, bottom), grey, 1)
        cv2.line(image, (left, y), (right, y), grey, 1)
        cv2.putText(image, f"1e{exponent}", (x - 18, bottom + 20), font, 0.45, black, 1, cv2.LINE_AA)
        cv2.putText(image, f"1e{exponent}", (left - 48, y + 5), font, 0.45, black, 1, cv2.LINE_AA)
    _, fpir, fnir = det_curve(report.scores, report.subjects, report.truth)
    if len(fpir) and np.isfinite(fpir).all() and np.isfinite(fnir).all():
        # a staircase: each threshold step moves FPIR then FNIR
        xs, ys = np.repeat(fpir, 2)[1:], np.repeat(fnir, 2)[:-1]
        points = np.stack([to_x(xs), to_y(ys)], axis=1).astype(np.int32)
        cv2.polylines(image, [points], False, (200, 80, 0), 2, cv2.LINE_AA)
    else:
        message = "needs mated and non-mated probes"
        cv2.putText(image, message, (left + 20, (top + bottom) // 2), font, 0.6, (0, 0, 200), 1, cv2.LINE_AA)
    cv2.rectangle(image, (left, top), (right, bottom), black, 1)
    summary = report.to_json()
    title = f"open-set DET: {summary['mated_probes']} mated, {summary['non_mated_probes']} non-mated probes"
    cv2.putText(image, title, (left, 25), font, 0.5, black, 1, cv2.LINE_AA)
    cv2.putText(image, "FPIR (strangers named)", (size // 2 - 90, size - 20), font, 0.5, black, 1, cv2.LINE_AA)
    cv2.putText(image, "FNIR", (left - 48, top - 12), font, 0.5, black, 1, cv2.LINE_AA)
    return image


def write_open_set_report(
    report: OpenSetReport, directory: str | os.PathLike[str], extra: dict[str, Any] | None = None
) -> tuple[Path, Path]:
    """``<directory>/open_set.json`` (the summary, per-probe best subject and score) and ``open_set_det.png``."""
    import cv2

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    best, top = _best(report.scores)
    probes = [
        {"probe": name, "truth": truth, "best": report.subjects[b], "score": None if not np.isfinite(s) else float(s)}
        for name, truth, b, s in zip(report.probe_names, report.truth, best, top, strict=False)
    ]
    payload = {**report.to_json(), **(extra or {}), "probes": probes}
    json_path, png_path = directory / "open_set.json", directory / "open_set_det.png"
    atomic_write_bytes(json_path, (json.dumps(payload, indent=1) + "\n").encode())
    ok, png = cv2.imencode(".png", draw_det(report))
    if not ok:
        raise RuntimeError("could not encode the DET image")
    atomic_write_bytes(png_path, png.tobytes())
    return json_path, png_path
