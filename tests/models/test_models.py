"""Backbone registry and models: every registered model gets the same checks, so a new one is tested for free.

CPU only; each model is built a few times and run on batches of 2, which keeps the file under a minute
on two cores.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence

import numpy as np
import paddle
import pytest

from faceid.models import create_model, is_model, list_models, model_spec, register_model
from faceid.models.mobilefacenet import SLIM_CONFIG

MODELS = list_models()
ALIASES = {"FresResNet50": "iresnet50", "FresResNet100": "iresnet100"}


# ---- independent closed-form parameter counts (learnable parameters only) -------------------------


def _conv_bn(cin: int, cout: int, k: int, *, groups: int = 1, prelu: bool = True) -> int:
    """Bias-free conv + BN (scale, shift) + optional per-channel PReLU."""
    return cin // groups * cout * k * k + 2 * cout + (cout if prelu else 0)


def mobilefacenet_params(stem: int, table: Sequence[tuple[int, int, int, int]], width: int, emb: int) -> int:
    n = _conv_bn(3, stem, 3) + _conv_bn(stem, stem, 3, groups=stem)
    cin = stem
    for t, c, repeats, _stride in table:
        for _ in range(repeats):
            hidden = cin * t
            n += _conv_bn(cin, hidden, 1) + _conv_bn(hidden, hidden, 3, groups=hidden)
            n += _conv_bn(hidden, c, 1, prelu=False)
            cin = c
    n += _conv_bn(cin, width, 1) + _conv_bn(width, width, 7, groups=width, prelu=False)
    return n + _conv_bn(width, emb, 1, prelu=False)


def iresnet_params(units: Sequence[int], emb: int) -> int:
    n = _conv_bn(3, 64, 3)
    cin = 64
    for c, count in zip((64, 128, 256, 512), units, strict=False):
        for i in range(count):
            n += 2 * cin + _conv_bn(cin, c, 3) + _conv_bn(c, c, 3, prelu=False)
            if i == 0:
                n += _conv_bn(cin, c, 1, prelu=False)  # 1x1 stride-2 shortcut
            cin = c
    return n + 2 * 512 + (512 * 7 * 7 + 1) * emb + 2 * emb  # BN2d, Linear (+ bias), BN1d


# The MobileFaceNet paper's bottleneck table (t, c, n, s), as used by Arcface-Paddle.
PAPER_TABLE = [(2, 64, 5, 2), (4, 128, 1, 2), (2, 128, 6, 1), (4, 128, 1, 2), (2, 128, 2, 1)]
SLIM_TABLE = [tuple(stage) for stage in SLIM_CONFIG.stages]

CLOSED_FORM: dict[str, Callable[[int], int]] = {
    "MobileFaceNet_128": lambda emb: mobilefacenet_params(64, PAPER_TABLE, 512, emb),
    "MobileFaceNet_slim": lambda emb: mobilefacenet_params(
        SLIM_CONFIG.stem_channels, SLIM_TABLE, SLIM_CONFIG.conv_channels, emb
    ),
    "iresnet18": lambda emb: iresnet_params((2, 2, 2, 2), emb),
    "iresnet34": lambda emb: iresnet_params((3, 4, 6, 3), emb),
    "iresnet50": lambda emb: iresnet_params((3, 4, 14, 3), emb),
    "iresnet100": lambda emb: iresnet_params((3, 13, 30, 3), emb),
}


def learnable_params(model: paddle.nn.Layer) -> int:
    """Trainable parameters; BN running mean/variance are non-trainable parameters in Paddle."""
    return sum(int(np.prod(p.shape)) for p in model.parameters() if not p.stop_gradient)


# ---- helpers --------------------------------------------------------------------------------------


def faces(n: int = 2, seed: int = 0) -> paddle.Tensor:
    """(n, 3, 112, 112) float32 in [-1, 1], like normalised aligned faces."""
    rng = np.random.default_rng(seed)
    return paddle.to_tensor(rng.uniform(-1.0, 1.0, (n, 3, 112, 112)).astype(np.float32))


@pytest.fixture(scope="module")
def built() -> Iterator[Callable[[str], paddle.nn.Layer]]:
    """Models at their default embedding size, built once per module with ``paddle.seed(0)``."""
    cache: dict[str, paddle.nn.Layer] = {}

    def get(name: str) -> paddle.nn.Layer:
        if name not in cache:
            paddle.seed(0)
            cache[name] = create_model(name)
        return cache[name]

    yield get
    cache.clear()


# ---- registry -------------------------------------------------------------------------------------


def test_registry_lists_canonical_names_sorted() -> None:
    assert sorted(MODELS) == MODELS
    assert set(CLOSED_FORM) <= set(MODELS)
    assert not set(ALIASES) & set(MODELS)
    assert all(is_model(name) for name in [*MODELS, *ALIASES])
    assert not is_model("iresnet101")


def test_unknown_model_names_the_model_and_lists_known_ones() -> None:
    with pytest.raises(ValueError, match="unknown model 'resnet9000'") as info:
        create_model("resnet9000")
    assert all(name in str(info.value) for name in MODELS)
    with pytest.raises(ValueError, match="unknown model"):
        model_spec("resnet9000")


def test_register_model_rejects_taken_names_and_factories_without_embedding_size() -> None:
    def iresnet50(embedding_size: int = 4) -> paddle.nn.Layer:
        raise AssertionError("never called")

    with pytest.raises(ValueError, match="'iresnet50' is already registered"):
        register_model(iresnet50)
    with pytest.raises(ValueError, match="'FresResNet50' is already registered"):
        register_model(name="brand_new", aliases=("FresResNet50",))(iresnet50)
    with pytest.raises(TypeError, match="embedding_size"):
        register_model(lambda: None)
    assert not is_model("brand_new")


def test_specs_describe_the_families() -> None:
    assert model_spec("MobileFaceNet_128").embedding_size == 128
    assert model_spec("MobileFaceNet_slim").embedding_size == 128
    for name in ("iresnet18", "iresnet34", "iresnet50", "iresnet100"):
        assert model_spec(name).family == "iresnet"
        assert model_spec(name).embedding_size == 512
    assert model_spec("FresResNet100") is model_spec("iresnet100")


def test_factory_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="dropout"):
        create_model("iresnet18", dropout=1.0)
    with pytest.raises(ValueError, match="embedding_size"):
        create_model("MobileFaceNet_slim", embedding_size=0)
    with pytest.raises(TypeError):
        create_model("MobileFaceNet_slim", dropout=0.1)  # not a MobileFaceNet option


# ---- every model ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", MODELS)
def test_train_step_reaches_every_parameter(name: str, built: Callable[[str], paddle.nn.Layer]) -> None:
    model = built(name)
    model.train()
    out = model(faces(2))
    assert out.shape == [2, model_spec(name).embedding_size]
    assert out.dtype == paddle.float32
    assert np.isfinite(out.numpy()).all()
    # A random projection, not out.sum(): the sum of a train-mode BatchNorm's output is its bias times N.
    weights = paddle.to_tensor(np.random.default_rng(1).standard_normal(out.shape).astype(np.float32))
    (out * weights).sum().backward()
    missing = [n for n, p in model.named_parameters() if not p.stop_gradient and p.grad is None]
    zero = [n for n, p in model.named_parameters() if p.grad is not None and not p.grad.abs().max().item() > 0]
    assert not missing, f"no gradient for {missing}"
    assert not zero, f"zero (or NaN) gradient for {zero}"
    model.clear_gradients()


@pytest.mark.parametrize("name", MODELS)
def test_eval_is_deterministic_per_sample_and_sized(name: str) -> None:
    paddle.seed(0)
    model = create_model(name, embedding_size=64)
    model.eval()
    x = faces(2, seed=2)
    with paddle.no_grad():
        first, again, alone = model(x), model(x), model(x[:1])
    assert first.shape == [2, 64]
    assert first.dtype == paddle.float32
    assert np.isfinite(first.numpy()).all()
    np.testing.assert_array_equal(first.numpy(), again.numpy())
    # Eval-mode BatchNorm uses running statistics, so a sample's embedding does not depend on its batch.
    np.testing.assert_allclose(alone.numpy(), first.numpy()[:1], rtol=1e-4, atol=1e-5)
    if name in CLOSED_FORM:
        assert learnable_params(model) == CLOSED_FORM[name](64)


@pytest.mark.parametrize("name", MODELS)
def test_parameter_count(name: str, built: Callable[[str], paddle.nn.Layer]) -> None:
    spec = model_spec(name)
    count = learnable_params(built(name))
    assert name in CLOSED_FORM or spec.published_params, f"{name}: add a closed-form or published parameter count"
    if name in CLOSED_FORM:
        assert count == CLOSED_FORM[name](spec.embedding_size)
    if spec.published_params:
        assert spec.params_source
        assert count == pytest.approx(spec.published_params, rel=0.01), spec.params_source


def test_published_counts_are_the_expected_ones() -> None:
    """The published figures themselves (OpenVINO Open Model Zoo "MParams" of insightface's MXNet
    LResNet{34,50,100}E-IR, 512-d): 34.129M, 43.576M, 65.131M. No figure is published for r18."""
    assert model_spec("iresnet34").published_params == 34_129_000
    assert model_spec("iresnet50").published_params == 43_576_000
    assert model_spec("iresnet100").published_params == 65_131_000
    assert model_spec("iresnet18").published_params is None


def test_mobilefacenet_128_size(built: Callable[[str], paddle.nn.Layer]) -> None:
    # The MobileFaceNet paper quotes 0.99M parameters; with BN and PReLU parameters counted it is ~1.0M.
    assert 1_000_000 <= learnable_params(built("MobileFaceNet_128")) <= 1_200_000


@pytest.mark.parametrize(("alias", "name"), sorted(ALIASES.items()))
def test_alias_builds_the_same_model(alias: str, name: str, built: Callable[[str], paddle.nn.Layer]) -> None:
    assert model_spec(alias) is model_spec(name)
    reference = built(name)
    model = create_model(alias)
    assert type(model) is type(reference)
    shapes = {k: v.shape for k, v in model.state_dict().items()}
    assert shapes == {k: v.shape for k, v in reference.state_dict().items()}


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("shape", [(2, 3, 96, 96), (2, 1, 112, 112), (2, 112, 112, 3), (3, 112, 112)])
def test_bad_input_shape(name: str, shape: tuple[int, ...], built: Callable[[str], paddle.nn.Layer]) -> None:
    expected = f"expected input of shape (N, 3, 112, 112), got {shape}"
    with pytest.raises(ValueError, match=re.escape(expected)):
        built(name)(paddle.zeros(shape, dtype="float32"))
