"""Checkpoints: a crash mid-save loses nothing, retention, re-sharding to another world size, v1 pickles."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import paddle
import pytest

from faceid.heads import PartialFC, World
from faceid.io.safe_pickle import UnsafePickleError
from faceid.train import checkpoint as ckpt


def _parts(seed: int = 0):
    paddle.seed(seed)
    model = paddle.nn.Sequential(paddle.nn.Linear(4, 8), paddle.nn.BatchNorm1D(8))
    head = PartialFC(8, 10, seed=seed)
    optimizer = paddle.optimizer.Momentum(0.1, parameters=model.parameters())
    model(paddle.randn([3, 4])).sum().backward()
    optimizer.step()
    return model, head, optimizer


def _save(root: Path, epoch: int, step: int, parts, keep: int = 2) -> Path:
    model, head, optimizer = parts
    state = ckpt.TrainState(epoch=epoch + 1, global_step=step)
    return ckpt.save_checkpoint(
        root,
        epoch,
        model=model,
        head=head,
        optimizer=optimizer,
        state=state,
        meta={"network": "n"},
        world=World(),
        keep=keep,
    )


def test_a_crash_while_saving_leaves_the_previous_checkpoint_intact(tmp_path: Path, monkeypatch) -> None:
    parts = _parts()
    first = _save(tmp_path, 0, 10, parts)
    before = {p.name: p.read_bytes() for p in first.iterdir()}
    calls = []

    def crash(path, arrays):
        calls.append(path)
        if len(calls) == 2:
            raise OSError("disk full")
        np.savez(path, **arrays)

    monkeypatch.setattr(ckpt, "_savez", crash)
    with pytest.raises(OSError, match="disk full"):
        _save(tmp_path, 0, 20, parts)
    assert {p.name: p.read_bytes() for p in first.iterdir()} == before
    assert ckpt.latest_checkpoint(tmp_path) == first
    monkeypatch.undo()
    again = _save(tmp_path, 0, 20, parts)  # the next save clears the stale staging folder
    assert ckpt.read_meta(again)["global_step"] == 20
    assert sorted(p.name for p in tmp_path.iterdir()) == ["0"]


def test_only_the_last_checkpoints_are_kept_and_latest_follows_the_step(tmp_path: Path) -> None:
    parts = _parts()
    for epoch in range(4):
        _save(tmp_path, epoch, 100 * (epoch + 1), parts, keep=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["2", "3"]
    assert ckpt.latest_checkpoint(tmp_path).name == "3"
    assert ckpt.latest_checkpoint(tmp_path / "missing") is None


def test_weights_round_trip_and_mismatches_are_named(tmp_path: Path) -> None:
    parts = _parts(seed=1)
    path = _save(tmp_path, 0, 5, parts)
    model, head, optimizer = _parts(seed=2)
    state = ckpt.load_checkpoint(path, model=model, head=head, optimizer=optimizer, expect={"network": "n"})
    assert (state.epoch, state.global_step, state.step_in_epoch) == (1, 5, 0)
    for (name, a), b in zip(parts[0].state_dict().items(), model.state_dict().values(), strict=False):
        assert np.array_equal(a.numpy(), b.numpy()), name
    assert np.array_equal(head.weight.numpy(), parts[1].weight.numpy())
    with pytest.raises(ValueError, match="checkpoint has network='n', this run has 'm'"):
        ckpt.load_checkpoint(path, model=model, head=head, optimizer=optimizer, expect={"network": "m"})
    with pytest.raises(ValueError, match=r"backbone does not match the model \(missing \['2.bias', '2.weight'\]"):
        ckpt.load_backbone(
            path, paddle.nn.Sequential(paddle.nn.Linear(4, 8), paddle.nn.BatchNorm1D(8), paddle.nn.Linear(8, 2))
        )


def test_the_classifier_is_resharded_for_another_world_size(tmp_path: Path) -> None:
    full = PartialFC(8, 10, seed=3)
    full.weight.set_value(np.arange(80, dtype=np.float32).reshape(8, 10))
    full.velocity.set_value(-np.arange(80, dtype=np.float32).reshape(8, 10))
    model, _, optimizer = _parts()
    path = _save(tmp_path, 0, 1, (model, full, optimizer))
    for size in (2, 3):
        for rank in range(size):
            shard = PartialFC(8, 10, world=World(rank, size))
            ckpt.load_classifier(path, shard)
            lo, hi = shard.class_start, shard.class_start + shard.num_local
            assert np.array_equal(shard.weight.numpy(), full.weight.numpy()[:, lo:hi])
            assert np.array_equal(shard.velocity.numpy(), full.velocity.numpy()[:, lo:hi])
    with pytest.raises(ValueError, match="10 classes x 8-d, the run has 12 x 8"):
        ckpt.load_classifier(path, PartialFC(8, 12))


def test_v1_classifier_pickles_import_through_the_restricted_unpickler(tmp_path: Path) -> None:
    weight = np.random.default_rng(0).normal(size=(10, 8)).astype(np.float32)  # v1 layout: (num_local, D)
    (tmp_path / "rank:0_softmax_weight.pkl").write_bytes(pickle.dumps(weight, protocol=2))
    (tmp_path / "rank:0_softmax_weight_mom.pkl").write_bytes(pickle.dumps(weight * 2, protocol=4))
    w, v = ckpt.import_v1_classifier(tmp_path / "rank:0_softmax_weight.pkl", tmp_path / "rank:0_softmax_weight_mom.pkl")
    assert np.array_equal(w, weight.T) and np.array_equal(v, 2 * weight.T)

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    (tmp_path / "evil.pkl").write_bytes(pickle.dumps(Evil()))
    with pytest.raises(UnsafePickleError, match=r"builtins\.print"):
        ckpt.import_v1_classifier(tmp_path / "evil.pkl")
    (tmp_path / "f64.pkl").write_bytes(pickle.dumps(weight.astype(np.float64)))
    with pytest.raises(UnsafePickleError, match=r"numpy\.dtype is allowed only for"):
        ckpt.import_v1_classifier(tmp_path / "f64.pkl")
