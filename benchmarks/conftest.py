"""Benchmark fixtures: the decode corpus (made once per session from ../shared/data faces)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from faceid.bench.corpus import make_corpus

SHARED_DATA = Path(os.environ.get("FACEID_SHARED", Path(__file__).resolve().parents[1].parent / "shared")) / "data"


@pytest.fixture(scope="session")
def decode_corpus(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    source = SHARED_DATA if SHARED_DATA.is_dir() else None
    return make_corpus(tmp_path_factory.mktemp("corpus"), count=2000, source=source)
