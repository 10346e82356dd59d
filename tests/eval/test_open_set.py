"""Open-set identification metrics against a hand-checked example and a naive threshold sweep."""

from __future__ import annotations

import numpy as np
import pytest

from faceid.eval.open_set import det_curve, rank_k_rate, subject_scores, tpir_at_fpir

# probes x subjects (a, b): a1 right, b1 right, a2 wrong (b scores higher), x1 and x2 strangers
SCORES = np.array([[0.9, 0.2], [0.5, 0.6], [0.3, 0.4], [0.7, 0.1], [0.05, 0.1]])
SUBJECTS = ["a", "b"]
TRUTH = ["a", "b", "a", "x", "y"]


def test_hand_checked_example() -> None:
    assert rank_k_rate(SCORES, SUBJECTS, TRUTH, 1) == pytest.approx(2 / 3)
    assert rank_k_rate(SCORES, SUBJECTS, TRUTH, 5) == 1.0
    tpir, threshold = tpir_at_fpir(SCORES, SUBJECTS, TRUTH, 0.1)  # no stranger may pass: t just above 0.7
    assert tpir == pytest.approx(1 / 3) and 0.7 < threshold < 0.7 + 1e-6
    tpir, threshold = tpir_at_fpir(SCORES, SUBJECTS, TRUTH, 0.5)  # one of two may pass: t just above 0.1
    assert tpir == pytest.approx(2 / 3) and 0.1 < threshold < 0.1 + 1e-6
    assert tpir_at_fpir(SCORES, SUBJECTS, TRUTH, 1e-3, min_non_mated=1000) is None
    thresholds, fpir, fnir = det_curve(SCORES, SUBJECTS, TRUTH)
    assert list(thresholds) == [0.1, 0.4, 0.6, 0.7, 0.9]
    np.testing.assert_allclose(fpir, [1.0, 0.5, 0.5, 0.5, 0.0])
    np.testing.assert_allclose(fnir, [1 / 3, 1 / 3, 1 / 3, 2 / 3, 2 / 3])


def _naive(scores, subjects, truth, fpir):
    """Every candidate threshold (each score, and +inf), FPIR and TPIR counted probe by probe."""
    candidates = sorted({float(s) for s in scores.max(axis=1)} | {np.inf})
    for t in candidates:
        strangers = [max(row) >= t for row, name in zip(scores, truth, strict=False) if name not in subjects]
        if sum(strangers) / len(strangers) <= fpir:
            hits = [
                subjects[int(np.argmax(row))] == name and max(row) >= t
                for row, name in zip(scores, truth, strict=False)
                if name in subjects
            ]
            return sum(hits) / len(hits)
    raise AssertionError("unreachable")


def test_against_naive_sweeps_on_random_scores() -> None:
    rng = np.random.default_rng(0)
    for trial in range(20):
        gallery = rng.normal(size=(12, 8))
        gallery /= np.linalg.norm(gallery, axis=1, keepdims=True)
        labels = [f"s{i % 5}" for i in range(12)]
        probes = rng.normal(size=(40, 8))
        probes /= np.linalg.norm(probes, axis=1, keepdims=True)
        truth = [f"s{rng.integers(0, 8)}" for _ in range(40)]  # s5..s7 are strangers
        scores, subjects = subject_scores(probes, gallery, labels)
        for p in range(40):  # subject score = best face of that subject
            for s, name in enumerate(subjects):
                assert scores[p, s] == pytest.approx(
                    max(probes[p] @ g for g, n in zip(gallery, labels, strict=False) if n == name)
                )
        for k in (1, 2, 5):
            mated = [p for p in range(40) if truth[p] in subjects]
            naive = np.mean([truth[p] in [subjects[i] for i in np.argsort(-scores[p])[:k]] for p in mated])
            assert rank_k_rate(scores, subjects, truth, k) == pytest.approx(naive)
        for fpir in (0.1, 0.25, 0.5):
            tpir, _threshold = tpir_at_fpir(scores, subjects, truth, fpir)
            assert tpir == pytest.approx(_naive(scores, subjects, truth, fpir)), (trial, fpir)
