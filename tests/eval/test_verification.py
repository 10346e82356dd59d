"""The verification protocol against a slow, independent reference; known answers; embedding; logging."""

from __future__ import annotations

import logging
import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from faceid.data.verification_set import VerificationSet, load_verification_set, write_verification_set
from faceid.eval import (
    VerificationResult,
    VerificationTracker,
    accuracy_folds,
    best_threshold_accuracy,
    decode_verification_images,
    embed_images,
    evaluate_verification_set,
    format_lines,
    kfold_splits,
    load_val_targets,
    paddle_embed_fn,
    val_at_far,
    verification_metrics,
)
from faceid.ops import hwc_to_chw_reference

# ---------------------------------------------------------------------------------------------------------------
# Independent reference: the protocol as the insightface/Arcface-Paddle text states it, written the slow way
# (explicit fold lists, a Python loop per fold and per threshold). It shares no code with faceid.eval.
# ---------------------------------------------------------------------------------------------------------------
ACC_GRID = [i * 0.01 for i in range(400)]  # np.arange(0, 4, 0.01)
VAL_GRID = [i * 0.001 for i in range(4000)]  # np.arange(0, 4, 0.001)


def _ref_folds(n: int, k: int) -> list[tuple[list[int], list[int]]]:
    if k == 1:
        return [(list(range(n)), list(range(n)))]
    folds, start = [], 0
    for fold in range(k):
        size = n // k + (1 if fold < n % k else 0)
        test = list(range(start, start + size))
        train = [i for i in range(n) if not start <= i < start + size]
        folds.append((train, test))
        start += size
    return folds


def _ref_accuracy(thr: float, dist: np.ndarray, same: np.ndarray) -> float:
    correct = np.count_nonzero(dist[same] < thr) + np.count_nonzero(~(dist[~same] < thr))
    return correct / len(dist)


def _ref_far_threshold(dist: np.ndarray, same: np.ndarray, target: float = 1e-3) -> float:
    impostors = dist[~same]
    far = [np.count_nonzero(impostors < t) / len(impostors) if len(impostors) else 0.0 for t in VAL_GRID]
    if max(far) < target:
        return 0.0
    j = max(i for i, f in enumerate(far) if f <= target)  # last point at or below the target ...
    if far[j] == target or j == len(far) - 1:
        return VAL_GRID[j]
    # ... interpolated linearly towards the next point (the first one above the target)
    return VAL_GRID[j] + (target - far[j]) * (VAL_GRID[j + 1] - VAL_GRID[j]) / (far[j + 1] - far[j])


def _ref_protocol(orig: np.ndarray, flip: np.ndarray | None, issame: np.ndarray, nfolds: int = 10) -> dict:
    vectors = [*orig] + ([*flip] if flip is not None else [])
    xnorm = 0.0
    for v in vectors:
        xnorm += math.sqrt(float(np.dot(v, v)))
    xnorm /= len(vectors)
    combined = [np.asarray(v, np.float64) for v in (orig if flip is None else np.add(orig, flip, dtype=np.float64))]
    combined = [v / math.sqrt(float(np.dot(v, v))) for v in combined]
    dist = np.array([float(np.dot(a - b, a - b)) for a, b in zip(combined[0::2], combined[1::2], strict=False)])
    same = np.asarray(issame, bool)
    accs, thrs, vals, fars = [], [], [], []
    for train, test in _ref_folds(len(dist), nfolds):
        best_index, best_acc = 0, -1.0
        for index, thr in enumerate(ACC_GRID):
            acc = _ref_accuracy(thr, dist[train], same[train])
            if acc > best_acc:  # strictly greater: the first maximum wins
                best_index, best_acc = index, acc
        thrs.append(ACC_GRID[best_index])
        accs.append(_ref_accuracy(ACC_GRID[best_index], dist[test], same[test]))
        val_thr = _ref_far_threshold(dist[train], same[train])
        accepted, t_same = dist[test] < val_thr, same[test]
        vals.append(np.count_nonzero(accepted & t_same) / max(np.count_nonzero(t_same), 1))
        fars.append(np.count_nonzero(accepted & ~t_same) / max(np.count_nonzero(~t_same), 1))
    return {
        "xnorm": xnorm, "accuracies": accs, "thresholds": thrs, "accuracy": np.mean(accs), "std": np.std(accs),
        "val": np.mean(vals), "val_std": np.std(vals), "far": np.mean(fars),
    }  # fmt: skip


