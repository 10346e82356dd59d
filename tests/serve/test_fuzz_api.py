"""A bounded schemathesis pass over ``/openapi.json`` (every operation, generated valid and invalid requests,
in process): no request gets a 5xx, and every 4xx is the error envelope."""

from __future__ import annotations

import pytest

pytest.importorskip("fastapi", reason="faceid[serve] is not installed")
schemathesis = pytest.importorskip("schemathesis")

EXAMPLES_PER_OPERATION = 25


@pytest.mark.slow
def test_openapi_fuzz_finds_no_server_error(client) -> None:
    from hypothesis import HealthCheck, given, settings

    schema = schemathesis.openapi.from_asgi("/openapi.json", client.app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 10
    seen: dict[str, set[int]] = {}

    for operation in operations:

        @settings(
            max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None, suppress_health_check=list(HealthCheck)
        )
        @given(case=operation.as_strategy())
        def check(case) -> None:
            response = case.call()
            assert response.status_code < 500, (case.method, case.path, response.status_code, response.text)
            seen.setdefault(f"{case.method} {case.operation.path}", set()).add(response.status_code)
            if response.status_code >= 400:
                body = response.json()
                assert set(body) == {"error"} and {"code", "message"} <= set(body["error"]), body

        check()
    assert len(seen) == len(operations)
    assert client.get("/healthz").status_code == 200
