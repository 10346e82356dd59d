"""The FastAPI application: models and store opened once in the lifespan, one router per resource, the error
envelope, a request id and metrics on every response."""

from __future__ import annotations

import contextlib
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from faceid.serve.config import ServeConfig
from faceid.serve.errors import ApiError

__all__ = ["create_app"]

logger = logging.getLogger(__name__)

REQUEST_ID = "X-Request-ID"
_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_HTTP_CODES = {
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    503: "unavailable",
}


def envelope(code: str, message: str, status: int) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


def _open(app: FastAPI, config: ServeConfig) -> None:
    from faceid.serve.engine import Engine
    from faceid.serve.store import ServeStore

    if getattr(app.state, "engine", None) is None:
        app.state.engine = Engine(
            config.det,
            config.rec,
            model_source=config.model_source,
            det_thresh=config.det_thresh,
            threads=config.threads,
            detect_workers=config.detect_workers,
            window_s=config.batch_window_ms / 1000,
            max_batch=config.max_batch,
        )
        app.state.owns_engine = True
    engine = app.state.engine
    app.state.store = ServeStore(config.gallery, fingerprint=engine.fingerprint, model=engine.rec_name, dim=engine.dim)
    app.state.metrics.bind(
        lambda: float(app.state.store.face_count()) if app.state.store.ping() else float("nan"),
        lambda: float(engine.batcher.calls),
        lambda: float(engine.batcher.faces),
    )


def _lifespan(config: ServeConfig):
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if getattr(app.state, "store", None) is not None:  # already running (a test client inside another)
            yield
            return
        _open(app, config)
        logger.info("faceid serve ready: gallery %s, %s + %s", config.gallery, config.det, config.rec)
        try:
            yield
        finally:
            app.state.store.close()
            app.state.store = None
            if getattr(app.state, "owns_engine", False):
                app.state.engine.close()
                app.state.engine = None

    return lifespan


def _add_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(_: Request, error: ApiError) -> JSONResponse:
        return envelope(error.code, error.message, error.status)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, error: RequestValidationError) -> JSONResponse:
        first = error.errors()[0] if error.errors() else {}
        where = ".".join(str(part) for part in first.get("loc", ()))
        return envelope("validation_error", f"{where}: {first.get('msg', 'invalid request')}", 422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, error: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(error.status_code, "bad_request")
        return envelope(code, str(error.detail), error.status_code)

    @app.middleware("http")
    async def request_id_and_metrics(request: Request, call_next):
        given = request.headers.get(REQUEST_ID, "")
        rid = given if _SAFE_ID.match(given) else uuid.uuid4().hex
        start = time.perf_counter()
        try:
            response = await call_next(request)
        except Exception:  # a bug: logged with its traceback, answered in the envelope
            logger.exception("request %s %s failed (request id %s)", request.method, request.url.path, rid)
            response = envelope("internal", f"internal error (request id {rid})", 500)
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        app.state.metrics.observe(path, request.method, response.status_code, time.perf_counter() - start)
        response.headers[REQUEST_ID] = rid
        return response


def create_app(config: ServeConfig, *, engine=None) -> FastAPI:
    """The service for ``config``; pass an already loaded :class:`~faceid.serve.engine.Engine` to share it
    (tests), otherwise the lifespan loads the models."""
    from faceid.serve.metrics import Metrics
    from faceid.serve.routes import faces, subjects, system

    app = FastAPI(
        title="faceid",
        summary="Face detection, verification and identification against a durable gallery",
        version="1",
        lifespan=_lifespan(config),
    )
    app.state.config, app.state.engine, app.state.store = config, engine, None
    app.state.metrics = Metrics()
    _add_handlers(app)
    app.include_router(system.router)
    app.include_router(faces.router)
    app.include_router(subjects.router)
    return app
