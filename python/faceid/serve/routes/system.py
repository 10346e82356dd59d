"""``/healthz``, ``/metrics`` and the web page at ``/``."""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from faceid.serve.schemas import HealthResponse

router = APIRouter(tags=["system"])


@router.get("/healthz", response_model=HealthResponse, responses={503: {"model": HealthResponse}})
def healthz(request: Request) -> JSONResponse:
    """200 when the models are loaded and the gallery store answers, else 503."""
    state = request.app.state
    models = getattr(state, "engine", None) is not None
    store = getattr(state, "store", None)
    store_ok = store is not None and store.ping()
    ok = models and store_ok
    body = HealthResponse(status="ok" if ok else "unavailable", models=models, store=store_ok)
    return JSONResponse(body.model_dump(), status_code=200 if ok else 503)


@router.get("/metrics", response_class=Response)
def metrics(request: Request) -> Response:
    """Prometheus text format."""
    return Response(request.app.state.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def page() -> HTMLResponse:
    return HTMLResponse(resources.files("faceid.serve").joinpath("static/index.html").read_text(encoding="utf-8"))
