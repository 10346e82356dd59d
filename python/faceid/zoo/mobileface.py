"""MobileFace Identification V2 (MXNet) as a Paddle model: a small interpreter of the MXNet symbol graph.

The symbol JSON is parsed into a plan of steps (pure Python, no Paddle); :func:`build_mxnet_graph` turns the plan
and the ``.params`` arrays (read by :mod:`faceid.zoo.mxnet_params`) into a ``paddle.nn.Layer`` whose forward runs
the steps with Paddle ops, so ``paddle.jit.save`` (and :func:`faceid.export.export_model`) can export it.

The MobileFace graph preprocesses raw pixels itself (``(x - 127.5) * 0.0078125``, i.e. ``/ 128``) and expects
**RGB** (chosen by measurement: RGB separates same/different LFW pairs better than BGR). The converted network
bakes the step back from the exporter's input convention: it takes RGB ``(pixel - 127.5) / 127.5`` like every
faceid export, rebuilds the pixels and runs the graph unchanged.
"""

from __future__ import annotations

import functools
import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from faceid.zoo.mxnet_params import read_params
from faceid.zoo.registry import cache_dir, get_record, source_file

__all__ = [
    "GraphStep",
    "build_mobileface_v2",
    "build_mxnet_graph",
    "cached_export",
    "convert_mobileface_v2",
    "parse_symbol",
]

logger = logging.getLogger(__name__)

_SCALAR_OPS = {  # op -> (scale, shift) as functions of the scalar: y = scale * x + shift
    "_plus_scalar": lambda s: (1.0, s),
    "_minus_scalar": lambda s: (1.0, -s),
    "_rminus_scalar": lambda s: (-1.0, s),
    "_mul_scalar": lambda s: (s, 0.0),
    "_div_scalar": lambda s: (1.0 / s, 0.0),
}


@dataclass(frozen=True)
class GraphStep:
    """One operator of the graph: ``op`` applied to earlier values ``inputs`` (0 = the network input)."""

    op: str
    name: str
    inputs: tuple[int, ...]
    attrs: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)  # role (weight, bias, gamma, ...) -> .params key


def _tuple(text: str) -> tuple[int, ...]:
    return tuple(int(v) for v in text.strip("()[] ").split(",") if v.strip())


_PARAM_ROLES = {
    "Convolution": ("weight", "bias"),
    "FullyConnected": ("weight", "bias"),
    "BatchNorm": ("gamma", "beta", "moving_mean", "moving_var"),
    "LeakyReLU": ("gamma",),
}


def _param_key(node_name: str, names: set[str]) -> str | None:
    for prefix in ("arg:", "aux:"):
        if prefix + node_name in names:
            return prefix + node_name
    return None


def parse_symbol(symbol: dict[str, Any], param_names: set[str], source: str = "symbol") -> list[GraphStep]:
    """The operator steps of an MXNet symbol JSON, in order; the single non-parameter variable is the input.

    ``ValueError`` naming ``source`` for an unsupported operator, a multi-output reference, a missing parameter
    or not exactly one input variable / output head.
    """
    nodes = symbol.get("nodes")
    if not isinstance(nodes, list) or len(symbol.get("heads", ())) != 1:
        raise ValueError(f"{source}: expected a symbol graph with 'nodes' and exactly one output head")
    value_of: dict[int, int] = {}  # node id -> value index
    params_of: dict[int, str] = {}  # node id -> .params key
    steps: list[GraphStep] = []
    for node_id, node in enumerate(nodes):
        op, name = node["op"], node["name"]
        if op == "null":
            key = _param_key(name, param_names)
            if key is not None:
                params_of[node_id] = key
            elif 0 in value_of.values():
                raise ValueError(f"{source}: more than one input variable ({name!r} has no weights)")
            else:
                value_of[node_id] = 0
            continue
        if op not in _OPS:
            raise ValueError(f"{source}: operator {op!r} ({name}) is not supported; supported: {sorted(_OPS)}")
        inputs, params = [], {}
        roles = iter(_PARAM_ROLES.get(op, ()))
        for ref in node["inputs"]:
            if ref[0] in params_of:
                params[next(roles, f"extra{len(params)}")] = params_of[ref[0]]
            elif ref[0] in value_of and (len(ref) < 2 or ref[1] == 0):
                inputs.append(value_of[ref[0]])
            else:
                raise ValueError(f"{source}: {name} reads output {ref[1:2]} of node {ref[0]}; only output 0 is used")
        attrs = node.get("attrs", node.get("attr", node.get("param", {}))) or {}
        steps.append(GraphStep(op, name, tuple(inputs), dict(attrs), params))
        value_of[node_id] = len(steps)
    head = symbol["heads"][0][0]
    if value_of.get(head) != len(steps):
        raise ValueError(f"{source}: the output head is not the last operator")
    return steps


