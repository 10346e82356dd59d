"""faceid: face recognition on PaddlePaddle with a C++/CUDA fast path.

Importing ``faceid`` is cheap: Paddle and the native extension load only when a feature needs them.
"""

from __future__ import annotations

__version__ = "0.1.0"

from faceid._info import info

__all__ = ["FaceAnalysis", "Recognizer", "__version__", "info"]


def __getattr__(name: str):
    # Lazy: these import Paddle, which ``import faceid`` must not.
    if name in ("Recognizer", "FaceAnalysis"):
        import faceid.pipeline

        return getattr(faceid.pipeline, name)
    raise AttributeError(f"module 'faceid' has no attribute {name!r}")
