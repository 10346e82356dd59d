"""PartialFC at world size 1: shards, init, equality with a plain softmax FC, sampling and the sparse update."""

from __future__ import annotations

import math

import numpy as np
import paddle
import pytest

from faceid.heads import MARGIN_PRESETS, PartialFC, apply_margin, class_shards, init_centres

D, C = 16, 50


def test_class_shards_cover_every_class_once_and_never_leave_a_rank_empty() -> None:
    for num_classes in range(1, 41):
        for world_size in range(1, min(num_classes, 9) + 1):
            shards = class_shards(num_classes, world_size)
            assert [s for s, _ in shards] == list(np.cumsum([0] + [c for _, c in shards])[:-1])
            assert sum(c for _, c in shards) == num_classes
            assert min(c for _, c in shards) >= 1
            assert max(c for _, c in shards) == math.ceil(num_classes / world_size)
    assert class_shards(93431, 8) == [(r * 11679, 11679) for r in range(7)] + [(7 * 11679, 11678)]
    assert class_shards(9, 4) == [(0, 3), (3, 2), (5, 2), (7, 2)]  # Arcface-Paddle's rule would leave rank 3 empty
    with pytest.raises(ValueError, match="cannot split 3 classes over 4 ranks"):
        class_shards(3, 4)


def test_initial_centres_do_not_depend_on_the_world_size() -> None:
    full = init_centres(8, 0, 10000, seed=5)
    assert full.dtype == np.float32 and abs(full.std() - 0.01) < 1e-3
    for world_size in (2, 3, 7):
        parts = [init_centres(8, s, c, seed=5) for s, c in class_shards(10000, world_size)]
        np.testing.assert_array_equal(np.concatenate(parts, axis=1), full)
    assert not np.array_equal(init_centres(8, 0, 10, seed=6), full[:, :10])


def _plain_loss(features: paddle.Tensor, weight: paddle.Tensor, labels: np.ndarray) -> paddle.Tensor:
    cosine = paddle.matmul(
        paddle.nn.functional.normalize(features, axis=1), paddle.nn.functional.normalize(weight, axis=0)
    )
    logits = apply_margin(cosine, paddle.to_tensor(labels), MARGIN_PRESETS["ArcFace"])
    target = paddle.take_along_axis(logits, paddle.to_tensor(labels)[:, None], axis=1)[:, 0]
    return (paddle.logsumexp(logits, axis=1) - target).mean()


def test_full_ratio_equals_a_plain_fc_trained_by_paddle_momentum() -> None:
    rng = np.random.default_rng(0)
    head = PartialFC(D, C, margin="ArcFace", sample_ratio=1.0, seed=1)
    weight = paddle.create_parameter([D, C], "float32")
    weight.set_value(init_centres(D, 0, C, seed=1))
    optimizer = paddle.optimizer.Momentum(0.1, momentum=0.9, parameters=[weight], weight_decay=5e-4)
    for step in range(3):
        x = rng.normal(size=(8, D)).astype("float32")
        labels = rng.integers(0, C, size=8)
        ours_x = paddle.to_tensor(x, stop_gradient=False)
        ours = head(ours_x, paddle.to_tensor(labels), step=step)
        ours.backward()
        head.step(0.1, momentum=0.9, weight_decay=5e-4)
        plain_x = paddle.to_tensor(x, stop_gradient=False)
        plain = _plain_loss(plain_x, weight, labels)
        plain.backward()
        optimizer.step()
        optimizer.clear_grad()
        np.testing.assert_allclose(float(ours), float(plain), rtol=1e-6)
        grad_scale = np.abs(plain_x.grad.numpy()).max()
        np.testing.assert_allclose(ours_x.grad.numpy(), plain_x.grad.numpy(), rtol=1e-5, atol=1e-5 * grad_scale)
        # Centres start tiny (std 0.01), so their gradients are large (~100): compare at float32 precision.
        scale = np.abs(weight.numpy()).max()
        np.testing.assert_allclose(head.weight.numpy(), weight.numpy(), rtol=1e-5, atol=1e-5 * scale)