def _conv(paddle: Any, step: GraphStep, args: list[Any], p: dict[str, Any]) -> Any:
    a = step.attrs
    ndim = len(_tuple(a["kernel"]))
    return paddle.nn.functional.conv2d(
        args[0],
        p["weight"],
        p.get("bias"),
        stride=_tuple(a.get("stride", "")) or (1,) * ndim,
        padding=_tuple(a.get("pad", "")) or (0,) * ndim,
        dilation=_tuple(a.get("dilate", "")) or (1,) * ndim,
        groups=int(a.get("num_group", 1)),
    )


def _pool(paddle: Any, step: GraphStep, args: list[Any], p: dict[str, Any]) -> Any:
    F, a, x = paddle.nn.functional, step.attrs, args[0]  # noqa: N806
    kind = a.get("pool_type", "max")
    if a.get("global_pool", "False") == "True":
        return F.adaptive_max_pool2d(x, 1) if kind == "max" else F.adaptive_avg_pool2d(x, 1)
    kernel = _tuple(a["kernel"])
    stride = _tuple(a.get("stride", "")) or (1, 1)
    pad = _tuple(a.get("pad", "")) or (0, 0)
    ceil = a.get("pooling_convention", "valid") == "full"
    if kind == "max":
        return F.max_pool2d(x, kernel, stride, pad, ceil_mode=ceil)
    exclusive = a.get("count_include_pad", "True") != "True"
    return F.avg_pool2d(x, kernel, stride, pad, ceil_mode=ceil, exclusive=exclusive)


def _batch_norm(paddle: Any, step: GraphStep, args: list[Any], p: dict[str, Any]) -> Any:
    gamma = paddle.ones_like(p["gamma"]) if step.attrs.get("fix_gamma", "True") == "True" else p["gamma"]
    eps = float(step.attrs.get("eps", 1e-3))
    mean, var = p["moving_mean"], p["moving_var"]
    return paddle.nn.functional.batch_norm(args[0], mean, var, gamma, p["beta"], training=False, epsilon=eps)


_ACTIVATIONS: dict[str, Callable[[Any, Any, GraphStep, dict[str, Any]], Any]] = {
    "relu": lambda paddle, x, step, p: paddle.nn.functional.relu(x),
    "sigmoid": lambda paddle, x, step, p: paddle.nn.functional.sigmoid(x),
    "tanh": lambda paddle, x, step, p: paddle.tanh(x),
    "softrelu": lambda paddle, x, step, p: paddle.nn.functional.softplus(x),
    "leaky": lambda paddle, x, step, p: paddle.nn.functional.leaky_relu(x, float(step.attrs.get("slope", 0.25))),
    "prelu": lambda paddle, x, step, p: paddle.nn.functional.prelu(x, p["gamma"]),
    "elu": lambda paddle, x, step, p: paddle.nn.functional.elu(x, float(step.attrs.get("slope", 0.25))),
}


def _activation_kind(step: GraphStep) -> str:
    return step.attrs.get("act_type", "leaky" if step.op == "LeakyReLU" else "relu")