def _assert_matches_reference(result: VerificationResult, ref: dict) -> None:
    assert result.fold_accuracies.tolist() == ref["accuracies"]
    assert result.thresholds.tolist() == ref["thresholds"]
    assert result.accuracy == ref["accuracy"] and result.accuracy_std == ref["std"]
    assert (result.val, result.val_std, result.far) == (ref["val"], ref["val_std"], ref["far"])
    # XNorm: a sequential sum in the reference, numpy's pairwise mean in faceid.
    assert result.xnorm == pytest.approx(ref["xnorm"], rel=1e-12)


def _random_set(seed: int, num_pairs: int, dim: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Genuine pairs share a centre, impostor pairs don't; noise makes the accuracy neither 0.5 nor 1."""
    rng = np.random.default_rng(seed)
    issame = rng.random(num_pairs) < 0.5
    centres = rng.normal(size=(num_pairs, 2, dim))
    centres[issame, 1] = centres[issame, 0]
    orig = (centres + 0.9 * rng.normal(size=centres.shape)).reshape(2 * num_pairs, dim)
    orig *= rng.uniform(2, 8, size=(2 * num_pairs, 1))  # raw norms vary, as a network's do
    flip = orig + 0.5 * rng.normal(size=orig.shape)
    return orig, flip, issame


# ---------------------------------------------------------------------------------------------------------------
# The protocol against the reference
# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("seed", "num_pairs", "dim", "nfolds"),
    [(0, 37, 8, 10), (1, 300, 128, 10), (2, 1001, 32, 10), (3, 64, 16, 5), (4, 25, 8, 1)],
)
def test_protocol_matches_reference(seed: int, num_pairs: int, dim: int, nfolds: int) -> None:
    orig, flip, issame = _random_set(seed, num_pairs, dim)
    result = verification_metrics(orig, flip, issame, nfolds=nfolds)
    _assert_matches_reference(result, _ref_protocol(orig, flip, issame, nfolds))
    assert 0.6 < result.accuracy < 0.999  # genuinely not trivial
    assert (result.accuracy_std > 0) == (nfolds > 1)
    assert result.num_pairs == num_pairs and len(result.fold_accuracies) == nfolds
    np.testing.assert_array_equal(result.cosine_thresholds, 1 - result.thresholds / 2)


def test_protocol_without_flip_and_float32_inputs() -> None:
    orig, _, issame = _random_set(5, 120, 24)
    orig32 = orig.astype(np.float32)
    result = verification_metrics(orig32, None, issame.astype(np.int64))
    _assert_matches_reference(result, _ref_protocol(orig32.astype(np.float64), None, issame))


def test_val_is_not_trivial_on_a_large_set() -> None:
    """With ~1500 impostors per training fold, FAR=1e-3 lies between grid points: VAL comes from interpolation."""
    orig, flip, issame = _random_set(6, 3000, 16)
    result = verification_metrics(orig, flip, issame)
    ref = _ref_protocol(orig, flip, issame)
    _assert_matches_reference(result, ref)
    assert 0.05 < result.val < 0.95 and 0 < result.far < 0.01


def test_kfold_splits_are_sklearn_kfold() -> None:
    for n, k in [(37, 10), (10, 10), (300, 10), (12, 5), (5, 1)]:
        ours = [(train.tolist(), test.tolist()) for train, test in kfold_splits(n, k)]
        assert ours == _ref_folds(n, k)
    sizes = [len(test) for _, test in kfold_splits(37, 10)]
    assert sizes == [4] * 7 + [3] * 3  # the first n % k folds get one extra item


# ---------------------------------------------------------------------------------------------------------------
# Known answers
# ---------------------------------------------------------------------------------------------------------------
def _pairs_at_distances(distances: list[float], scale: float = 3.0) -> np.ndarray:
    """Pair k = (1, 0) and the unit vector at squared distance d_k from it, times ``scale``."""
    rows = []
    for d in distances:
        cos = 1 - d / 2
        rows += [(1.0, 0.0), (cos, math.sqrt(1 - cos * cos))]
    return scale * np.array(rows)


