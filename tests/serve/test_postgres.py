"""Two ``faceid serve`` processes on one PostgreSQL gallery: an enrolment through one is identified by the other
within a second; a PostgreSQL restart makes ``/healthz`` fail and requests answer 503, then both recover without
a restart of their own."""

from __future__ import annotations

import glob
import os
import subprocess
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi", reason="faceid[serve] is not installed")


def _identify(url: str, photo: Path) -> httpx.Response:
    return httpx.post(f"{url}/v1/identify", files={"image": (photo.name, photo.read_bytes())}, timeout=60)


def _pg_ctl(*args: str) -> None:
    """Run pg_ctl on the test server of ``.ci/postgres.sh`` (as the postgres user when we are root)."""
    folder = os.environ.get("FACEID_PG_DIR")
    if not folder:
        pytest.skip("FACEID_PG_DIR is not set: the PostgreSQL server was not started by .ci/postgres.sh")
    binary = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))[-1]
    command = [binary, "-D", f"{folder}/data", *args]
    if os.getuid() == 0:
        command = ["runuser", "-u", "postgres", "--", *command]
    subprocess.run(command, check=True, capture_output=True, timeout=60)


def _restart_options() -> list[str]:
    port = urlparse(os.environ["FACEID_TEST_POSTGRES"]).port or 5432
    folder = os.environ["FACEID_PG_DIR"]
    return ["-w", "-l", f"{folder}/server.log", "-o", f"-p {port} -k {folder} -c listen_addresses=127.0.0.1", "start"]


def _wait(check, timeout: float) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if check():
            return time.monotonic() - start
        time.sleep(0.05)
    raise AssertionError(f"not reached within {timeout} s")


@pytest.mark.slow
def test_two_servers_share_a_postgres_gallery_and_survive_a_restart(
    start_server, postgres_gallery: str, gallery_dev: Path
) -> None:
    one, two = start_server(postgres_gallery), start_server(postgres_gallery)
    query = gallery_dev / "query/obama1.jpg"
    assert [f["identity"] for f in _identify(two.url, query).json()["faces"]] == ["unknown"]
    photos = sorted((gallery_dev / "train/obama").iterdir())
    response = httpx.post(
        f"{one.url}/v1/subjects/obama/faces", files=[("images", (p.name, p.read_bytes())) for p in photos], timeout=60
    )
    assert response.status_code == 200, response.text
    enrolled = time.monotonic()
    while True:  # the first identify *sent* after the change was seen must be sent within a second of it
        sent = time.monotonic() - enrolled
        if [f["identity"] for f in _identify(two.url, query).json()["faces"]] == ["obama"]:
            break
        assert sent < 1.0, "server two did not see the enrolment within a second"
    assert sent < 1.0
    assert {s["name"] for s in httpx.get(f"{two.url}/v1/subjects").json()["subjects"]} == {"obama"}

    _pg_ctl("-m", "fast", "-w", "stop")
    try:
        for server in (one, two):
            health = httpx.get(f"{server.url}/healthz", timeout=30)
            assert health.status_code == 503 and health.json()["store"] is False
            answer = _identify(server.url, query)
            assert answer.status_code == 503 and answer.json()["error"]["code"] == "unavailable"
            listing = httpx.get(f"{server.url}/v1/subjects", timeout=30)
            assert listing.status_code == 503 and listing.json()["error"]["code"] == "unavailable"
    finally:
        _pg_ctl(*_restart_options())
    for server in (one, two):
        _wait(lambda s=server: httpx.get(f"{s.url}/healthz", timeout=30).status_code == 200, 30.0)
        _wait(lambda s=server: _identify(s.url, query).status_code == 200, 30.0)
        assert [f["identity"] for f in _identify(server.url, query).json()["faces"]] == ["obama"]
    # Writes work again, and still reach the other server.
    biden = sorted((gallery_dev / "train/biden").iterdir())
    assert (
        httpx.post(
            f"{two.url}/v1/subjects/biden/faces",
            files=[("images", (p.name, p.read_bytes())) for p in biden],
            timeout=60,
        ).status_code
        == 200
    )
    _wait(
        lambda: {s["name"] for s in httpx.get(f"{one.url}/v1/subjects").json()["subjects"]} == {"obama", "biden"}, 5.0
    )
