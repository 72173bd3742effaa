"""How both ingest endpoints answer a failed request: status, error code, message, and Retry-After."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from neon_server.ingest.otlp import UndecodableBody
from neon_server.ingest.writer import Overloaded, WriterStopped
from neon_server.services.errors import ServiceError

log = logging.getLogger("neon.api.ingest")
RETRY_AFTER_STORE_FAILURE = 5.0


@dataclass(frozen=True)
class IngestFailure:
    status: int
    code: str
    message: str
    retry_after: float | None = None

    def headers(self) -> dict[str, str] | None:
        return {"Retry-After": str(int(self.retry_after))} if self.retry_after is not None else None


def ingest_failure(exc: Exception, endpoint: str, what: str = "spans") -> IngestFailure:
    """Call from the `except` block: an unexpected error is logged with its traceback and answered 503."""
    if isinstance(exc, ServiceError):
        return IngestFailure(exc.status_code, exc.code, exc.message)
    if isinstance(exc, UndecodableBody):
        return IngestFailure(400, "bad_request", str(exc))
    if isinstance(exc, Overloaded):
        return IngestFailure(429, "too_many_requests", str(exc), exc.retry_after)
    if isinstance(exc, WriterStopped):
        return IngestFailure(503, "unavailable", str(exc), RETRY_AFTER_STORE_FAILURE)
    log.exception("%s failed", endpoint)
    return IngestFailure(503, "unavailable", f"{what} could not be written; retry later", RETRY_AFTER_STORE_FAILURE)
