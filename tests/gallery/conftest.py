"""Gallery-store URLs for both backends: a temp SQLite file, and a fresh schema in the PostgreSQL server named by
``$FACEID_TEST_POSTGRES`` (the root conftest's ``postgres_schema_url``; in CI a missing server fails the tests)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "gallery.db")
    return request.getfixturevalue("postgres_schema_url")
