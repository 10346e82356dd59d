"""MediaPipe BlazeFace (short and full range): the ``.tflite`` -> Paddle converters (records in the registry).

The converters read the TFLite graph with :mod:`faceid.zoo.tflite` (no TensorFlow), check every convolution's
options against the Paddle net (:class:`faceid.models.blazeface.BlazeFaceShort`,
:class:`faceid.models.blazeface_full.BlazeFaceFull`), and map the fp16 weights (behind ``DEQUANTIZE``, and for full
range often behind ``DENSIFY`` too) onto its parameters. Converted weights are cached as ``.npz`` (never pickle)
under :func:`faceid.zoo.cache_dir`, named after the source file's SHA-256 so a different source is never served
from a stale cache.
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from faceid.zoo.registry import ModelRecord, cache_dir, get_record, source_file
from faceid.zoo.tflite import TFLiteModel, TFLiteOperator, read_tflite

if TYPE_CHECKING:
    from paddle import nn

    from faceid.models.blazeface import BlazeFaceShort
    from faceid.models.blazeface_full import BlazeFaceFull

__all__ = ["convert_blazeface_full", "convert_blazeface_short", "convert_into_cache", "load_blazeface"]

logger = logging.getLogger(__name__)

# TFLite head convolutions: (feature map side, output channels) -> Paddle layer name.
_HEADS = {(16, 2): "cls16", (16, 32): "reg16", (8, 6): "cls8", (8, 96): "reg8"}


def _conv_params(model: TFLiteModel, op: TFLiteOperator) -> tuple[np.ndarray, np.ndarray]:
    """(weight in Paddle's OIHW layout, bias) of a TFLite CONV_2D / DEPTHWISE_CONV_2D."""
    weight = model.constant(op.inputs[1])
    bias = model.constant(op.inputs[2])
    if op.op == "DEPTHWISE_CONV_2D":  # (1, KH, KW, C) -> (C, 1, KH, KW)
        return np.ascontiguousarray(weight.transpose(3, 0, 1, 2)), bias
    return np.ascontiguousarray(weight.transpose(0, 3, 1, 2)), bias  # (O, KH, KW, I) -> (O, I, KH, KW)


def _layer_names(model: TFLiteModel) -> list[tuple[str, TFLiteOperator]]:
    """Pair each TFLite convolution with the Paddle layer it fills, from the graph's structure."""
    pairs: list[tuple[str, TFLiteOperator]] = []
    block = 0
    for op in model.operators:
        if op.op not in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            continue
        consumers = {c.op for c in model.consumers(op.outputs[0])}
        out_shape = model.tensors[op.outputs[0]].shape
        if op.inputs[0] in model.inputs:
            pairs.append(("conv0", op))
        elif op.op == "DEPTHWISE_CONV_2D":
            pairs.append((f"blocks.{block}.dw", op))
        elif "ADD" in consumers:
            pairs.append((f"blocks.{block}.pw", op))
            block += 1
        elif "RESHAPE" in consumers and (out_shape[1], out_shape[3]) in _HEADS:
            pairs.append((_HEADS[(out_shape[1], out_shape[3])], op))
        else:
            raise ValueError(f"unexpected convolution #{op.index} with output {out_shape} feeding {sorted(consumers)}")
    return pairs


def _check_options(name: str, op: TFLiteOperator, stride: int) -> None:
    """Stride, activation and (for the 3x3/5x5 kernels) ``SAME`` padding must be what the Paddle layer does."""
    expected = {"stride_w": stride, "stride_h": stride, "activation": "NONE"}
    if not name.endswith(".pw") and not name.startswith(("cls", "reg")):
        expected["padding"] = "SAME"
    actual = {key: op.options.get(key) for key in expected}
    if actual != expected:
        raise ValueError(f"{name}: TFLite options {actual} do not match the Paddle layer's {expected}")


def convert_blazeface_short(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """Paddle state dict (float32 arrays) of :class:`BlazeFaceShort` from ``face_detection_short_range.tflite``."""
    from faceid.models.blazeface import BLAZEFACE_SHORT_BLOCKS

    model = read_tflite(path)
    pairs = _layer_names(model)
    names = [name for name, _ in pairs]
    expected = ["conv0"] + [f"blocks.{i}.{k}" for i in range(len(BLAZEFACE_SHORT_BLOCKS)) for k in ("dw", "pw")]
    if sorted(names) != sorted([*expected, *_HEADS.values()]):
        raise ValueError(f"{path}: the graph's convolutions {names} do not match BlazeFaceShort's {expected}")
    state: dict[str, np.ndarray] = {}
    for name, op in pairs:
        stride = 2 if name == "conv0" else 1
        if name.endswith(".dw"):
            stride = BLAZEFACE_SHORT_BLOCKS[int(name.split(".")[1])][2]
        _check_options(name, op, stride)
        state[f"{name}.weight"], state[f"{name}.bias"] = _conv_params(model, op)
    logger.info("converted %s: %d tensors", path, len(state))
    return state


# Full range: the one PAD the graph puts before every 3x3 convolution (NHWC: one pixel each side of H and W).
_PAD_ONE = [[0, 0], [1, 1], [1, 1], [0, 0]]


def _explicit_padding(model: TFLiteModel, op: TFLiteOperator) -> int:
    """Pixels of zero padding each side that a full-range convolution sees: 1 after the graph's ``PAD``, else 0
    (``SAME`` only occurs on 1x1 kernels, where it pads nothing)."""
    kernel = model.tensors[op.inputs[1]].shape[1:3]
    if op.options.get("padding") == "SAME" and kernel != (1, 1):
        raise ValueError(f"convolution #{op.index}: SAME padding on a {kernel} kernel (the net pads explicitly)")
    producer = model.producer(op.inputs[0])
    if producer is None or producer.op != "PAD":
        return 0
    pads = model.constant(producer.inputs[1]).tolist()
    if pads != _PAD_ONE:
        raise ValueError(f"PAD #{producer.index}: paddings {pads}, expected {_PAD_ONE}")
    return 1


def _full_activation(name: str, layers: dict[str, nn.Layer]) -> str:
    """The activation TFLite fuses into convolution ``name`` of :class:`BlazeFaceFull` (residual blocks apply
    their ReLU after the ``ADD`` instead)."""
    if name.endswith(".pw2"):
        return "NONE" if layers[name.rsplit(".", 1)[0]].residual else "RELU"
    relu = name == "stem" or name.startswith(("lateral.", "reduce.")) or name.endswith(".pw1")
    return "RELU" if relu else "NONE"


def _check_full_conv(model: TFLiteModel, name: str, op: TFLiteOperator, layers: dict[str, nn.Layer]) -> None:
    layer = layers[name]
    expected = {
        "op": "DEPTHWISE_CONV_2D" if layer._groups > 1 else "CONV_2D",
        "stride": (layer._stride[0], layer._stride[1]),
        "padding": layer._padding,
        "activation": _full_activation(name, layers),
        "dilation": (1, 1),
    }
    actual = {
        "op": op.op,
        "stride": (op.options.get("stride_h"), op.options.get("stride_w")),
        "padding": _explicit_padding(model, op),
        "activation": op.options.get("activation"),
        "dilation": (op.options.get("dilation_h"), op.options.get("dilation_w")),
    }
    if op.op == "DEPTHWISE_CONV_2D" and op.options.get("depth_multiplier") != 1:
        actual["op"] += f" (depth multiplier {op.options.get('depth_multiplier')})"
    if actual != expected:
        raise ValueError(f"{name}: TFLite convolution #{op.index} {actual} does not match the Paddle layer {expected}")


def _check_full_graph(model: TFLiteModel, names: dict[int, str]) -> None:
    """The non-convolution ops of the full-range graph do what :class:`BlazeFaceFull` does. ``names``: the layer
    name of each convolution's output tensor."""
    from faceid.models.blazeface_full import ALIGN_CORNERS, HALF_PIXEL_CENTERS

    known = {"PAD", "CONV_2D", "DEPTHWISE_CONV_2D", "ADD", "RESIZE_BILINEAR", "DEPTH_TO_SPACE", "RESHAPE"}
    for op in model.operators:
        if op.op in ("DEQUANTIZE", "DENSIFY"):
            continue
        if op.op not in known:
            raise ValueError(f"operator #{op.index} {op.op} is not part of BlazeFaceFull")
        sources = [names.get(i, "") for i in op.inputs]
        if op.op == "ADD":  # residual: ReLU fused; FPN merge of upsampled and lateral maps: none
            residual = any(s.endswith(".pw2") for s in sources)
            expected = "RELU" if residual else "NONE"
            if op.options.get("activation") != expected:
                raise ValueError(f"ADD #{op.index} of {sources}: activation {op.options.get('activation')}")
        elif op.op == "RESIZE_BILINEAR":
            flags = (op.options.get("align_corners"), op.options.get("half_pixel_centers"))
            if flags != (ALIGN_CORNERS, HALF_PIXEL_CENTERS):
                raise ValueError(f"RESIZE_BILINEAR #{op.index}: (align_corners, half_pixel_centers) = {flags}")
        elif op.op == "DEPTH_TO_SPACE" and op.options.get("block_size") != 2:
            raise ValueError(f"DEPTH_TO_SPACE #{op.index}: block size {op.options.get('block_size')}, expected 2")
    outputs = [model.tensors[i].shape for i in model.outputs]  # named Identity, Identity_1 in this file
    if outputs != [(1, 2304, 16), (1, 2304, 1)]:
        raise ValueError(f"outputs {outputs}, expected regressors (1, 2304, 16) then scores (1, 2304, 1)")


def convert_blazeface_full(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """Paddle state dict (float32 arrays) of :class:`BlazeFaceFull` from ``face_detection_full_range_sparse.tflite``.

    The graph's convolutions, in graph order, are paired with the net's in the order its forward runs them;
    kind, stride, padding, fused activation and weight shape are checked for each pair.
    """
    from faceid.models.blazeface_full import BlazeFaceFull

    model = read_tflite(path)
    net = BlazeFaceFull()
    order = net.conv_order()
    convs = [op for op in model.operators if op.op in ("CONV_2D", "DEPTHWISE_CONV_2D")]
    if len(convs) != len(order):
        raise ValueError(f"{path}: {len(convs)} convolutions in the graph, BlazeFaceFull has {len(order)}")
    layers = dict(net.named_sublayers())
    params = net.state_dict()
    state: dict[str, np.ndarray] = {}
    for name, op in zip(order, convs, strict=True):
        _check_full_conv(model, name, op, layers)
        weight, bias = _conv_params(model, op)
        for key, value in ((f"{name}.weight", weight), (f"{name}.bias", bias)):
            if tuple(params[key].shape) != value.shape:
                raise ValueError(f"{key}: TFLite #{op.index} gives {value.shape}, the net has {params[key].shape}")
            state[key] = value
    _check_full_graph(model, {op.outputs[0]: name for name, op in zip(order, convs, strict=True)})
    logger.info("converted %s: %d tensors", path, len(state))
    return state


# Architecture -> (converter, module holding the nn.Layer of that name).
_ARCHITECTURES: dict[str, tuple[Callable[..., dict[str, np.ndarray]], str]] = {
    "BlazeFaceShort": (convert_blazeface_short, "faceid.models.blazeface"),
    "BlazeFaceFull": (convert_blazeface_full, "faceid.models.blazeface_full"),
}


def _cache_path(record: ModelRecord) -> Path:
    """Converted weights, named after the source file's SHA-256 so another source is never served stale."""
    return cache_dir() / f"{record.name}-{(record.files[0].sha256 or 'unverified')[:16]}.npz"


def _convert(record: ModelRecord, source: str | os.PathLike[str] | None) -> dict[str, np.ndarray]:
    if record.architecture not in _ARCHITECTURES:
        raise ValueError(f"{record.name}: architecture {record.architecture} is not a BlazeFace")
    return _ARCHITECTURES[record.architecture][0](source_file(record.files[0], source))


def _save_state(cached: Path, state: dict[str, np.ndarray]) -> bool:
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_name(cached.name + f".{os.getpid()}.tmp.npz")
        np.savez(tmp, **state)
        Path(tmp).replace(cached)
    except OSError as error:  # a read-only home is no reason to fail
        logger.warning("could not cache converted weights at %s: %s", cached, error)
        return False
    return True


def convert_into_cache(name: str, source: str | os.PathLike[str] | None = None) -> Path:
    """Convert the BlazeFace ``name`` from the verified ``.tflite`` into the cache (once); the ``.npz`` path."""
    record = get_record(name)
    cached = _cache_path(record)
    if not cached.is_file() and not _save_state(cached, _convert(record, source)):
        raise OSError(f"{cached}: could not write the converted weights")
    return cached


def _cached_state(record: ModelRecord, source: str | os.PathLike[str] | None) -> dict[str, np.ndarray]:
    cached = _cache_path(record)
    if cached.is_file():
        with np.load(cached, allow_pickle=False) as archive:
            return {key: archive[key] for key in archive.files}
    state = _convert(record, source)
    _save_state(cached, state)
    return state


def load_blazeface(
    name: str = "blazeface_short", source: str | os.PathLike[str] | None = None
) -> BlazeFaceShort | BlazeFaceFull:
    """The pretrained BlazeFace ``name`` (``blazeface_short`` or ``blazeface_full``) in eval mode, converted from
    ``source`` (default ``$FACEID_MODEL_SOURCE``) or read from the cache."""
    import paddle

    record = get_record(name)
    state = _cached_state(record, source)
    net = getattr(importlib.import_module(_ARCHITECTURES[record.architecture][1]), record.architecture)()
    missing = set(net.state_dict()) ^ set(state)
    if missing:
        raise ValueError(f"{name}: converted weights and {record.architecture} disagree on {sorted(missing)}")
    net.set_state_dict({key: paddle.to_tensor(value) for key, value in state.items()})
    net.eval()
    return net
