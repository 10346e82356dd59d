"""Combined margins against a float64 numpy reference (values and gradients)."""

from __future__ import annotations

import math

import numpy as np
import paddle
import pytest

from faceid.heads import MARGIN_PRESETS, MarginSpec, apply_margin, margin_spec


def _target_np(c: np.ndarray, m: MarginSpec) -> tuple[np.ndarray, np.ndarray]:
    """Unscaled target logit and its derivative d/dcos, written out by hand."""
    if m.m1 == 1.0 and m.m2 == 0.0:
        return c - m.m3, np.ones_like(c)
    raw, c = c, np.clip(c, -1 + 1e-6, 1 - 1e-6)
    theta = np.arccos(c)
    theta_max = (math.pi - m.m2) / m.m1
    value = np.cos(m.m1 * theta + m.m2) - m.m3
    deriv = m.m1 * np.sin(m.m1 * theta + m.m2) / np.sin(theta)
    if theta_max < math.pi:
        past = theta > theta_max
        value = np.where(past, raw - math.cos(theta_max) - 1 - m.m3, value)
        deriv = np.where(past, 1.0, deriv)
    return value, deriv


def _loss_and_grad_np(cos: np.ndarray, labels: np.ndarray, m: MarginSpec) -> tuple[float, np.ndarray]:
    n = len(labels)
    rows = np.arange(n)
    logits = cos.copy()
    value, deriv = _target_np(cos[rows, labels], m)
    logits[rows, labels] = value
    logits *= m.s
    logits -= logits.max(axis=1, keepdims=True)
    prob = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    loss = -np.log(prob[rows, labels]).mean()
    grad = prob.copy()
    grad[rows, labels] -= 1.0
    grad *= m.s / n
    grad[rows, labels] *= deriv
    return float(loss), grad


@pytest.mark.parametrize("name", sorted(MARGIN_PRESETS))
def test_margin_loss_and_gradient_match_numpy(name: str) -> None:
    spec = MARGIN_PRESETS[name]
    rng = np.random.default_rng(3)
    cos = rng.uniform(-0.99, 0.99, size=(16, 11))
    cos[:4, 0] = [-0.999, -0.95, 0.9999, 0.0]  # near the ends and past theta* for ArcFace/SphereFace
    labels = rng.integers(0, 11, size=16)
    labels[:4] = 0
    x = paddle.to_tensor(cos, dtype="float64", stop_gradient=False)
    logits = apply_margin(x, paddle.to_tensor(labels), spec)
    target = paddle.take_along_axis(logits, paddle.to_tensor(labels)[:, None], axis=1)[:, 0]
    loss = (paddle.logsumexp(logits, axis=1) - target).mean()
    loss.backward()
    expected_loss, expected_grad = _loss_and_grad_np(cos, labels, spec)
    np.testing.assert_allclose(float(loss), expected_loss, rtol=1e-10)
    np.testing.assert_allclose(x.grad.numpy(), expected_grad, rtol=1e-8, atol=1e-12)


def test_presets_are_the_published_values() -> None:
    assert MARGIN_PRESETS["ArcFace"] == MarginSpec(1.0, 0.5, 0.0, 64.0)
    assert MARGIN_PRESETS["CosFace"] == MarginSpec(1.0, 0.0, 0.35, 64.0)
    assert MARGIN_PRESETS["SphereFace"] == MarginSpec(1.35, 0.0, 0.0, 64.0)
    assert margin_spec(["1", "0.3", "0.2", "32"]) == MarginSpec(1.0, 0.3, 0.2, 32.0)


@pytest.mark.parametrize("name", ["ArcFace", "SphereFace"])
def test_target_logit_is_finite_monotone_and_continuous_over_all_angles(name: str) -> None:
    spec = MARGIN_PRESETS[name]
    cos = np.cos(np.linspace(0.0, math.pi, 20001))[:, None]  # theta from 0 to pi: cos from 1 to -1
    x = paddle.to_tensor(cos, dtype="float32", stop_gradient=False)
    logits = apply_margin(x, paddle.zeros([len(cos)], dtype="int64"), spec)
    logits.sum().backward()
    values = logits.numpy()[:, 0]
    assert np.isfinite(values).all() and np.isfinite(x.grad.numpy()).all()
    assert (np.diff(values) <= 1e-3).all(), "the target logit must not rise as the angle grows"
    assert np.abs(np.diff(values)).max() < 0.1, "no jump at theta*"
    fitted = cos[:, 0] > 1 - 1e-6  # clipped: no gradient within 1e-6 of a perfect fit
    assert (x.grad.numpy()[~fitted] > 0).all(), "a larger cosine always raises the target logit"


def test_non_target_rows_and_missing_targets_are_plain_scaled_cosines() -> None:
    cos = np.random.default_rng(0).uniform(-1, 1, size=(3, 5)).astype("float32")
    logits = apply_margin(paddle.to_tensor(cos), paddle.to_tensor([-1, 2, -1]), MARGIN_PRESETS["ArcFace"]).numpy()
    expected = cos * 64
    expected[1, 2] = 64 * math.cos(math.acos(cos[1, 2]) + 0.5)
    np.testing.assert_allclose(logits, expected, rtol=1e-5, atol=1e-4)


def test_bad_margins_and_shapes_are_rejected() -> None:
    with pytest.raises(ValueError, match="unknown loss 'Arc'"):
        margin_spec("Arc")
    with pytest.raises(ValueError, match="invalid margin"):
        MarginSpec(1.0, 4.0, 0.0, 64.0)
    with pytest.raises(ValueError, match="expected cosine"):
        apply_margin(paddle.zeros([2, 3]), paddle.zeros([3], dtype="int64"), MARGIN_PRESETS["ArcFace"])
