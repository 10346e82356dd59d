"""Argparse ``type=`` helpers: a bad flag value fails while parsing, with one line naming the flag (exit 2).

Each helper takes the flag's text and returns the parsed value or raises ``argparse.ArgumentTypeError`` with
"expected ..., got ...". Name checks that need the registries import them only when the flag is given, so
``faceid --help`` and the other commands stay cheap.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable

__all__ = [
    "cosine",
    "det_models",
    "loss_name",
    "network_name",
    "non_negative_int",
    "positive_float",
    "positive_int",
    "probability",
]

# The detectors FaceDetector can run (the registry's detection records).
det_models = ("blazeface_short", "blazeface_full", "blazeface_fpn_ssh")


def _number(kind: Callable[[str], float], text: str, expected: str) -> float:
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
    if isinstance(value, float) and not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
    return value


def positive_int(text: str) -> int:
    """An integer >= 1 (counts, sizes, threads)."""
    value = int(_number(int, text, "an integer >= 1"))
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}")
    return value


def non_negative_int(text: str) -> int:
    """An integer >= 0."""
    value = int(_number(int, text, "an integer >= 0"))
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}")
    return value


def positive_float(text: str) -> float:
    """A finite number > 0."""
    value = _number(float, text, "a number > 0")
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return value


def probability(text: str) -> float:
    """A number in [0, 1] (detection scores)."""
    value = _number(float, text, "a number between 0 and 1")
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 1, got {text!r}")
    return value


def cosine(text: str) -> float:
    """A cosine similarity in [-1, 1] (recognition thresholds)."""
    value = _number(float, text, "a cosine between -1 and 1")
    if not -1.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a cosine between -1 and 1, got {text!r}")
    return value


def network_name(text: str) -> str:
    """A registered backbone name or alias (``faceid.models``)."""
    from faceid.models import is_model, list_models

    if not is_model(text):
        raise argparse.ArgumentTypeError(f"unknown network {text!r} (choose from {', '.join(list_models())})")
    return text


def loss_name(text: str) -> str:
    """A margin preset (``ArcFace``, ``CosFace``, ``SphereFace``, ``Softmax``) or four numbers ``m1,m2,m3,s``."""
    from faceid.heads.margins import MARGIN_PRESETS, margin_spec

    if text in MARGIN_PRESETS:
        return text
    try:
        margin_spec(tuple(float(v) for v in text.split(",")))
    except ValueError:
        choices = ", ".join(sorted(MARGIN_PRESETS))
        raise argparse.ArgumentTypeError(f"unknown loss {text!r} (choose from {choices}, or m1,m2,m3,s)") from None
    return text
