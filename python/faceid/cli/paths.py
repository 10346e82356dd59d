"""Where the command line finds the offline pretrained models (the shared folder itself: :mod:`faceid.paths`)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from faceid.errors import FaceidError
from faceid.paths import shared_candidates, shared_dir


def add_model_source_flag(parser: argparse.ArgumentParser) -> None:
    """``--model-source`` / ``--model_source``: the offline model folder, resolved by :func:`model_source`."""
    parser.add_argument(
        "--model-source",
        "--model_source",
        dest="model_source",
        default=None,
        help="offline folder of pretrained files, laid out like ../shared/models "
        "(default $FACEID_MODEL_SOURCE, then <shared>/models)",
    )


def model_source(given: str | None, fallback: Path | None = None) -> str | None:
    """The offline model folder: ``given``, else ``$FACEID_MODEL_SOURCE``, else ``fallback`` (default
    ``<shared>/models``, see :func:`faceid.paths.shared_dir`) when it exists."""
    if given:
        return given
    if os.environ.get("FACEID_MODEL_SOURCE"):
        return os.environ["FACEID_MODEL_SOURCE"]
    shared = shared_dir()
    folder = fallback or (shared / "models" if shared is not None else None)
    return str(folder) if folder is not None and folder.is_dir() else None


def shared_data(given: str | None) -> Path:
    """The shared data folder: ``given`` (a ``--shared`` flag), else ``<shared>/data``; an error naming the folders
    looked in when there is none."""
    if given:
        return Path(given)
    found = shared_dir()
    if found is None:
        looked = ", ".join(str(p) for p in shared_candidates())
        raise FaceidError(f"shared data not found (looked in: {looked}); pass --shared or set FACEID_SHARED")
    return found / "data"
