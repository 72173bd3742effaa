"""The provider interface: one async `complete`, a sync wrapper, retries with backoff, and a generation span per call.

Adapters (OpenAI-compatible, Anthropic) only say how to build a request and read a reply; everything that must
behave the same across providers — timeouts, which failures are retried and how long to wait, error messages,
tracing — lives here once.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import email.utils
import random
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import httpx

from neon.tracing.kinds import generation

Message = Mapping[str, Any]
"""A chat message: `{"role": "system" | "user" | "assistant", "content": "..."}`."""

Messages = str | Sequence[Message]
"""A conversation, or a plain string (one user message)."""

RETRYABLE_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504, 529})  # 529: Anthropic's "overloaded"


@dataclass(frozen=True)
class Completion:
    """One model reply: its text, the model that answered, token usage, why it stopped, and the raw JSON."""

    text: str
    model: str
    input_tokens: int | None = None
    output_tokens: int | None = None
    finish_reason: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict)


class LLMError(Exception):
    """A call that failed for good: names the provider, the HTTP status (None for connection errors and
    timeouts), the provider's own error message, and how many attempts were made."""

    def __init__(self, provider: str, message: str, *, status: int | None = None, attempts: int = 1,
                 retryable: bool = False, retry_after: float | None = None) -> None:
        super().__init__(provider, message)
        self.provider = provider
        self.status = status
        self.message = message
        self.attempts = attempts
        self.retryable = retryable
        self.retry_after = retry_after

    def __str__(self) -> str:
        where = f"HTTP {self.status}" if self.status is not None else "no response"
        tries = f" (after {self.attempts} attempts)" if self.attempts > 1 else ""
        return f"{self.provider}: {where}: {self.message}{tries}"


class LLMConfigError(ValueError):
    """A provider cannot be set up: says what is missing and where it is read from."""


@dataclass(frozen=True)
class RetryPolicy:
    """Retries on 408/409/429/5xx, connection errors and timeouts: exponential backoff with full jitter,
    capped at `max_backoff`; a `Retry-After` header (seconds or HTTP date) is honoured up to `max_retry_after`.

    `max_retries=0` makes one attempt only: for callers (durable workflows) that own retries themselves."""

    max_retries: int = 2
    backoff: float = 0.5
    max_backoff: float = 20.0
    max_retry_after: float = 60.0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait before retry number `attempt` (1-based)."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_retry_after)
        ceiling = min(self.max_backoff, self.backoff * 2 ** (attempt - 1))
        # Full jitter spreads the retries of many concurrent callers (an eval run) instead of syncing them.
        return random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not cryptography


@runtime_checkable
class LLMProvider(Protocol):
    """What scorers and agents need from a model: `await provider.complete(messages)`."""

    name: str
    model: str

    async def complete(self, messages: Messages, *, model: str | None = None, temperature: float | None = None,
                       max_tokens: int | None = None, json: bool = False, span_name: str | None = None
                       ) -> Completion: ...

    def complete_sync(self, messages: Messages, *, model: str | None = None, temperature: float | None = None,
                      max_tokens: int | None = None, json: bool = False, span_name: str | None = None
                      ) -> Completion: ...


@dataclass(frozen=True)
class Request:
    """What an adapter wants sent."""

    url: str
    headers: Mapping[str, str]
    body: Mapping[str, Any]


