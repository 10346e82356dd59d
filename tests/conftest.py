"""Shared fixtures: where the read-only test data lives (``<repo>/../shared``)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("FACEID_SHARED", REPO.parent / "shared"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` (or ``$FACEID_SHARED/data``); skips the test when it is absent."""
    path = SHARED / "data"
    if not path.is_dir():
        pytest.skip(f"shared test data not found at {path} (set FACEID_SHARED to its parent folder)")
    return path


@pytest.fixture(scope="session")
def small_dataset(shared_data: Path) -> Path:
    """The 10-image MS1M-style training set (images/*.jpg + label.txt)."""
    return shared_data / "train" / "small_dataset"
