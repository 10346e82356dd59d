"""Where faceid looks for the shared demo/test data and offline pretrained models (``../shared``).

One lookup for the whole project: ``$FACEID_SHARED`` when set; otherwise ``../shared`` beside the source checkout
faceid was installed from (an editable install, ``pip install -e .``), then ``../shared`` from the current folder.
The folder holds ``data/`` and ``models/`` (see their READMEs).
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["shared_candidates", "shared_dir"]

ENV_VAR = "FACEID_SHARED"


def _source_checkout() -> Path | None:
    """The repository this package was installed from (editable install), recognised by its pyproject.toml."""
    root = Path(__file__).resolve().parents[2]  # <repo>/python/faceid/paths.py
    return root if (root / "pyproject.toml").is_file() and (root / "python" / "faceid").is_dir() else None


def shared_candidates() -> list[Path]:
    """The folders :func:`shared_dir` tries, in order (only ``$FACEID_SHARED`` when it is set)."""
    if os.environ.get(ENV_VAR):
        return [Path(os.environ[ENV_VAR])]
    checkout = _source_checkout()
    found = [checkout.parent / "shared"] if checkout is not None else []
    here = Path.cwd().resolve().parent / "shared"
    return [*found, here] if here not in found else found


def shared_dir() -> Path | None:
    """The first of :func:`shared_candidates` that is a folder, else None."""
    return next((path for path in shared_candidates() if path.is_dir()), None)
