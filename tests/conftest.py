"""Shared fixtures: where the read-only test data lives (``<repo>/../shared``)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# The one place tests find the shared folder: $FACEID_SHARED, else ../shared beside this repository.
SHARED = Path(os.environ.get("FACEID_SHARED") or REPO.parent / "shared")
IN_CI = os.environ.get("CI", "").lower() == "true"


def skip_or_fail_in_ci(reason: str) -> None:
    """Skip a test whose inputs are missing here; in CI (``CI=true``) a missing input hides a broken path: fail."""
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: this must not be skipped in CI)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` (or ``$FACEID_SHARED/data``); skips the test when it is absent (fails in CI)."""
    path = SHARED / "data"
    if not path.is_dir():
        skip_or_fail_in_ci(f"shared test data not found at {path} (set FACEID_SHARED to its parent folder)")
    return path


@pytest.fixture(scope="session")
def small_dataset(shared_data: Path) -> Path:
    """The 10-image MS1M-style training set (images/*.jpg + label.txt)."""
    return shared_data / "train" / "small_dataset"


@pytest.fixture(scope="session")
def exported_model(tmp_path_factory: pytest.TempPathFactory):
    """A MobileFaceNet_slim with BatchNorm statistics calibrated on random faces (outputs of a realistic size),
    exported by ``faceid.export.export_model``. Returns ``(export_dir, model)`` with the model in eval mode."""
    import numpy as np
    import paddle

    from faceid.export import export_model
    from faceid.models import create_model

    paddle.seed(3)
    model = create_model("MobileFaceNet_slim", embedding_size=64)
    rng = np.random.default_rng(0)
    model.train()
    with paddle.no_grad():
        for _ in range(30):  # running statistics follow the data (momentum 0.9)
            model(paddle.to_tensor(rng.uniform(-1, 1, size=(32, 3, 112, 112)).astype("float32")))
    model.eval()
    out = tmp_path_factory.mktemp("export")
    export_model(model, out, network="MobileFaceNet_slim", embedding_size=64, source="test fixture", onnx=False)
    return out, model


@pytest.fixture(scope="session")
def shared_models() -> Path:
    """The offline pretrained-model folder: ``$FACEID_MODEL_SOURCE`` or ``../shared/models``; skips when absent
    (fails in CI)."""
    path = Path(os.environ.get("FACEID_MODEL_SOURCE") or SHARED / "models")
    if not path.is_dir():
        skip_or_fail_in_ci(
            f"pretrained model source not found at {path} (set FACEID_MODEL_SOURCE to a ../shared/models copy)"
        )
    return path


@pytest.fixture(scope="session")
def shared_model_file(shared_models: Path):
    """``find(relative)``: that file under the offline model folder; skips when absent (fails in CI)."""

    def find(relative: str) -> Path:
        path = shared_models / relative
        if not path.is_file():
            skip_or_fail_in_ci(f"{relative} not found under {shared_models}")
        return path

    return find


@pytest.fixture(scope="session")
def shared_sha256sums() -> dict[str, str]:
    """``../shared/SHA256SUMS`` as ``{"./models/<path>": sha256, ...}``; empty when the file is absent."""
    path = SHARED / "SHA256SUMS"
    if not path.is_file():
        return {}
    return dict(reversed(line.split()) for line in path.read_text().splitlines() if line.strip())


@pytest.fixture(scope="session")
def require_native_loop() -> None:
    """Skips the test where the native (C++) Paddle Inference loop cannot run, with the reason; but in CI
    (``CI=true``) with the pinned Paddle build installed that is a broken fast path, and the test fails."""
    pytest.importorskip("paddle")
    from faceid.infer.native import native_status, pinned_paddle, pinned_paddle_installed

    usable, why = native_status()
    if usable:
        return
    if IN_CI and pinned_paddle_installed():
        pytest.fail(f"the native loop is not active although {pinned_paddle()} is installed: {why}")
    pytest.skip(f"native predictor unavailable: {why}")


@pytest.fixture(scope="session")
def cpu_has_bf16() -> bool:
    """Whether this CPU has bf16 instructions (where Paddle's oneDNN bf16 path is worth testing)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


@pytest.fixture
def postgres_schema_url():
    """A URL of the PostgreSQL server named by ``$FACEID_TEST_POSTGRES`` (started by ``eval "$(bash
    .ci/postgres.sh)"``) whose connections use a new, empty schema, dropped afterwards; skipped without the server
    (failed in CI)."""
    import uuid
    from urllib.parse import quote

    base = os.environ.get("FACEID_TEST_POSTGRES")
    if not base:
        skip_or_fail_in_ci('FACEID_TEST_POSTGRES is not set (start a server with: eval "$(bash .ci/postgres.sh)")')
    psycopg = pytest.importorskip("psycopg")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    separator = "&" if "?" in base else "?"
    yield f"{base}{separator}options={quote(f'-csearch_path={schema}')}"
    with psycopg.connect(base, autocommit=True, connect_timeout=10) as conn:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture(scope="session")
def skip_or_fail():
    """:func:`skip_or_fail_in_ci` for tests whose inputs (a server, a browser) may be missing here but not in CI."""
    return skip_or_fail_in_ci
