"""``faceid serve``: the HTTP face recognition service (FastAPI; ``pip install "faceid[serve]"``).

>>> from faceid.serve import ServeConfig, create_app
>>> app = create_app(ServeConfig(gallery="gallery.db"))     # run with uvicorn
"""

from __future__ import annotations

from typing import Any

from faceid.serve.config import ServeConfig

__all__ = ["ServeConfig", "create_app"]


def create_app(config: ServeConfig, **kwargs: Any):
    """See :func:`faceid.serve.app.create_app` (imported on use: FastAPI is an optional dependency)."""
    from faceid.serve.app import create_app as _create

    return _create(config, **kwargs)