def test_hand_computed_ten_pairs() -> None:
    # Ten pairs, one per fold, at squared distances 0.2055, 0.4055, ..., 2.0055 (between grid points of both
    # grids), labelled T T T T F T F F F F. On all ten pairs two threshold ranges give 9/10: (0.8055, 1.0055]
    # and (1.2055, 1.4055]; the first maximum wins, so most folds pick the first grid value above 0.8055: 0.81.
    #   fold 0-2: T below 0.81 -> right.               fold 3: without pair 3 the first range is (0.6055, 1.0055]
    #   -> 0.61; its pair (0.8055, T) is >= 0.61 -> wrong.  fold 4: without the F at 1.0055 the training set is
    #   separable at (1.2055, 1.4055] -> 1.21; its pair (1.0055, F) is < 1.21 -> wrong.  fold 5: without the T at
    #   1.2055, separable at (0.8055, 1.0055] -> 0.81; its pair (1.2055, T) -> wrong.  folds 6-9: F above 0.81.
    distances = [0.2055 + 0.2 * k for k in range(10)]
    issame = np.array([True] * 4 + [False, True] + [False] * 4)
    orig = _pairs_at_distances(distances)
    result = verification_metrics(orig, orig.copy(), issame)
    assert result.fold_accuracies.tolist() == [1, 1, 1, 0, 0, 0, 1, 1, 1, 1]
    assert result.thresholds == pytest.approx([0.81, 0.81, 0.81, 0.61, 1.21, 0.81, 0.81, 0.81, 0.81, 0.81], abs=1e-12)
    assert result.accuracy == pytest.approx(0.7) and result.accuracy_std == pytest.approx(math.sqrt(0.21))
    assert result.xnorm == pytest.approx(3.0)
    # VAL@FAR=1e-3: the training FAR is 0 up to 1.005 and 1/n_impostors from 1.006 (1.0055 is the lowest impostor;
    # 1.4055 for fold 4), so the threshold is just above 1.005 (1.405). Test folds: pairs 0-3 (T, below) VAL 1;
    # pair 5 (T, 1.2055) VAL 0; impostor folds have no genuine pair (VAL 0); pair 4 (F, 1.0055 < 1.405..) is the
    # only false accept: FAR 1 in fold 4, so FAR = 0.1.
    assert result.val == pytest.approx(0.4) and result.val_std == pytest.approx(math.sqrt(0.24))
    assert result.far == pytest.approx(0.1)
    _assert_matches_reference(result, _ref_protocol(orig, orig.copy(), issame))


def test_perfectly_separable() -> None:
    rng = np.random.default_rng(7)
    issame = rng.random(50) < 0.5
    # Genuine pairs below the first non-zero grid value 0.01, impostors far away: every fold picks 0.01 (the
    # first threshold above all genuine distances) and classifies its held-out pairs perfectly.
    distances = np.where(issame, rng.uniform(0, 0.0099, 50), rng.uniform(0.5, 3.5, 50)).tolist()
    result = verification_metrics(_pairs_at_distances(distances), None, issame)
    assert result.accuracy == 1.0 and result.accuracy_std == 0.0
    assert result.fold_accuracies.tolist() == [1.0] * 10 and result.thresholds.tolist() == [0.01] * 10
    # Wider genuine distances: each fold takes the first grid value above its training folds' largest genuine
    # distance, and a held-out genuine pair beyond that is missed.
    distances = np.where(issame, rng.uniform(0, 0.5, 50), rng.uniform(1.5, 3.5, 50))
    result = verification_metrics(_pairs_at_distances(distances.tolist()), None, issame)
    for (train, test), thr, acc in zip(_ref_folds(50, 10), result.thresholds, result.fold_accuracies, strict=False):
        assert thr == min(t for t in ACC_GRID if t > distances[train][issame[train]].max())
        assert acc == np.mean((distances[test] < thr) == issame[test])


