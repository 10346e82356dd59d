"""The detector's export: the rewritten BlazeFace computes what the original does, its carried channels are exact
zeros, and the program is the one-output, fusable form."""

from __future__ import annotations

import collections

import numpy as np
import paddle
import pytest

from faceid.export.detector_program import SplitBlazeBlock, export_detector, fusable_copy
from faceid.infer import PaddlePredictor
from faceid.models.blazeface import BlazeBlock, BlazeFaceShort


@pytest.fixture(scope="module")
def net() -> BlazeFaceShort:
    """BlazeFace short range with random weights and non-zero biases (nothing here needs the real ones)."""
    paddle.seed(0)
    model = BlazeFaceShort()
    for parameter in model.parameters():
        std = 0.3 / np.sqrt(max(1, np.prod(parameter.shape[1:])))
        values = np.random.default_rng(parameter.size).normal(0, std if parameter.ndim > 1 else 0.1, parameter.shape)
        parameter.set_value(values.astype("float32"))
    model.eval()
    return model


@pytest.fixture(scope="module")
def batch() -> np.ndarray:
    return np.random.default_rng(1).uniform(-1, 1, size=(3, 3, 128, 128)).astype(np.float32)


def _outputs(model: paddle.nn.Layer, batch: np.ndarray) -> list[np.ndarray]:
    with paddle.no_grad():
        return [t.numpy() for t in model(paddle.to_tensor(batch))]


def test_the_copy_computes_the_same_numbers(net: BlazeFaceShort, batch: np.ndarray) -> None:
    before = {name: p.numpy().copy() for name, p in net.named_parameters()}
    copy = fusable_copy(net)
    for ours, reference in zip(_outputs(copy, batch), _outputs(net, batch), strict=True):
        np.testing.assert_allclose(ours, reference, rtol=1e-5, atol=1e-5)
    assert all(type(b) is BlazeBlock for b in net.blocks)  # the original is left as it was
    assert all(np.array_equal(p.numpy(), before[name]) for name, p in net.named_parameters())
    kinds = collections.Counter(type(b).__name__ for b in copy.blocks)
    assert kinds == {"SplitBlazeBlock": 8, "BlazeBlock": 8}
    assert not any(isinstance(b, BlazeBlock) and b.channel_pad for b in copy.blocks)  # no zero-padded shortcut


def test_carried_channels_are_exact_zeros(net: BlazeFaceShort, batch: np.ndarray) -> None:
    """On the 64x64 map the copy carries 28 channels from the first convolution on: the first block's output is
    the original's in the leading 24 and zero in the other 4; same on the 32x32 map (42 wide)."""
    copy = fusable_copy(net)
    assert copy.conv0.weight.shape[0] == 28 and isinstance(copy.blocks[2], SplitBlazeBlock)
    seen: dict[str, np.ndarray] = {}
    hooks = [
        layer.register_forward_post_hook(lambda _l, _i, out, key=key: seen.__setitem__(key, out.numpy()))
        for key, layer in (("ours0", copy.blocks[0]), ("theirs0", net.blocks[0]),
                           ("ours3", copy.blocks[3]), ("theirs3", net.blocks[3]))
    ]  # fmt: skip
    try:
        _outputs(copy, batch)
        _outputs(net, batch)
    finally:
        for hook in hooks:
            hook.remove()
    for ours, theirs, width in (("ours0", "theirs0", 28), ("ours3", "theirs3", 42)):
        real = seen[theirs].shape[1]
        assert seen[ours].shape[1] == width and real < width
        np.testing.assert_allclose(seen[ours][:, :real], seen[theirs], rtol=1e-5, atol=1e-6)
        assert not seen[ours][:, real:].any()


def test_the_program_has_one_output_and_no_zero_padding(net: BlazeFaceShort, batch: np.ndarray, tmp_path) -> None:
    from paddle.base.framework import Program

    program, params = export_detector(net, tmp_path / "inference", 128)
    with paddle.pir_utils.OldIrGuard():
        ops = collections.Counter(op.type for op in Program.parse_from_string(program.read_bytes()).global_block().ops)
    assert ops["reshape2"] == 4  # the four heads' flattening; no reshaped biases left
    assert ops["concat"] == 8 + 2 + 1  # split blocks, the heads' anchors, regressors + logits: no zero padding
    predictor = PaddlePredictor(program, params)
    assert predictor.output_name and len(predictor.run_outputs(batch)) == 1
    regressors, logits = _outputs(net, batch)
    np.testing.assert_allclose(predictor.run(batch), np.concatenate([regressors, logits], -1), rtol=1e-4, atol=1e-4)


def test_another_net_is_copied_as_it_is() -> None:
    layer = paddle.nn.Sequential(paddle.nn.Conv2D(3, 4, 3))
    copy = fusable_copy(layer)
    assert copy is not layer and isinstance(copy[0], paddle.nn.Conv2D)
    assert np.array_equal(copy[0].weight.numpy(), layer[0].weight.numpy())
