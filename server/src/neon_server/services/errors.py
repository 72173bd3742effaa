"""Errors services raise; the API layer maps each to an HTTP status with the message as is."""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    """`details` travel beside the message in the error body, e.g. `errors=[{field, message}, ...]`."""

    status_code = 400
    code = "bad_request"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class InvalidInput(ServiceError):
    status_code = 422
    code = "invalid_input"


class NotFound(ServiceError):
    status_code = 404
    code = "not_found"


class Conflict(ServiceError):
    status_code = 409
    code = "conflict"


class Unauthorized(ServiceError):
    status_code = 401
    code = "unauthorized"


class Forbidden(ServiceError):
    """Authenticated, but this credential may not do this."""

    status_code = 403
    code = "forbidden"


class Unavailable(ServiceError):
    status_code = 503
    code = "unavailable"


class BadBody(ServiceError):
    status_code = 400
    code = "bad_request"


class BodyTooLarge(ServiceError):
    status_code = 413
    code = "too_large"


class UnsupportedMediaType(ServiceError):
    status_code = 415
    code = "unsupported_media_type"