def test_threshold_comparison_is_strict() -> None:
    # Genuine pairs at exactly 2.0 (orthogonal unit vectors), impostors at exactly 4.0 (opposite vectors). The
    # grid holds 2.0 exactly; "same" needs dist < thr, so the first perfect threshold is 2.01, not 2.00.
    issame = np.array([True, False] * 5)
    orig = np.array([[[1, 0], [0, 1]] if same else [[1, 0], [-1, 0]] for same in issame], float).reshape(20, 2)
    result = verification_metrics(orig, None, issame)
    assert ACC_GRID[200] == 2.0
    assert result.thresholds.tolist() == [ACC_GRID[201]] * 10 and result.accuracy == 1.0
    # The same at the distance level: a tie at the grid value 0.5 is "different".
    accuracies, thresholds = accuracy_folds(np.array([0.5, 1.5] * 5), issame)
    assert thresholds.tolist() == [ACC_GRID[51]] * 10 and accuracies.tolist() == [1.0] * 10


def test_val_threshold_at_an_exact_far_hit() -> None:
    # One fold (train = test). 1000 impostors: one at 0.5005, the rest at 3.5005, so the FAR curve is 0 up to
    # the grid value 0.500, exactly 1/1000 = the target from 0.501 to 3.500, then 1. Linear interpolation over
    # that step curve (interp1d "slinear" in scipy <= 1.8, np.interp) lands on the LAST threshold with FAR equal
    # to the target, 3.500: the genuine pair at 2.0005 is accepted (VAL 1; 10/11 had it picked 0.501).
    dist = np.array([0.2505, 0.3005, 0.3505, 2.0005] * 2 + [0.1005] * 3 + [0.5005] + [3.5005] * 999)
    issame = np.arange(len(dist)) < 11
    assert val_at_far(dist, issame, nfolds=1) == (1.0, 0.0, 0.001)
    assert _ref_far_threshold(dist, issame) == VAL_GRID[3500]


# ---------------------------------------------------------------------------------------------------------------
# Embedding
# ---------------------------------------------------------------------------------------------------------------
class _Projection:
    """A deterministic embed_fn: a fixed random projection of each flattened image, row by row."""

    def __init__(self, shape: tuple[int, int, int], dim: int = 16, seed: int = 0) -> None:
        self.weights = np.random.default_rng(seed).normal(size=(dim, int(np.prod(shape))))
        self.batches: list[np.ndarray] = []

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        assert batch.dtype == np.float32 and batch.ndim == 4
        self.batches.append(batch.copy())
        return np.stack([self.weights @ row.ravel() for row in batch.astype(np.float64)]).astype(np.float32)


@pytest.mark.parametrize("flip", [False, True])
def test_embed_images_is_batch_size_independent(flip: bool) -> None:
    images = np.random.default_rng(1).integers(0, 256, (10, 16, 12, 3), dtype=np.uint8)
    expected_input = hwc_to_chw_reference(images, np.full(10, flip))
    expected = _Projection((3, 16, 12))(expected_input)
    for batch_size in (1, 3, 7, 10, 25):
        fn = _Projection((3, 16, 12))
        out = embed_images(fn, images, batch_size=batch_size, flip=flip)
        assert out.dtype == np.float32 and out.shape == (10, 16)
        np.testing.assert_array_equal(out, expected)
        assert [len(b) for b in fn.batches] == [min(batch_size, 10 - s) for s in range(0, 10, batch_size)]
        np.testing.assert_array_equal(np.concatenate(fn.batches), expected_input)  # really (un)flipped pixels
    assert not np.array_equal(expected_input, hwc_to_chw_reference(images, np.full(10, not flip)))


def test_decode_resizes_other_sizes_once(caplog: pytest.LogCaptureFixture) -> None:
    rng = np.random.default_rng(2)
    raw = [rng.integers(0, 256, shape, dtype=np.uint8) for shape in [(90, 100, 3), (112, 112, 3), (120, 120, 3)]]
    encoded = [cv2.imencode(".png", image)[1].tobytes() for image in [*raw, raw[1]]]
    vset = VerificationSet(name="mixed", images=encoded, issame=np.array([True, False]))
    with caplog.at_level(logging.WARNING, logger="faceid.eval.verification"):
        out = decode_verification_images(vset)
    assert out.shape == (4, 112, 112, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out[0], cv2.resize(raw[0], (112, 112), interpolation=cv2.INTER_LINEAR))
    np.testing.assert_array_equal(out[1], raw[1])
    messages = [r.getMessage() for r in caplog.records]
    assert messages == ["mixed: resized 2 of 4 images to 112x112 (first: image 0, 90x100)"]


