"""The request bodies the routes read through :func:`faceid.serve.deps.read_inputs`, for ``/openapi.json``."""

from __future__ import annotations

from typing import Any

from faceid.serve.schemas import ErrorEnvelope, ImageJson

_BINARY = {"type": "string", "format": "binary"}


def image_body(fields: dict[str, Any], required: list[str]) -> dict[str, Any]:
    """``openapi_extra`` declaring a multipart form with ``fields`` and the JSON (base64) alternative."""
    return {
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {"schema": {"type": "object", "properties": fields, "required": required}},
                "application/json": {"schema": ImageJson.model_json_schema()},
            },
        }
    }


ONE_IMAGE = image_body({"image": _BINARY}, ["image"])
TWO_IMAGES = image_body({"image1": _BINARY, "image2": _BINARY}, ["image1", "image2"])
MANY_IMAGES = image_body({"images": {"type": "array", "items": _BINARY}}, ["images"])
IDENTIFY = image_body(
    {
        "image": _BINARY,
        "limit": {"type": "integer", "minimum": 1, "maximum": 100},
        "threshold": {"type": "number", "minimum": -1, "maximum": 1},
    },
    ["image"],
)
ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorEnvelope} for status in (400, 401, 404, 409, 413, 415, 422, 503)
}
