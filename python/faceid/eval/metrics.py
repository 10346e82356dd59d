"""The face-verification protocol of insightface / Arcface-Paddle, in plain numpy.

Given the raw embeddings of ``2N`` images (pair ``k`` is rows ``2k`` and ``2k + 1``), optionally with the
embeddings of the horizontally flipped images:

* **XNorm** is the mean L2 norm of the raw embeddings (originals and flips together);
* the embedding of an image is ``normalise(orig + flip)``; the pair distance is the squared L2 distance of
  the normalised embeddings, in ``[0, 4]``;
* **accuracy**: ``10`` contiguous folds (as sklearn ``KFold(shuffle=False)``); for each fold the threshold of
  ``arange(0, 4, 0.01)`` with the best accuracy on the other folds (the first maximum) is applied to the held-out
  fold, predicting "same" when ``distance < threshold``; reported as the mean and population std;
* **VAL@FAR=1e-3**: per fold, the threshold at which the training folds reach the target FAR, interpolated
  linearly on the grid ``arange(0, 4, 0.001)`` (``0`` if that FAR is never reached); VAL and FAR measured on the
  held-out fold.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass, field

import numpy as np

from faceid.embeddings import l2_normalize

__all__ = [
    "ACCURACY_THRESHOLDS",
    "FAR_TARGET",
    "VAL_THRESHOLDS",
    "VerificationResult",
    "accuracy_folds",
    "best_threshold_accuracy",
    "kfold_splits",
    "pair_distances",
    "val_at_far",
    "verification_metrics",
]

logger = logging.getLogger(__name__)

ACCURACY_THRESHOLDS: np.ndarray = np.arange(0, 4, 0.01)
VAL_THRESHOLDS: np.ndarray = np.arange(0, 4, 0.001)
FAR_TARGET = 1e-3


@dataclass(frozen=True, eq=False)
class VerificationResult:
    """The protocol's numbers for one verification set.

    ``thresholds`` are the per-fold squared-L2 distance thresholds chosen for accuracy (a pair is "same" when
    its distance is below); ``cosine_thresholds`` gives the same thresholds as cosine similarities;
    ``distances`` are the pair distances they were applied to.
    """

    xnorm: float
    accuracy: float
    accuracy_std: float
    fold_accuracies: np.ndarray = field(repr=False)
    thresholds: np.ndarray = field(repr=False)
    val: float
    val_std: float
    far: float
    num_pairs: int
    distances: np.ndarray | None = field(default=None, repr=False)  # per pair, the squared L2 distance used

    @property
    def cosine_thresholds(self) -> np.ndarray:
        """The per-fold thresholds as cosine similarities of unit vectors: ``cos = 1 - d / 2``."""
        return 1.0 - self.thresholds / 2.0


def best_threshold_accuracy(scores: np.ndarray, issame: np.ndarray) -> float:
    """Accuracy of ``score > t`` as the same-person prediction at the best ``t``, chosen on these very pairs."""
    scores, issame = np.asarray(scores, np.float64), np.asarray(issame, bool)
    if scores.shape != issame.shape or scores.ndim != 1 or not scores.size:
        raise ValueError(f"need matching non-empty 1-D scores and labels, got {scores.shape} and {issame.shape}")
    order = np.argsort(-scores, kind="stable")
    ranked, same = scores[order], issame[order]
    # Predicting "same" for the k best scores: the genuine pairs among them and the impostors after them are right.
    correct = np.r_[0, np.cumsum(same)] + (~same).sum() - np.r_[0, np.cumsum(~same)]
    splits = np.r_[True, ranked[:-1] > ranked[1:], True]  # where a threshold can separate k from k + 1
    return float(correct[splits].max() / len(ranked))


def pair_distances(embeddings: np.ndarray) -> np.ndarray:
    """Squared L2 distance between rows ``2k`` and ``2k + 1`` of a (2N, D) array: (N,) float."""
    diff = embeddings[0::2] - embeddings[1::2]
    return np.sum(np.square(diff), axis=1)


def kfold_splits(num_items: int, nfolds: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """``(train, test)`` index arrays of contiguous folds, as sklearn ``KFold(nfolds, shuffle=False)``.

    The first ``num_items % nfolds`` folds hold one extra item. ``nfolds == 1`` trains and tests on everything
    (insightface's ``LFold``).
    """
    _check_folds(num_items, nfolds)
    indices = np.arange(num_items)
    if nfolds == 1:
        return [(indices, indices)]
    sizes = np.full(nfolds, num_items // nfolds)
    sizes[: num_items % nfolds] += 1
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    return [
        (np.concatenate([indices[:start], indices[stop:]]), indices[start:stop])
        for start, stop in itertools.pairwise(bounds)
    ]


def _count_below(sorted_values: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """For each threshold, how many of the (sorted) values are strictly below it."""
    return np.searchsorted(sorted_values, thresholds, side="left")


def accuracy_folds(
    dist: np.ndarray, issame: np.ndarray, *, nfolds: int = 10, thresholds: np.ndarray = ACCURACY_THRESHOLDS
) -> tuple[np.ndarray, np.ndarray]:
    """Per-fold accuracies and chosen thresholds: ``(accuracies, thresholds)``, each (nfolds,) float64.

    For each fold, the threshold maximising ``(TP + TN)`` on the training folds (first maximum) is applied to the
    held-out fold, whose accuracy is ``(TP + TN) / n``. A pair is predicted "same" when ``dist < threshold``.
    """
    dist, issame = _check_distances(dist, issame, nfolds)
    accuracies = np.zeros(nfolds)
    chosen = np.zeros(nfolds)
    for fold, (train, test) in enumerate(kfold_splits(len(dist), nfolds)):
        same = np.sort(dist[train][issame[train]])
        diff = np.sort(dist[train][~issame[train]])
        correct = _count_below(same, thresholds) + (len(diff) - _count_below(diff, thresholds))
        chosen[fold] = thresholds[int(np.argmax(correct))]
        predicted = dist[test] < chosen[fold]
        accuracies[fold] = int(np.sum(predicted == issame[test])) / len(test)
    return accuracies, chosen


def _rate(count: int, total: int) -> float:
    """``count / total``, and 0 for an empty class (Arcface-Paddle adds 1e-8 to the denominator)."""
    return count / total if total else 0.0


def _far_threshold(dist: np.ndarray, issame: np.ndarray, far_target: float, thresholds: np.ndarray) -> float:
    """The threshold at which these pairs' FAR reaches ``far_target``, or 0.0 if it never does.

    FAR is non-decreasing in the threshold, so ``np.interp`` over the FAR curve is the linear interpolation
    insightface does with ``interp1d(far, thresholds, kind="slinear")``: between the last threshold at or below
    the target and the next one above it.
    """
    diff = np.sort(dist[~issame])
    far = _count_below(diff, thresholds) / len(diff) if len(diff) else np.zeros(len(thresholds))
    if np.max(far) < far_target:
        return 0.0
    return float(np.interp(far_target, far, thresholds))


def val_at_far(
    dist: np.ndarray,
    issame: np.ndarray,
    *,
    far_target: float = FAR_TARGET,
    nfolds: int = 10,
    thresholds: np.ndarray = VAL_THRESHOLDS,
) -> tuple[float, float, float]:
    """``(VAL mean, VAL std, FAR mean)`` over the held-out folds, at the train folds' FAR-target threshold."""
    dist, issame = _check_distances(dist, issame, nfolds)
    vals = np.zeros(nfolds)
    fars = np.zeros(nfolds)
    for fold, (train, test) in enumerate(kfold_splits(len(dist), nfolds)):
        threshold = _far_threshold(dist[train], issame[train], far_target, thresholds)
        accepted = dist[test] < threshold
        same = issame[test]
        vals[fold] = _rate(int(np.sum(accepted & same)), int(np.sum(same)))
        fars[fold] = _rate(int(np.sum(accepted & ~same)), int(np.sum(~same)))
    return float(np.mean(vals)), float(np.std(vals)), float(np.mean(fars))


def verification_metrics(
    emb_orig: np.ndarray, emb_flip: np.ndarray | None, issame: np.ndarray, *, nfolds: int = 10
) -> VerificationResult:
    """The full protocol on raw (2N, D) embeddings of the images and (optionally) of their flips.

    With ``emb_flip=None`` (no flip test) the combined embedding is ``normalise(orig)`` and XNorm covers the
    originals only. Embeddings are processed in float64.
    """
    orig = _check_embeddings(emb_orig, "emb_orig")
    if emb_flip is None:
        raw, summed = orig, orig
    else:
        flip = _check_embeddings(emb_flip, "emb_flip")
        if flip.shape != orig.shape:
            raise ValueError(f"emb_flip has shape {flip.shape}, expected that of emb_orig {orig.shape}")
        raw, summed = np.concatenate([orig, flip]), orig + flip
    num_pairs = len(orig) // 2
    labels = _check_issame(issame, num_pairs)
    _check_folds(num_pairs, nfolds)
    dist = pair_distances(l2_normalize(summed))
    accuracies, thresholds = accuracy_folds(dist, labels, nfolds=nfolds)
    val, val_std, far = val_at_far(dist, labels, nfolds=nfolds)
    result = VerificationResult(
        xnorm=float(np.mean(np.linalg.norm(raw, axis=1))),
        accuracy=float(np.mean(accuracies)),
        accuracy_std=float(np.std(accuracies)),
        fold_accuracies=accuracies,
        thresholds=thresholds,
        val=val,
        val_std=val_std,
        far=far,
        num_pairs=num_pairs,
        distances=dist,
    )
    logger.debug("verification over %d pairs: accuracy %.5f+-%.5f", num_pairs, result.accuracy, result.accuracy_std)
    return result


def _check_embeddings(embeddings: np.ndarray, name: str) -> np.ndarray:
    array = np.asarray(embeddings)
    if array.ndim != 2 or array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(f"{name}: expected a non-empty (2N, D) array, got shape {array.shape}")
    if array.shape[0] % 2:
        raise ValueError(f"{name}: expected an even number of rows (image pairs), got {array.shape[0]}")
    if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
        raise ValueError(f"{name}: expected a numeric array, got {array.dtype}")
    array = array.astype(np.float64)
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name}: contains NaN or infinite values")
    return array


