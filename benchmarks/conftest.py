"""Benchmark fixtures: the decode corpus (made once per session from ../shared/data faces)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from faceid.bench.corpus import make_corpus

# The shared folder, as in tests/conftest.py: $FACEID_SHARED or ../shared beside this repository.
SHARED = Path(os.environ.get("FACEID_SHARED") or Path(__file__).resolve().parents[1].parent / "shared")


@pytest.fixture(scope="session")
def shared() -> Path:
    """The shared folder (``data/`` and ``models/``); may be absent."""
    return SHARED


@pytest.fixture(scope="session")
def decode_corpus(tmp_path_factory: pytest.TempPathFactory, shared: Path) -> list[Path]:
    source = shared / "data" if (shared / "data").is_dir() else None
    return make_corpus(tmp_path_factory.mktemp("corpus"), count=2000, source=source)
