"""Fixtures of the service tests: one loaded Engine per session (the models), a fresh app + gallery per test."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def gallery_dev(shared_data: Path) -> Path:
    return shared_data / "gallery_dev"


@pytest.fixture(scope="session")
def engine(shared_models: Path):
    from faceid.serve.engine import Engine

    loaded = Engine(model_source=str(shared_models))
    yield loaded
    loaded.close()


@pytest.fixture
def make_client(engine, tmp_path: Path):
    """``make_client(**config)``: a TestClient on a new app sharing the session's engine, gallery in tmp_path."""
    from fastapi.testclient import TestClient

    from faceid.serve import ServeConfig, create_app

    clients = []

    def make(**overrides):
        config = ServeConfig(gallery=str(tmp_path / f"gallery{len(clients)}.db"), **overrides)
        client = TestClient(create_app(config, engine=engine))
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client):
    return make_client()
