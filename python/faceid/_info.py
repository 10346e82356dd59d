"""`faceid.info()`: what this installation is built with and which fast paths are active."""

from __future__ import annotations

import importlib.metadata
import importlib.util
from typing import Any


def _version_of(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def info() -> dict[str, Any]:
    """Versions, native build options and CUDA availability, as a plain dict."""
    from faceid import _C, __version__

    build = dict(_C.build_info())
    device_count, why = _C.cuda_status()
    paddle = next((v for d in ("paddlepaddle", "paddlepaddle-gpu") if (v := _version_of(d))), None)
    return {
        "faceid": __version__,
        "native": build,
        "cuda_built": bool(build["cuda"]),
        "cuda_devices": int(device_count),
        "cuda_reason": why or None,
        "paddle": paddle,
        "opencv": _version_of("opencv-python-headless") or _version_of("opencv-python"),
        "numpy": _version_of("numpy"),
        "paddle_importable": importlib.util.find_spec("paddle") is not None,
        "native_inference": _native_inference(),
        "native_inference_target": _native_target(),
    }


def _native_target() -> str:
    """The one Paddle build the native loop runs on (any other Paddle falls back to the Python predictor)."""
    from faceid.infer.native import pinned_paddle

    return pinned_paddle()


def _native_inference() -> str:
    """Whether the Recognizer can use the native (C++) predictor loop here ("available"), and if not why."""
    if importlib.util.find_spec("paddle") is None:
        return "unavailable: paddle is not installed"
    from faceid.infer.native import native_status

    usable, reason = native_status()
    return "available" if usable else f"unavailable: {reason}"