def _activation(paddle: Any, step: GraphStep, args: list[Any], p: dict[str, Any]) -> Any:
    kind = _activation_kind(step)
    if kind not in _ACTIVATIONS:
        raise ValueError(f"{step.name}: activation {kind!r} is not supported; supported: {sorted(_ACTIVATIONS)}")
    return _ACTIVATIONS[kind](paddle, args[0], step, p)


def _fully_connected(paddle: Any, step: GraphStep, args: list[Any], p: dict[str, Any]) -> Any:
    x = paddle.flatten(args[0], start_axis=1) if step.attrs.get("flatten", "True") == "True" else args[0]
    return paddle.nn.functional.linear(x, p["weight"], p.get("bias"))  # weight stored (in, num_hidden)


def _scalar(paddle: Any, step: GraphStep, args: list[Any], p: dict[str, Any]) -> Any:
    scale, shift = _SCALAR_OPS[step.op](float(step.attrs["scalar"]))
    return paddle.scale(args[0], scale=scale, bias=shift)


_Op = Callable[[Any, GraphStep, list[Any], dict[str, Any]], Any]
"""``op(paddle, step, input values, parameters by role) -> output``."""

_OPS: dict[str, _Op] = {
    **dict.fromkeys(_SCALAR_OPS, _scalar),
    "_maximum_scalar": lambda paddle, step, args, p: paddle.clip(args[0], min=float(step.attrs["scalar"])),
    "_minimum_scalar": lambda paddle, step, args, p: paddle.clip(args[0], max=float(step.attrs["scalar"])),
    **dict.fromkeys(("Dropout", "_copy", "identity"), lambda paddle, step, args, p: args[0]),
    **dict.fromkeys(
        ("elemwise_add", "_Plus", "_plus", "broadcast_add"), lambda paddle, step, args, p: args[0] + args[1]
    ),
    **dict.fromkeys(("elemwise_mul", "_Mul", "_mul", "broadcast_mul"), lambda paddle, step, args, p: args[0] * args[1]),
    "Convolution": _conv,
    "BatchNorm": _batch_norm,
    "Activation": _activation,
    "LeakyReLU": _activation,
    "Pooling": _pool,
    "Flatten": lambda paddle, step, args, p: paddle.flatten(args[0], start_axis=1),
    "FullyConnected": _fully_connected,
}


@functools.cache
def _graph_layer_class() -> type:
    """The Paddle layer class (built on first use so that importing this module does not import Paddle)."""
    import paddle

    class MXNetGraph(paddle.nn.Layer):
        """Runs parsed MXNet steps with Paddle ops; input RGB ``(pixel - 127.5) / 127.5``, rebuilt to pixels."""

        def __init__(self, steps: list[GraphStep], arrays: dict[str, np.ndarray], input_color: str) -> None:
            super().__init__()
            self._steps = steps
            self._flip = input_color == "BGR"
            self._tensors: dict[str, str] = {}  # .params key -> attribute name
            transposed = {s.params["weight"] for s in steps if s.op == "FullyConnected"}  # MXNet: (out, in)
            for key in sorted({k for step in steps for k in step.params.values()}):
                attr = "p_" + "".join(c if c.isalnum() else "_" for c in key)
                array = arrays[key].T if key in transposed else arrays[key]
                value = paddle.to_tensor(np.ascontiguousarray(array, dtype=np.float32))
                if key.startswith("aux:"):
                    self.register_buffer(attr, value, persistable=True)
                else:
                    param = self.create_parameter(list(value.shape), dtype="float32")
                    param.set_value(value)
                    self.add_parameter(attr, param)
                self._tensors[key] = attr

        def prelu_slopes(self) -> list[paddle.Tensor]:
            """The slope parameters this graph's PReLU steps apply (see :mod:`faceid.export.onednn_bf16`)."""
            keys = {
                step.params["gamma"]
                for step in self._steps
                if step.op in ("Activation", "LeakyReLU")
                and _activation_kind(step) == "prelu"
                and "gamma" in step.params
            }
            return [getattr(self, self._tensors[key]) for key in sorted(keys)]

        def forward(self, x: paddle.Tensor) -> paddle.Tensor:
            x = paddle.scale(x, scale=127.5, bias=127.5)  # back to pixels: the graph normalises itself
            if self._flip:
                x = paddle.flip(x, axis=[1])
            values = [x]
            for step in self._steps:
                args = [values[i] for i in step.inputs]
                tensors = {role: getattr(self, self._tensors[key]) for role, key in step.params.items()}
                values.append(_OPS[step.op](paddle, step, args, tensors))
            return values[-1]

    return MXNetGraph