class HTTPProvider(ABC):
    """Shared machinery for providers reached over HTTP. Adapters implement `build_request` and
    `parse_reply`, and may refine `error_message`."""

    name = "http"

    def __init__(self, model: str, *, base_url: str, api_key: str | None = None, timeout: float = 60.0,
                 retry: RetryPolicy | None = None, max_retries: int | None = None,
                 default_max_tokens: int | None = None, headers: Mapping[str, str] | None = None,
                 http_client: httpx.AsyncClient | None = None) -> None:
        """`timeout` is seconds for the whole of one attempt; `max_retries` overrides `retry.max_retries`.
        Pass `http_client` to reuse connections across calls (its own timeout then applies); otherwise each
        call opens a client and closes it, which keeps a provider usable from any event loop or thread."""
        self.model = model
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.timeout = timeout
        policy = retry or RetryPolicy()
        if max_retries is not None:
            policy = RetryPolicy(max_retries, policy.backoff, policy.max_backoff, policy.max_retry_after)
        if policy.max_retries < 0:
            raise LLMConfigError("max_retries must be 0 or more")
        self.retry = policy
        self.default_max_tokens = default_max_tokens
        self.extra_headers = dict(headers or {})
        self._client = http_client

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model={self.model!r}, base_url={self.base_url!r})"

    # ------------------------------------------------------------ adapter hooks
    @abstractmethod
    def build_request(self, messages: list[dict[str, Any]], *, model: str, temperature: float | None,
                      max_tokens: int | None, json: bool) -> Request:
        """The HTTP request for one call."""

    @abstractmethod
    def parse_reply(self, data: Mapping[str, Any], model: str) -> Completion:
        """A Completion from the provider's JSON reply (KeyError/IndexError/TypeError mean a bad shape)."""

    def error_message(self, response: httpx.Response) -> str:
        """The provider's own words for a failed request, falling back to the body's start."""
        try:
            data = response.json()
        except ValueError:
            return response.text[:500] or response.reason_phrase
        if isinstance(data, Mapping):
            error = data.get("error")
            if isinstance(error, Mapping) and error.get("message"):
                return str(error["message"])
            if isinstance(error, str):
                return error
            if data.get("message"):
                return str(data["message"])
        return response.text[:500]

    # ------------------------------------------------------------ calls
    async def complete(self, messages: Messages, *, model: str | None = None, temperature: float | None = None,
                       max_tokens: int | None = None, json: bool = False, span_name: str | None = None
                       ) -> Completion:
        """Send the conversation and return the reply; retried per `self.retry`, traced as a generation span.

        `json=True` asks the provider for a JSON object (how depends on the provider: callers should still
        parse defensively). Raises `LLMError` when the call fails for good."""
        chosen = model or self.model
        normalised = normalise_messages(messages)
        limit = max_tokens if max_tokens is not None else self.default_max_tokens
        request = self.build_request(normalised, model=chosen, temperature=temperature, max_tokens=limit, json=json)
        with generation(span_name or f"{self.name}.chat", model=chosen, provider=self.name, messages=normalised,
                        temperature=temperature, max_tokens=limit) as span:
            completion, attempts = await self._send(request, chosen, span)
            span.set_output(completion.text).set_model(completion.model, provider=self.name)
            span.set_usage(input_tokens=completion.input_tokens, output_tokens=completion.output_tokens)
            if completion.finish_reason:
                span.set_finish_reason(completion.finish_reason)
            if attempts > 1:
                span.set_attribute("neon.llm.attempts", attempts)
            return completion

    def complete_sync(self, messages: Messages, *, model: str | None = None, temperature: float | None = None,
                      max_tokens: int | None = None, json: bool = False, span_name: str | None = None
                      ) -> Completion:
        """`complete` for synchronous code. Inside a running event loop it runs on a helper thread, so it
        works from notebooks and async frameworks too (though `await complete(...)` is better there)."""
        def call() -> Completion:
            return asyncio.run(self.complete(messages, model=model, temperature=temperature,
                                             max_tokens=max_tokens, json=json, span_name=span_name))
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return call()
        from neon.tracing.spans import bind_context  # the span opened on the thread nests under ours
        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
            return pool.submit(bind_context(call)).result()

    async def _send(self, request: Request, model: str, span: Any) -> tuple[Completion, int]:
        attempt = 0
        while True:
            attempt += 1
            try:
                completion = await self._attempt(request, model)
                return completion, attempt
            except LLMError as error:
                error.attempts = attempt
                if not error.retryable or attempt > self.retry.max_retries:
                    raise
                wait = self.retry.delay(attempt, error.retry_after)
                span.otel_span.add_event("retry", {"attempt": attempt, "status": error.status or 0,
                                                   "error": error.message[:200], "wait_s": wait})
                await asyncio.sleep(wait)

    async def _attempt(self, request: Request, model: str) -> Completion:
        headers = {"content-type": "application/json", **request.headers, **self.extra_headers}
        try:
            if self._client is not None:
                response = await self._client.post(request.url, json=dict(request.body), headers=headers)
            else:
                async with httpx.AsyncClient(timeout=self.timeout) as client:
                    response = await client.post(request.url, json=dict(request.body), headers=headers)
        except httpx.TimeoutException as exc:
            raise LLMError(self.name, f"timed out after {self.timeout:g} s ({request.url})",
                           retryable=True) from exc
        except httpx.TransportError as exc:
            raise LLMError(self.name, f"cannot reach {request.url}: {exc or type(exc).__name__}",
                           retryable=True) from exc
        if response.status_code >= 400:
            raise LLMError(self.name, self.error_message(response), status=response.status_code,
                           retryable=response.status_code in RETRYABLE_STATUS,
                           retry_after=parse_retry_after(response.headers.get("retry-after")))
        try:
            data = response.json()
        except ValueError as exc:
            raise LLMError(self.name, f"reply is not JSON: {response.text[:200]!r}",
                           status=response.status_code) from exc
        if not isinstance(data, Mapping):
            raise LLMError(self.name, f"reply is not a JSON object: {response.text[:200]!r}",
                           status=response.status_code)
        try:
            return self.parse_reply(data, model)
        except (KeyError, IndexError, TypeError) as exc:
            raise LLMError(self.name, f"unexpected reply shape ({exc!r}): {response.text[:200]!r}",
                           status=response.status_code) from exc


def normalise_messages(messages: Messages) -> list[dict[str, Any]]:
    """A list of `{"role", "content"}` dicts; a plain string is one user message."""
    if isinstance(messages, str):
        return [{"role": "user", "content": messages}]
    out = []
    for message in messages:
        if "role" not in message or "content" not in message:
            raise ValueError(f"a message needs 'role' and 'content': {dict(message)!r}")
        out.append(dict(message))
    if not out:
        raise ValueError("no messages to send")
    return out


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
