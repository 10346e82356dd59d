"""The identity of a model's weights: what a gallery records so that it is only searched with the same model.

A faceid export's ``faceid.json`` records the SHA-256 of every file of the export, so its own digest names the
weights; a reference-style Paddle inference folder (``inference.pdmodel`` + ``inference.pdiparams``, no
``faceid.json``) is named by the digest of its parameters. Names (``exported``, ``mobileface_v2``) are for display.
"""

from __future__ import annotations

import os
from pathlib import Path

from faceid.errors import InputError
from faceid.io.hashing import sha256_file

__all__ = ["model_fingerprint"]

META_FILE = "faceid.json"
PARAMS_FILE = "inference.pdiparams"


def model_fingerprint(model_dir: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of ``<model_dir>/faceid.json`` or, without one, of ``<model_dir>/inference.pdiparams``."""
    folder = Path(model_dir)
    for name in (META_FILE, PARAMS_FILE):
        if (folder / name).is_file():
            return sha256_file(folder / name)
    raise InputError(f"not a model folder (no {META_FILE} or {PARAMS_FILE})", folder)
