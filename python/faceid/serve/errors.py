"""The service's typed errors: one fixed JSON envelope ``{"error": {"code", "message"}}`` for every 4xx/5xx."""

from __future__ import annotations

__all__ = ["CODES", "ApiError"]

# code -> HTTP status. Routes raise ApiError with one of these; the app turns it into the envelope.
CODES: dict[str, int] = {
    "bad_request": 400,
    "missing_field": 400,
    "not_an_image": 400,
    "corrupt_image": 400,
    "unauthorized": 401,
    "unknown_subject": 404,
    "unknown_face": 404,
    "not_found": 404,
    "method_not_allowed": 405,
    "too_large": 413,
    "unsupported_media_type": 415,
    "validation_error": 422,
    "no_face": 422,
    "several_faces": 422,
    "low_quality": 422,
    "too_many_faces": 422,
    "already_enrolled": 409,
    "wrong_model": 409,
    "internal": 500,
    "unavailable": 503,
}


class ApiError(Exception):
    """An error answered as ``{"error": {"code": code, "message": message}}`` with the code's HTTP status."""

    def __init__(self, code: str, message: str) -> None:
        if code not in CODES:
            raise ValueError(f"unknown error code {code!r}")
        super().__init__(message)
        self.code, self.message, self.status = code, message, CODES[code]
