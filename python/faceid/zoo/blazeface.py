"""MediaPipe BlazeFace: the pretrained records and the ``.tflite`` -> Paddle weight converter.

The converter reads the TFLite graph with :mod:`faceid.zoo.tflite` (no TensorFlow), checks every convolution's
options against :class:`faceid.models.blazeface.BlazeFaceShort`, and maps the fp16 weights (behind ``DEQUANTIZE``)
onto its parameters. Converted weights are cached as ``.npz`` (never pickle) under :func:`faceid.zoo.cache_dir`,
named after the source file's SHA-256 so a different source is never served from a stale cache.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from faceid.zoo.registry import ModelRecord, SourceFile, cache_dir, get_record, register, source_file
from faceid.zoo.tflite import TFLiteModel, TFLiteOperator, read_tflite

if TYPE_CHECKING:
    from faceid.models.blazeface import BlazeFaceShort

__all__ = ["BLAZEFACE_SHORT", "convert_blazeface_short", "load_blazeface"]

logger = logging.getLogger(__name__)

_WHEEL = "https://pypi.org/project/mediapipe/0.10.21/#files"
_WHEEL_DIR = "mediapipe/modules/face_detection/"
_LICENCE = "Apache-2.0 (MediaPipe, from the mediapipe 0.10.21 wheel; blazeface/LICENSE)"

BLAZEFACE_SHORT = register(
    ModelRecord(
        name="blazeface_short",
        task="detection",
        architecture="BlazeFaceShort",
        input_size=(128, 128),
        color="RGB",
        mean=(127.5, 127.5, 127.5),
        std=(127.5, 127.5, 127.5),
        files=(
            SourceFile(
                path="blazeface/face_detection_short_range.tflite",
                sha256="bbff11cebd1eb27a1e004cae0b0e63ec8c551cbf34a4451148b4908b8db3eca8",
                url=_WHEEL,
            ),
        ),
        licence=_LICENCE,
        caution="Short range: faces that fill a good part of the 128x128 frame (selfies, portraits); "
        "use tiling for group photos.",
        extra={
            "wheel_member": _WHEEL_DIR + "face_detection_short_range.tflite",
            "num_anchors": 896,
            "strides": (8, 16, 16, 16),
            "nms_iou": 0.3,
            "keypoints": ("right_eye", "left_eye", "nose_tip", "mouth_center", "right_ear", "left_ear"),
        },
    )
)

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


def _cached_state(record: ModelRecord, source: str | os.PathLike[str] | None) -> dict[str, np.ndarray]:
    entry = record.files[0]
    cached = cache_dir() / f"{record.name}-{(entry.sha256 or 'unverified')[:16]}.npz"
    if cached.is_file():
        with np.load(cached, allow_pickle=False) as archive:
            return {key: archive[key] for key in archive.files}
    state = convert_blazeface_short(source_file(entry, source))
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_name(cached.name + f".{os.getpid()}.tmp.npz")
        np.savez(tmp, **state)
        Path(tmp).replace(cached)
    except OSError as error:  # a read-only home is no reason to fail
        logger.warning("could not cache converted weights at %s: %s", cached, error)
    return state


def load_blazeface(name: str = "blazeface_short", source: str | os.PathLike[str] | None = None) -> BlazeFaceShort:
    """The pretrained BlazeFace ``name`` in eval mode, converted from ``source`` (default ``$FACEID_MODEL_SOURCE``)
    or read from the cache."""
    import paddle

    from faceid.models.blazeface import BlazeFaceShort

    record = get_record(name)
    if record.architecture != "BlazeFaceShort":
        raise ValueError(f"{name}: architecture {record.architecture} is not supported by load_blazeface")
    state = _cached_state(record, source)
    net = BlazeFaceShort()
    missing = set(net.state_dict()) ^ set(state)
    if missing:
        raise ValueError(f"{name}: converted weights and BlazeFaceShort disagree on {sorted(missing)}")
    net.set_state_dict({key: paddle.to_tensor(value) for key, value in state.items()})
    net.eval()
    return net