def build_mxnet_graph(
    symbol_path: str | os.PathLike[str], params_path: str | os.PathLike[str], *, input_color: str = "RGB"
) -> Any:
    """A ``paddle.nn.Layer`` (eval mode) running the MXNet checkpoint ``symbol_path`` + ``params_path``.

    Input: float32 (N, 3, H, W) RGB ``(pixel - 127.5) / 127.5``; ``input_color`` is the order the graph was
    trained on (``BGR`` flips the channels inside the network).
    """
    if input_color not in ("RGB", "BGR"):
        raise ValueError(f"input_color must be RGB or BGR, got {input_color!r}")
    arrays = read_params(params_path)
    try:
        symbol = json.loads(Path(symbol_path).read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{symbol_path}: not a JSON symbol graph ({error})") from error
    steps = parse_symbol(symbol, set(arrays), source=str(symbol_path))
    unused = set(arrays) - {key for step in steps for key in step.params.values()}
    if unused:
        logger.warning("%s: %d arrays not used by the graph (e.g. %s)", params_path, len(unused), min(unused))
    model = _graph_layer_class()(steps, arrays, input_color)
    model.eval()
    logger.info("built %d MXNet steps from %s (%d arrays)", len(steps), symbol_path, len(arrays))
    return model


def build_mobileface_v2(source: str | os.PathLike[str] | None = None) -> Any:
    """The MobileFace V2 network (eval mode) from the verified files in the model source folder ``source``
    (default ``$FACEID_MODEL_SOURCE``). Input RGB ``(pixel - 127.5) / 127.5``, output (N, 256) raw embeddings."""
    record = get_record("mobileface_v2")
    symbol, params = (source_file(entry, source) for entry in record.files)
    return build_mxnet_graph(symbol, params, input_color=record.color)


def convert_mobileface_v2(
    source: str | os.PathLike[str] | None = None, output: str | os.PathLike[str] | None = None
) -> Path:
    """Convert MobileFace V2 and export it with :func:`faceid.export.export_model`; returns the export folder.

    ``output`` defaults to ``faceid.zoo.cache_dir() / "mobileface_v2"``. The export is written under a
    temporary name and renamed into place (replacing an older one whole), so a crash never leaves a
    half-written export that looks complete.
    """
    from faceid.export import export_model

    name = "mobileface_v2"
    target = Path(output) if output is not None else cache_dir() / name
    model = build_mobileface_v2(source)
    origin = f"{name}: MobileFace Identification V2 (MXNet, MIT) converted by faceid.zoo.mobileface"
    kwargs = {"network": name, "embedding_size": get_record(name).extra["embedding_size"], "source": origin}
    try:  # written beside the target and swapped into place whole (see export_model)
        export_model(model, target, **kwargs)
    except OSError:
        if not (target / "faceid.json").is_file():
            raise
        logger.info("%s appeared while converting (another process); keeping it", target)
    logger.info("converted %s into %s", name, target)
    return target


def cached_export(name: str = "mobileface_v2", source: str | os.PathLike[str] | None = None) -> Path:
    """The export folder of ``name`` in ``faceid.zoo.cache_dir()``, converted from the verified files of ``source``
    (default ``$FACEID_MODEL_SOURCE``) on first use; the registry's converter and loader for MobileFace V2."""
    if name != "mobileface_v2":
        raise ValueError(f"faceid.zoo.mobileface converts mobileface_v2, not {name!r}")
    target = cache_dir() / name
    if (target / "faceid.json").is_file():
        return target
    logger.info("converting pretrained model %s into %s (first use)", name, target)
    return convert_mobileface_v2(source=source, output=target)