@pytest.fixture(scope="module")
def small_lfw(shared_data: Path) -> VerificationSet:
    return load_verification_set(shared_data / "verification" / "small_lfw.bin")


def test_small_lfw_end_to_end(small_lfw: VerificationSet) -> None:
    images = decode_verification_images(small_lfw)
    assert images.shape == (20, 112, 112, 3)
    for image, data in zip(images, small_lfw.images, strict=False):
        np.testing.assert_array_equal(image, cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR))
    result = evaluate_verification_set(_Projection((3, 112, 112)), small_lfw, batch_size=7)
    fn = _Projection((3, 112, 112))
    orig = fn(hwc_to_chw_reference(images)).astype(np.float64)
    flip = fn(hwc_to_chw_reference(images, np.ones(20, bool))).astype(np.float64)
    _assert_matches_reference(result, _ref_protocol(orig, flip, small_lfw.issame))
    # All ten pairs are genuine: no impostor to set a FAR threshold, so VAL and FAR are 0 (Arcface-Paddle's 1e-8).
    assert (result.val, result.far) == (0.0, 0.0)
    no_flip = evaluate_verification_set(fn, images, small_lfw.issame, batch_size=100, flip=False)
    _assert_matches_reference(no_flip, _ref_protocol(orig, None, small_lfw.issame))


def test_paddle_embed_fn(small_lfw: VerificationSet) -> None:
    import paddle

    class Probe(paddle.nn.Layer):
        def __init__(self) -> None:
            super().__init__()
            self.seen: list[tuple[bool, bool]] = []

        def forward(self, x: paddle.Tensor) -> paddle.Tensor:
            self.seen.append((paddle.is_grad_enabled(), self.training))
            return x

    paddle.seed(0)
    probe = Probe()
    model = paddle.nn.Sequential(
        probe, paddle.nn.Conv2D(3, 4, 8, 8), paddle.nn.Flatten(), paddle.nn.Dropout(0.5), paddle.nn.Linear(784, 16)
    )
    model.train()
    model[1].eval()  # a sublayer deliberately in eval mode must stay so
    images = decode_verification_images(small_lfw)
    embeddings = embed_images(paddle_embed_fn(model), images, batch_size=6, flip=True)
    assert model.training and not model[1].training and model[3].training and probe.training
    assert probe.seen == [(False, False)] * 4  # no grad, eval mode (dropout off), 4 batches
    assert all(p.grad is None for p in model.parameters())
    model.eval()
    with paddle.no_grad():
        by_hand = model(paddle.to_tensor(hwc_to_chw_reference(images, np.ones(20, bool)))).numpy()
    assert embeddings.dtype == np.float32 and embeddings.shape == (20, 16)
    np.testing.assert_allclose(embeddings, by_hand, rtol=1e-5, atol=1e-6)
    try:
        result = evaluate_verification_set(paddle_embed_fn(model), small_lfw, batch_size=32)
        assert not model.training and result.num_pairs == 10 and result.xnorm > 0
    finally:
        model.train()  # eval() also switched Paddle's global tracer mode: give later tests the default back


# ---------------------------------------------------------------------------------------------------------------
# Logging, targets, argument errors
# ---------------------------------------------------------------------------------------------------------------
def _result(accuracy: float, std: float = 0.01592, xnorm: float = 5.04008) -> VerificationResult:
    zeros = np.zeros(10)
    return VerificationResult(xnorm, accuracy, std, zeros, zeros, 0.0, 0.0, 0.0, 6000)


def test_format_lines() -> None:
    assert format_lines("lfw", 2000, _result(0.93183), 0.93183) == [
        "[lfw][2000]XNorm: 5.040080",
        "[lfw][2000]Accuracy-Flip: 0.93183+-0.01592",
        "[lfw][2000]Accuracy-Highest: 0.93183",
    ]


