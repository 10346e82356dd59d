"""Where the command line looks for the shared demo data and the offline pretrained models."""

from __future__ import annotations

import os
from pathlib import Path


def shared_dir() -> Path:
    """``$FACEID_SHARED`` or ``../shared`` from the current folder (holding ``data/`` and ``models/``)."""
    return Path(os.environ.get("FACEID_SHARED", Path.cwd().parent / "shared"))


def model_source(given: str | None, fallback: Path | None = None) -> str | None:
    """The offline model folder: ``given``, else ``$FACEID_MODEL_SOURCE``, else ``fallback`` (default
    ``<shared>/models``) when it exists."""
    if given:
        return given
    if os.environ.get("FACEID_MODEL_SOURCE"):
        return os.environ["FACEID_MODEL_SOURCE"]
    folder = fallback or shared_dir() / "models"
    return str(folder) if folder.is_dir() else None
