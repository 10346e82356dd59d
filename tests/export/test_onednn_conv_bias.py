"""fuse_conv_bias_adds: the rewritten legacy program computes the same thing, in the form oneDNN fuses."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import paddle
import pytest

from faceid.export.onednn_conv_bias import fuse_conv_bias_adds
from faceid.export.program import save_program
from faceid.infer import PaddlePredictor


class _Residual(paddle.nn.Layer):
    """conv (bias) -> ReLU -> depthwise conv (bias) -> 1x1 conv (bias) + residual -> ReLU."""

    def __init__(self, bias: bool = True) -> None:
        super().__init__()
        options = {} if bias else {"bias_attr": False}
        self.conv = paddle.nn.Conv2D(3, 8, 3, padding=1, **options)
        self.dw = paddle.nn.Conv2D(8, 8, 3, padding=[1, 1, 1, 1], groups=8, **options)
        self.pw = paddle.nn.Conv2D(8, 8, 1, **options)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        h = paddle.nn.functional.relu(self.conv(x))
        return paddle.nn.functional.relu(self.pw(self.dw(h)) + h)


def _program_ops(path: Path) -> list:
    from paddle.base.framework import Program

    with paddle.pir_utils.OldIrGuard():
        return [
            (op.type, op.input_arg_names, op.attr("axis") if op.has_attr("axis") else None)
            for op in Program.parse_from_string(path.read_bytes()).global_block().ops
        ]


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray, np.ndarray]:
    paddle.seed(0)
    net = _Residual()
    for parameter in net.parameters():  # non-zero biases, so that a dropped bias would show
        parameter.set_value(np.random.default_rng(parameter.size).normal(0, 0.5, parameter.shape).astype("float32"))
    net.eval()
    prefix = tmp_path_factory.mktemp("conv_bias") / "inference"
    save_program(net, prefix, size=16, legacy=True)
    x = np.random.default_rng(1).uniform(-1, 1, size=(3, 3, 16, 16)).astype(np.float32)
    with paddle.no_grad():
        expected = net(paddle.to_tensor(x)).numpy()
    return prefix, x, expected


def test_rewrites_each_bias_add_and_keeps_the_numbers(exported, tmp_path: Path) -> None:
    prefix, x, expected = exported
    program, params = Path(f"{prefix}.pdmodel"), Path(f"{prefix}.pdiparams")
    before = _program_ops(program)
    assert sum(op == "reshape2" for op, _, _ in before) == 3  # Paddle 3.3.1's form: reshape2 + add(axis=-1)
    copy = tmp_path / "inference.pdmodel"
    copy.write_bytes(program.read_bytes())
    assert fuse_conv_bias_adds(copy) == 3
    after = _program_ops(copy)
    assert not any(op == "reshape2" for op, _, _ in after)
    bias_adds = [(inputs, axis) for op, inputs, axis in after if op == "elementwise_add" and "b_0" in str(inputs)]
    assert len(bias_adds) == 3 and all(axis == 1 for _, axis in bias_adds)
    residual = [axis for op, inputs, axis in after if op == "elementwise_add" and "b_0" not in str(inputs)]
    assert residual == [-1]  # the residual add is not a bias add: left alone
    for path in (program, copy):
        got = PaddlePredictor(path, params).run(x)
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_bf16_runs_after_the_rewrite(exported, tmp_path: Path, cpu_has_bf16: bool) -> None:
    """Before: enable_onednn_bfloat16 fails on the add ("float32 does not match bfloat16"); after: it runs."""
    if not cpu_has_bf16:
        pytest.skip("this CPU has no bf16 instructions (avx512_bf16 / amx_bf16)")
    prefix, x, expected = exported
    copy = tmp_path / "inference.pdmodel"
    copy.write_bytes(Path(f"{prefix}.pdmodel").read_bytes())
    with pytest.raises(Exception, match="bfloat16"):
        PaddlePredictor(copy, f"{prefix}.pdiparams", precision="bf16").run(x)
    fuse_conv_bias_adds(copy)
    got = PaddlePredictor(copy, f"{prefix}.pdiparams", precision="bf16").run(x)
    assert np.abs(got - expected).max() <= 0.05 * np.abs(expected).max()  # bf16: 8 bits of mantissa


def test_a_program_without_conv_biases_is_left_untouched(tmp_path: Path) -> None:
    net = _Residual(bias=False)
    net.eval()
    save_program(net, tmp_path / "inference", size=16, legacy=True)
    program = tmp_path / "inference.pdmodel"
    original = program.read_bytes()
    assert fuse_conv_bias_adds(program) == 0
    assert program.read_bytes() == original
