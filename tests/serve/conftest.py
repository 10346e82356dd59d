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

    loaded = Engine("blazeface_short", "mobileface_v2", model_source=str(shared_models))
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


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """A real ``faceid serve`` process on 127.0.0.1 (its output in ``log``)."""

    def __init__(self, gallery: str, models: Path, log: Path, *extra: str, api_key: str | None = None) -> None:
        import os
        import subprocess
        import sys

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        env = {**os.environ, "FACEID_MODEL_SOURCE": str(models)}
        env.pop("FACEID_API_KEY", None)
        if api_key:
            env["FACEID_API_KEY"] = api_key
        command = [sys.executable, "-m", "faceid", "serve", "--gallery", gallery, "--port", str(self.port), *extra]
        with open(log, "ab") as out:
            self.process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)

    def wait_ready(self, timeout: float = 90.0) -> Server:
        import time

        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited ({self.process.returncode}): {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"server not ready in {timeout} s: {self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except Exception:
                self.process.kill()
                self.process.wait(timeout=15)


@pytest.fixture
def start_server(shared_models: Path, tmp_path: Path):
    """``start_server(gallery, *flags, api_key=None)``: a ready ``faceid serve`` process, stopped after the test."""
    servers: list[Server] = []

    def start(gallery: str, *extra: str, api_key: str | None = None) -> Server:
        server = Server(gallery, shared_models, tmp_path / f"server{len(servers)}.log", *extra, api_key=api_key)
        servers.append(server)
        return server.wait_ready()

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def postgres_gallery(postgres_schema_url: str) -> str:
    """A gallery URL in a fresh schema of the test PostgreSQL server (see the root conftest)."""
    return postgres_schema_url
