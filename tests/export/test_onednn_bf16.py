"""The bf16 program variant for oneDNN: slope packing, where it is written, and that the Recognizer gets bf16."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import paddle
import pytest

from faceid.export import export_model
from faceid.export.onednn_bf16 import BF16_PREFIX, bf16_bits, packed_slopes, prelu_slopes
from faceid.models import create_model


def test_bf16_bits_round_to_nearest_even() -> None:
    # Hand-worked: float32 bits -> upper half, rounded on the lower half (ties to even).
    values = np.array([0.25, 1 / 3, -0.1, 1.0 + 2**-8, 1.0 + 3 * 2**-8, 65504.0], dtype=np.float32)
    expected = [0x3E80, 0x3EAB, 0xBDCD, 0x3F80, 0x3F82, 0x4780]
    assert bf16_bits(values).tolist() == expected


def test_packed_slopes_hold_the_bf16_bits_in_the_first_half_words() -> None:
    slopes = np.array([0.25, 1 / 3, -0.1, 0.5, 0.125], dtype=np.float32)
    packed = packed_slopes(slopes)
    assert packed.dtype == np.float32 and packed.shape == slopes.shape
    halves = packed.view(np.uint16)
    assert halves[:5].tolist() == [0x3E80, 0x3EAB, 0xBDCD, 0x3F00, 0x3E00]
    assert not halves[5:].any()


def test_prelu_slopes_of_layers_and_of_converted_mxnet_graphs() -> None:
    from faceid.zoo.mobileface import GraphStep, _graph_layer_class

    model = create_model("MobileFaceNet_slim", embedding_size=32)
    assert len(prelu_slopes(model)) == sum(isinstance(m, paddle.nn.PReLU) for m in model.sublayers()) > 0
    assert prelu_slopes(create_model("iresnet18", embedding_size=32))

    steps = [
        GraphStep("LeakyReLU", "act0", (0,), {"act_type": "prelu"}, {"gamma": "arg:g0"}),
        GraphStep("Activation", "act1", (1,), {"act_type": "relu"}),
    ]
    gamma = np.array([0.1, 0.2, 0.3], dtype=np.float32)
    graph = _graph_layer_class()(steps, {"arg:g0": gamma}, "RGB")
    (slope,) = prelu_slopes(graph)
    np.testing.assert_array_equal(slope.numpy(), gamma)


def test_export_writes_the_variant_and_leaves_the_model_as_it_was(tmp_path: Path) -> None:
    paddle.seed(1)
    model = create_model("MobileFaceNet_slim", embedding_size=32)
    before = [s.numpy().copy() for s in prelu_slopes(model)]
    result = export_model(model, tmp_path, network="MobileFaceNet_slim", embedding_size=32)
    assert result["onednn_bf16_json"] == tmp_path / f"{BF16_PREFIX}.json"
    assert (tmp_path / f"{BF16_PREFIX}.pdiparams").is_file()
    for slope, value in zip(prelu_slopes(model), before, strict=True):
        np.testing.assert_array_equal(slope.numpy(), value)


def test_recognizer_runs_bf16_through_the_variant_where_the_cpu_has_bf16(exported_model, cpu_has_bf16: bool) -> None:
    from faceid.pipeline import Recognizer

    directory, _ = exported_model
    faces = np.random.default_rng(4).integers(0, 256, size=(6, 112, 112, 3), dtype=np.uint8)
    fp32 = Recognizer(directory).embed_normalized(faces)
    bf16 = Recognizer(directory, precision="bf16")
    if not cpu_has_bf16:
        pytest.skip("this CPU has no bf16 instructions (avx512_bf16 / amx_bf16)")
    assert bf16.precision == "bf16"
    assert bf16.program.name in ("inference.json", f"{BF16_PREFIX}.json")
    assert (bf16.embed_normalized(faces) * fp32).sum(axis=1).min() >= 0.99