def test_sampling_keeps_every_positive_and_updates_only_sampled_columns() -> None:
    head = PartialFC(D, C, sample_ratio=0.2, seed=2)
    assert head.num_sample == 10
    labels = np.array([3, 3, 17, 42, 8, 17, 3, 49])
    features = paddle.to_tensor(np.random.default_rng(1).normal(size=(8, D)).astype("float32"), stop_gradient=False)
    head.velocity.set_value(paddle.full([D, C], 0.25))
    before_w, before_v = head.weight.numpy().copy(), head.velocity.numpy().copy()
    columns = head.sample_columns(labels, step=0)
    assert len(columns) == 10 and set(labels) <= set(columns.tolist()) and (np.diff(columns) > 0).all()
    loss = head(features, paddle.to_tensor(labels), step=0)
    expected = _plain_loss(
        paddle.to_tensor(features.numpy()), paddle.to_tensor(before_w[:, columns]), np.searchsorted(columns, labels)
    )
    np.testing.assert_allclose(float(loss), float(expected), rtol=1e-6)
    loss.backward()
    grad = head._pending[0].grad.numpy()
    head.step(0.1, momentum=0.9, weight_decay=1e-3)
    untouched = np.setdiff1d(np.arange(C), columns)
    np.testing.assert_array_equal(head.weight.numpy()[:, untouched], before_w[:, untouched])
    np.testing.assert_array_equal(head.velocity.numpy()[:, untouched], before_v[:, untouched])
    velocity = 0.9 * before_v[:, columns] + grad + 1e-3 * before_w[:, columns]
    np.testing.assert_allclose(head.velocity.numpy()[:, columns], velocity, rtol=1e-6)
    np.testing.assert_allclose(head.weight.numpy()[:, columns], before_w[:, columns] - 0.1 * velocity, rtol=1e-6)


def test_sampling_is_seeded_by_step_and_keeps_all_positives_when_they_exceed_the_budget() -> None:
    head = PartialFC(D, C, sample_ratio=0.1, seed=3)
    labels = np.arange(0, 40, 3)
    assert head.sample_columns(labels, step=0).tolist() == sorted(set(labels.tolist()))
    few = np.array([1, 2])
    assert head.sample_columns(few, 4).tolist() == head.sample_columns(few, 4).tolist()
    assert any(head.sample_columns(few, 4).tolist() != head.sample_columns(few, s).tolist() for s in range(5, 10))


def test_loss_scale_is_removed_before_the_update_and_non_finite_gradients_skip_it() -> None:
    x = np.random.default_rng(4).normal(size=(4, D)).astype("float32")
    labels = paddle.to_tensor([0, 1, 2, 3])
    plain, scaled = PartialFC(D, C, seed=4), PartialFC(D, C, seed=4)
    plain(paddle.to_tensor(x), labels).backward()
    plain.step(0.1)
    (scaled(paddle.to_tensor(x), labels) * 1024.0).backward()
    scaled.step(0.1, grad_scale=1024.0)
    np.testing.assert_allclose(scaled.weight.numpy(), plain.weight.numpy(), rtol=1e-6, atol=1e-9)
    before = scaled.weight.numpy().copy()
    (scaled(paddle.to_tensor(x), labels) * float("inf")).backward()
    assert scaled.step(0.1) is False
    np.testing.assert_array_equal(scaled.weight.numpy(), before)


def test_bad_inputs_are_reported() -> None:
    head = PartialFC(D, C)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 50\), got 0..50"):
        head(paddle.zeros([2, D]), paddle.to_tensor([0, 50]))
    with pytest.raises(ValueError, match=r"features: expected \(B, 16\)"):
        head(paddle.zeros([2, 8]), paddle.to_tensor([0, 1]))
    with pytest.raises(RuntimeError, match="before forward"):
        PartialFC(D, C).step(0.1)
    with pytest.raises(ValueError, match="sample_ratio"):
        PartialFC(D, C, sample_ratio=0.0)
