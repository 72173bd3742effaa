"""Failures of LLM calls: what went wrong, whether trying again can help, and how long the provider asks us to
wait — everything a caller that owns retries (a durable workflow) needs to decide for itself."""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping

RETRYABLE_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504, 529})  # 529: Anthropic's "overloaded"


class LLMError(Exception):
    """A call that failed for good.

    - `provider`: which adapter (`openai`, `anthropic`)
    - `status`: the HTTP status, None for connection errors, timeouts and streams cut short
    - `message`: the provider's own words (or ours when there was no reply)
    - `error_type`: the provider's error type or code when it sent one (`rate_limit_error`, `invalid_request_error`…)
    - `retryable`: whether the same call may succeed later (408/409/429/5xx, no reply, a stream cut short)
    - `retry_after`: seconds the provider asked us to wait (`retry-after-ms` or `Retry-After`), or None
    - `attempts`: how many attempts were made

    A durable workflow maps it as `ApplicationError(str(e), non_retryable=not e.retryable,
    next_retry_delay=timedelta(seconds=e.retry_after) if e.retry_after is not None else None)`."""

    def __init__(self, provider: str, message: str, *, status: int | None = None, attempts: int = 1,
                 retryable: bool = False, retry_after: float | None = None, error_type: str | None = None) -> None:
        super().__init__(provider, message)
        self.provider = provider
        self.status = status
        self.message = message
        self.attempts = attempts
        self.retryable = retryable
        self.retry_after = retry_after
        self.error_type = error_type

    def __str__(self) -> str:
        # An error reported inside a stream has no status of its own: its type says what it was.
        where = f"HTTP {self.status}" if self.status is not None else self.error_type or "no response"
        tries = f" (after {self.attempts} attempts)" if self.attempts > 1 else ""
        return f"{self.provider}: {where}: {self.message}{tries}"


class LLMConfigError(ValueError):
    """A provider cannot be set up: says what is missing and where it is read from."""


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header: a number of seconds, or an HTTP date."""
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)


def retry_after_from(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from a reply's headers: `retry-after-ms` (sent by OpenAI and Anthropic, more precise)
    wins over `Retry-After`. `headers` must look names up case-insensitively, as httpx's do."""
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return max(float(millis) / 1000, 0.0)
        except ValueError:
            pass
    return parse_retry_after(headers.get("retry-after"))
