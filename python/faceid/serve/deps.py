"""Dependencies handed to the routes: the API key check, the engine and store of the app, and the image inputs
(multipart ``image``/``images``/``image1``/``image2`` or the same names as base64 in a JSON body)."""

from __future__ import annotations

import base64
import binascii
import hmac
import json
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request

from faceid.serve.config import ServeConfig
from faceid.serve.engine import Engine
from faceid.serve.errors import ApiError
from faceid.serve.store import ServeStore

__all__ = [
    "ConfigDep",
    "EngineDep",
    "Inputs",
    "InputsDep",
    "StoreDep",
    "Upload",
    "read_inputs",
    "require_key",
]

IMAGE_FIELDS = ("image", "images", "image1", "image2")


@dataclass(frozen=True)
class Upload:
    filename: str
    data: bytes


@dataclass
class Inputs:
    """The uploads of one request by field name, and its scalar fields (``limit``, ``threshold``)."""

    files: dict[str, list[Upload]] = field(default_factory=dict)
    fields: dict[str, str] = field(default_factory=dict)

    def one(self, name: str) -> Upload:
        uploads = self.files.get(name) or []
        if not uploads:
            raise ApiError("missing_field", f"the request has no {name!r} image")
        if len(uploads) > 1:
            raise ApiError("bad_request", f"one {name!r} image expected, got {len(uploads)}")
        return uploads[0]

    def many(self) -> list[Upload]:
        uploads = [*self.files.get("images", []), *self.files.get("image", [])]
        if not uploads:
            raise ApiError("missing_field", "the request has no 'images' (or 'image') upload")
        return uploads

    def number(self, name: str, kind: type, default: float, low: float, high: float) -> float:
        raw = self.fields.get(name)
        if raw is None or raw == "":
            return default
        try:
            value = kind(raw)
        except (TypeError, ValueError):
            raise ApiError("validation_error", f"{name}: expected a number, got {raw!r}") from None
        if not low <= value <= high:
            raise ApiError("validation_error", f"{name}: {value} is outside [{low}, {high}]")
        return value


def get_config(request: Request) -> ServeConfig:
    return request.app.state.config


def get_engine(request: Request) -> Engine:
    engine = getattr(request.app.state, "engine", None)
    if engine is None:
        raise ApiError("unavailable", "the models are not loaded yet")
    return engine


def get_store(request: Request) -> ServeStore:
    store = getattr(request.app.state, "store", None)
    if store is None:
        raise ApiError("unavailable", "the gallery store is not open")
    return store


def require_key(request: Request) -> None:
    """401 unless the app has no key or the request carries it (``X-API-Key`` or ``Authorization: Bearer``)."""
    key = request.app.state.config.api_key
    if not key:
        return
    given = request.headers.get("x-api-key") or ""
    auth = request.headers.get("authorization") or ""
    if not given and auth.lower().startswith("bearer "):
        given = auth[7:].strip()
    if not given or not hmac.compare_digest(given.encode(), key.encode()):
        raise ApiError("unauthorized", "a valid API key is required (X-API-Key header)")


def _check_length(request: Request, config: ServeConfig) -> None:
    limit = config.max_upload_bytes * config.max_images * 4 // 3 + 65536  # base64 and multipart overheads
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise ApiError("too_large", f"request body of {length} bytes, the limit is {limit}")


def _from_base64(name: str, text: object, index: int | None = None) -> Upload:
    label = name if index is None else f"{name}[{index}]"
    if not isinstance(text, str):
        raise ApiError("validation_error", f"{label}: expected a base64 string")
    if text.startswith("data:") and "," in text:  # a data URL
        text = text.split(",", 1)[1]
    try:
        return Upload(label, base64.b64decode(text, validate=True))
    except (binascii.Error, ValueError):
        raise ApiError("not_an_image", f"{label}: not valid base64") from None


async def _json_inputs(request: Request) -> Inputs:
    try:
        body = json.loads(await request.body())
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ApiError("bad_request", "the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise ApiError("bad_request", "the JSON body must be an object")
    inputs = Inputs()
    for name in IMAGE_FIELDS:
        value = body.get(name)
        if value is None:
            continue
        if name == "images":
            if not isinstance(value, list):
                raise ApiError("validation_error", "images: expected a list of base64 strings")
            inputs.files[name] = [_from_base64(name, item, i) for i, item in enumerate(value)]
        else:
            inputs.files[name] = [_from_base64(name, value)]
    for name in ("limit", "threshold"):
        if body.get(name) is not None:
            inputs.fields[name] = str(body[name])
    return inputs


async def _form_inputs(request: Request, config: ServeConfig) -> Inputs:
    from starlette.datastructures import UploadFile

    try:
        form = await request.form(max_files=config.max_images, max_fields=20)
    except Exception as error:  # multipart parse errors of every kind are the client's
        raise ApiError("bad_request", f"cannot parse the multipart body ({error})") from None
    inputs = Inputs()
    try:
        for name, value in form.multi_items():
            if isinstance(value, UploadFile):
                data = await value.read(config.max_upload_bytes + 1)
                inputs.files.setdefault(name, []).append(Upload(value.filename or name, data))
            elif name in IMAGE_FIELDS:
                raise ApiError("not_an_image", f"{name}: expected a file upload, got a text field")
            else:
                inputs.fields[name] = value
    finally:
        await form.close()
    return inputs


async def read_inputs(request: Request) -> Inputs:
    """The request's images and fields, from a multipart form or a JSON body; 415 for any other body."""
    config: ServeConfig = request.app.state.config
    _check_length(request, config)
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "application/json":
        inputs = await _json_inputs(request)
    elif kind == "multipart/form-data":
        inputs = await _form_inputs(request, config)
    else:
        raise ApiError(
            "unsupported_media_type", f"send multipart/form-data or application/json, not {kind or 'no body'}"
        )
    if sum(len(v) for v in inputs.files.values()) > config.max_images:
        raise ApiError("too_large", f"more than {config.max_images} images in one request")
    return inputs


ConfigDep = Annotated[ServeConfig, Depends(get_config)]
EngineDep = Annotated[Engine, Depends(get_engine)]
StoreDep = Annotated[ServeStore, Depends(get_store)]
InputsDep = Annotated[Inputs, Depends(read_inputs)]