def test_tracker_keeps_the_best_per_target(caplog: pytest.LogCaptureFixture) -> None:
    tracker = VerificationTracker()
    with caplog.at_level(logging.INFO, logger="faceid.eval.verification"):
        assert tracker.update("lfw", 2000, _result(0.9))[2] == "[lfw][2000]Accuracy-Highest: 0.90000"
        assert tracker.update("lfw", 4000, _result(0.8))[2] == "[lfw][4000]Accuracy-Highest: 0.90000"
        assert tracker.update("cfp_fp", 4000, _result(0.0))[2] == "[cfp_fp][4000]Accuracy-Highest: 0.00000"
        assert tracker.update("lfw", 6000, _result(0.95))[2] == "[lfw][6000]Accuracy-Highest: 0.95000"
    assert tracker.highest == {"lfw": 0.95, "cfp_fp": 0.0}
    assert [r.getMessage() for r in caplog.records][3:6] == [
        "[lfw][4000]XNorm: 5.040080",
        "[lfw][4000]Accuracy-Flip: 0.80000+-0.01592",
        "[lfw][4000]Accuracy-Highest: 0.90000",
    ]


def test_load_val_targets_warns_for_each_missing(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    png = cv2.imencode(".png", np.zeros((112, 112, 3), np.uint8))[1].tobytes()
    write_verification_set(tmp_path / "lfw.bin", [png] * 2, [True])
    with caplog.at_level(logging.WARNING, logger="faceid.eval.verification"):
        targets = load_val_targets(tmp_path, ["lfw", "cfp_fp", "agedb_30"])
    assert list(targets) == ["lfw"] and len(targets["lfw"]) == 1
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2 and "'cfp_fp'" in warnings[0] and "'agedb_30'" in warnings[1]
    assert str(tmp_path / "cfp_fp.bin") in warnings[0]
    assert list(load_val_targets(tmp_path, "lfw, cfp_fp")) == ["lfw"]


def test_argument_errors() -> None:
    orig, flip, issame = _random_set(8, 12, 4)
    with pytest.raises(ValueError, match="need at least 10 pairs for 10 folds, got 7"):
        verification_metrics(orig[:14], None, issame[:7])
    with pytest.raises(ValueError, match=r"emb_flip has shape \(22, 4\), expected that of emb_orig \(24, 4\)"):
        verification_metrics(orig, flip[:22], issame)
    with pytest.raises(ValueError, match="even number of rows"):
        verification_metrics(orig[:23], None, issame)
    with pytest.raises(ValueError, match=r"issame: expected 12 labels \(one per pair\), got shape \(11,\)"):
        verification_metrics(orig, flip, issame[:11])
    with pytest.raises(ValueError, match="issame: expected bools"):
        verification_metrics(orig, flip, np.full(12, 2))
    with pytest.raises(ValueError, match="NaN or infinite"):
        verification_metrics(np.where(orig > 1, np.nan, orig), None, issame)
    with pytest.raises(ValueError, match="nfolds: expected a positive integer"):
        verification_metrics(orig, flip, issame, nfolds=0)
    images = np.zeros((4, 8, 8, 3), np.uint8)
    with pytest.raises(ValueError, match="batch_size: expected a positive integer"):
        embed_images(_Projection((3, 8, 8)), images, batch_size=0, flip=False)
    with pytest.raises(ValueError, match=r"images_bgr: expected a non-empty \(N, H, W, 3\) uint8"):
        embed_images(_Projection((3, 8, 8)), images.astype(np.float32), batch_size=2, flip=False)
    with pytest.raises(ValueError, match=r"embed_fn: expected \(2, D\) embeddings, got shape \(2, 3, 8, 8\)"):
        embed_images(lambda batch: batch, images, batch_size=2, flip=False)
    with pytest.raises(ValueError, match="issame: required"):
        evaluate_verification_set(_Projection((3, 8, 8)), images, batch_size=2)
    vset = VerificationSet(name="x", images=[b""] * 2, issame=np.array([True]))
    with pytest.raises(ValueError, match="leave it None"):
        evaluate_verification_set(_Projection((3, 8, 8)), vset, vset.issame, batch_size=2)


def test_best_threshold_accuracy() -> None:
    assert best_threshold_accuracy(np.array([0.9, 0.8, 0.2, 0.1]), np.array([1, 1, 0, 0], bool)) == 1.0
    assert best_threshold_accuracy(np.array([0.5, 0.5, 0.5, 0.5]), np.array([1, 0, 1, 0], bool)) == 0.5
    assert best_threshold_accuracy(np.array([0.1, 0.9, 0.5]), np.array([1, 0, 1], bool)) == pytest.approx(2 / 3)