def _check_issame(issame: np.ndarray, num_pairs: int) -> np.ndarray:
    labels = np.asarray(issame)
    if labels.ndim != 1 or len(labels) != num_pairs:
        raise ValueError(f"issame: expected {num_pairs} labels (one per pair), got shape {labels.shape}")
    if labels.dtype != np.bool_:
        if not np.issubdtype(labels.dtype, np.integer) or not np.isin(labels, (0, 1)).all():
            raise ValueError(f"issame: expected bools (or 0/1), got {labels.dtype}")
        labels = labels.astype(bool)
    return labels


def _check_folds(num_items: int, nfolds: int) -> None:
    if not isinstance(nfolds, (int, np.integer)) or isinstance(nfolds, bool) or nfolds < 1:
        raise ValueError(f"nfolds: expected a positive integer, got {nfolds!r}")
    if num_items < nfolds:
        raise ValueError(f"need at least {nfolds} pairs for {nfolds} folds, got {num_items}")


def _check_distances(dist: np.ndarray, issame: np.ndarray, nfolds: int) -> tuple[np.ndarray, np.ndarray]:
    dist = np.asarray(dist, dtype=np.float64)
    if dist.ndim != 1:
        raise ValueError(f"dist: expected a 1-D array of pair distances, got shape {dist.shape}")
    if not np.all(np.isfinite(dist)):
        raise ValueError("dist: contains NaN or infinite values")
    labels = _check_issame(issame, len(dist))
    _check_folds(len(dist), nfolds)
    return dist, labels
