"""Settings of one service instance (the ``faceid serve`` flags)."""

from __future__ import annotations

from dataclasses import dataclass

from faceid.gallery import DEFAULT_REC_THRESH
from faceid.zoo.defaults import DEFAULT_DET, DEFAULT_REC

__all__ = ["ServeConfig"]


@dataclass
class ServeConfig:
    """``gallery``: store path or URL; ``api_key``: required on ``/v1`` when set; limits: ``max_upload_bytes``
    per image, ``max_pixels`` decoded per image (checked from the header before decoding), ``max_images`` per
    request, ``max_faces`` per image; batching: ``batch_window_ms`` and ``max_batch`` faces per model call."""

    gallery: str
    det: str = DEFAULT_DET
    rec: str = DEFAULT_REC
    model_source: str | None = None
    rec_thresh: float = DEFAULT_REC_THRESH
    det_thresh: float = 0.75
    cdd_num: int = 5
    api_key: str | None = None
    max_upload_bytes: int = 10 * 1024 * 1024
    max_pixels: int = 40_000_000
    max_images: int = 20
    max_faces: int = 50
    threads: int = 2
    detect_workers: int = 4
    batch_window_ms: float = 3.0
    max_batch: int = 32
