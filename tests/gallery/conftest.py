"""Gallery-store URLs for both backends: a temp SQLite file, and a fresh schema in the PostgreSQL server named by
``$FACEID_TEST_POSTGRES`` (started by ``.ci/postgres.sh``). In CI (``CI=true``) a missing server fails the tests."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest


def postgres_url() -> str:
    url = os.environ.get("FACEID_TEST_POSTGRES")
    if not url:
        reason = 'FACEID_TEST_POSTGRES is not set (start a server with: eval "$(bash .ci/postgres.sh)")'
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return url


@pytest.fixture
def postgres_schema_url():
    """A URL whose connections use a new, empty schema (dropped afterwards)."""
    import psycopg

    base = postgres_url()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    separator = "&" if "?" in base else "?"
    yield f"{base}{separator}options={quote(f'-csearch_path={schema}')}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "gallery.db")
    return request.getfixturevalue("postgres_schema_url")
