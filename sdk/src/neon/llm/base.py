"""The provider interface: async `complete` and `stream`, a sync wrapper, retries with backoff, and a
generation span per call.

Adapters (OpenAI-compatible, Anthropic) only say how to build a request and read a reply or a stream;
everything that must behave the same across providers — timeouts, which failures are retried and how long to
wait, error messages, tracing — lives here once.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import random
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import httpx
from opentelemetry import context as otel_context
from opentelemetry import trace

from neon.llm.completion import Completion, StreamEvent, TextDelta
from neon.llm.errors import RETRYABLE_STATUS, LLMConfigError, LLMError, parse_retry_after, retry_after_from
from neon.llm.messages import Message, Messages, normalise_messages
from neon.llm.streaming import StreamParser, iter_sse
from neon.llm.tools import ToolChoice, ToolDefinition, check_tools
from neon.tracing import attributes as A
from neon.tracing.kinds import generation
from neon.tracing.spans import SpanFactory, SpanHandle, _end

__all__ = ["RETRYABLE_STATUS", "CallOptions", "Completion", "HTTPProvider", "LLMConfigError", "LLMError",
           "LLMProvider", "Message", "Messages", "Request", "RetryPolicy", "StreamEvent", "TextDelta",
           "normalise_messages", "parse_retry_after"]


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
    """What scorers need from a model: `await provider.complete(messages)`. (`HTTPProvider` also takes
    `tools=` and streams; this protocol stays small so users' own providers fit it.)"""

    name: str
    model: str

    async def complete(self, messages: Messages, *, model: str | None = None, temperature: float | None = None,
                       max_tokens: int | None = None, json: bool = False, span_name: str | None = None
                       ) -> Completion: ...

    def complete_sync(self, messages: Messages, *, model: str | None = None, temperature: float | None = None,
                      max_tokens: int | None = None, json: bool = False, span_name: str | None = None
                      ) -> Completion: ...


@dataclass(frozen=True)
class CallOptions:
    """Everything about one call but the messages, as the adapter gets it."""

    model: str
    temperature: float | None = None
    max_tokens: int | None = None
    json: bool = False
    tools: tuple[ToolDefinition, ...] = ()
    tool_choice: ToolChoice | None = None
    stream: bool = False


@dataclass(frozen=True)
class Request:
    """What an adapter wants sent."""

    url: str
    headers: Mapping[str, str]
    body: Mapping[str, Any]


class HTTPProvider(ABC):
    """Shared machinery for providers reached over HTTP. Adapters implement `build_request`, `parse_reply`
    and `stream_parser`, and may refine `error_message`."""

    name = "http"

    def __init__(self, model: str, *, base_url: str, api_key: str | None = None, timeout: float = 60.0,
                 retry: RetryPolicy | None = None, max_retries: int | None = None,
                 default_max_tokens: int | None = None, headers: Mapping[str, str] | None = None,
                 http_client: httpx.AsyncClient | None = None) -> None:
        """`timeout` is seconds for each step of one attempt (connecting, sending, each read: for a stream,
        the wait for its next chunk); `max_retries` overrides `retry.max_retries`. Pass `http_client` to reuse
        connections across calls (its own timeout then applies); otherwise each call opens a client and
        closes it, which keeps a provider usable from any event loop or thread."""
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
    def build_request(self, messages: list[dict[str, Any]], options: CallOptions) -> Request:
        """The HTTP request for one call; `messages` are in the neutral form (`neon.llm.messages`)."""

    @abstractmethod
    def parse_reply(self, data: Mapping[str, Any], model: str) -> Completion:
        """A Completion from the provider's JSON reply (KeyError/IndexError/TypeError mean a bad shape)."""

    @abstractmethod
    def stream_parser(self, model: str) -> StreamParser:
        """A parser for one streamed reply."""

    def error_message(self, response: httpx.Response) -> str:
        """The provider's own words for a failed request, falling back to the body's start."""
        data = _json_or_none(response)
        if isinstance(data, Mapping):
            error = data.get("error")
            if isinstance(error, Mapping) and error.get("message"):
                return str(error["message"])
            if isinstance(error, str):
                return error
            if data.get("message"):
                return str(data["message"])
        return response.text[:500] or response.reason_phrase

    def http_error(self, response: httpx.Response) -> LLMError:
        """The LLMError for a reply with an error status (its body already read)."""
        data = _json_or_none(response)
        error = data.get("error") if isinstance(data, Mapping) else None
        kind = (error.get("type") or error.get("code")) if isinstance(error, Mapping) else None
        return LLMError(self.name, self.error_message(response), status=response.status_code,
                        retryable=response.status_code in RETRYABLE_STATUS,
                        retry_after=retry_after_from(response.headers), error_type=str(kind) if kind else None)

    # ------------------------------------------------------------ calls
    async def complete(self, messages: Messages, *, model: str | None = None, temperature: float | None = None,
                       max_tokens: int | None = None, json: bool = False,
                       tools: Sequence[ToolDefinition] | None = None, tool_choice: ToolChoice | None = None,
                       span_name: str | None = None) -> Completion:
        """Send the conversation and return the reply; retried per `self.retry`, traced as a generation span.

        `json=True` asks the provider for a JSON object (how depends on the provider: callers should still
        parse defensively). `tools` are offered to the model and `tool_choice` (`auto`, `required`, `none` or
        a tool's name) says whether it must call one; its calls are in `Completion.tool_calls`. Raises
        `LLMError` when the call fails for good, ValueError for messages or tools that cannot be sent."""
        normalised, options, request = self._prepare(
            messages, model=model, temperature=temperature, max_tokens=max_tokens, json=json, tools=tools,
            tool_choice=tool_choice, stream=False)
        with self._span(span_name, normalised, options) as span:
            completion, attempts = await self._send(request, options.model, span)
            self._record(span, completion, attempts)
            return completion

    async def stream(self, messages: Messages, *, model: str | None = None, temperature: float | None = None,
                     max_tokens: int | None = None, json: bool = False,
                     tools: Sequence[ToolDefinition] | None = None, tool_choice: ToolChoice | None = None,
                     span_name: str | None = None) -> AsyncGenerator[StreamEvent, None]:
        """Like `complete`, streamed: yields `TextDelta`s as the text arrives, then one `Completion` (tool
        calls assembled from their fragments, usage included).

        Failures before anything was yielded are retried per `self.retry`; once text has been yielded, a
        failure raises `LLMError` (retryable: the caller owns the retry, as it has shown part of a reply).
        The span records the time to the first text or tool-call fragment (`neon.time_to_first_token_ms`).
        Nothing is sent until the first event is asked for; `aclose()` (or leaving an `async for` early and
        letting the generator be collected) ends the call and its span."""
        normalised, options, request = self._prepare(
            messages, model=model, temperature=temperature, max_tokens=max_tokens, json=json, tools=tools,
            tool_choice=tool_choice, stream=True)
        # The span is current only while this generator runs, not while the caller handles an event (as for
        # the SDK's decorated generators), so it is started and ended by hand rather than with `with`.
        span = self._span(span_name, normalised, options)._start(span_name or f"{self.name}.chat", normalised)
        span_context = trace.set_span_in_context(span.otel_span)
        started = time.perf_counter()

        def first_output() -> None:
            span.set_attribute(A.TIME_TO_FIRST_TOKEN_MS, (time.perf_counter() - started) * 1000)

        events = self._stream_attempts(request, options.model, span, first_output)
        try:
            while True:
                token = otel_context.attach(span_context)
                try:
                    event = await anext(events)
                except StopAsyncIteration:
                    break
                finally:
                    otel_context.detach(token)
                yield event
        except GeneratorExit:  # the caller stopped reading: not an error of the call
            raise
        except BaseException as exc:
            span.record_error(exc)
            raise
        finally:
            await events.aclose()
            _end(span)

    def complete_sync(self, messages: Messages, *, model: str | None = None, temperature: float | None = None,
                      max_tokens: int | None = None, json: bool = False,
                      tools: Sequence[ToolDefinition] | None = None, tool_choice: ToolChoice | None = None,
                      span_name: str | None = None) -> Completion:
        """`complete` for synchronous code. Inside a running event loop it runs on a helper thread, so it
        works from notebooks and async frameworks too (though `await complete(...)` is better there)."""
        def call() -> Completion:
            return asyncio.run(self.complete(messages, model=model, temperature=temperature, max_tokens=max_tokens,
                                             json=json, tools=tools, tool_choice=tool_choice, span_name=span_name))
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return call()
        from neon.tracing.spans import bind_context  # the span opened on the thread nests under ours
        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
            return pool.submit(bind_context(call)).result()

    # ------------------------------------------------------------ internals
    def _prepare(self, messages: Messages, *, model: str | None, temperature: float | None,
                 max_tokens: int | None, json: bool, tools: Sequence[ToolDefinition] | None,
                 tool_choice: ToolChoice | None, stream: bool) -> tuple[list[dict[str, Any]], CallOptions, Request]:
        check_tools(tools, tool_choice)
        normalised = normalise_messages(messages)
        options = CallOptions(model=model or self.model, temperature=temperature,
                              max_tokens=max_tokens if max_tokens is not None else self.default_max_tokens,
                              json=json, tools=tuple(tools or ()), tool_choice=tool_choice, stream=stream)
        return normalised, options, self.build_request(normalised, options)

    def _span(self, span_name: str | None, messages: list[dict[str, Any]], options: CallOptions) -> SpanFactory:
        tools = [tool.name for tool in options.tools] or None
        return generation(span_name or f"{self.name}.chat", model=options.model, provider=self.name,
                          messages=messages, temperature=options.temperature, max_tokens=options.max_tokens,
                          attributes={"neon.llm.tools": tools, "neon.llm.stream": options.stream or None})

    def _record(self, span: SpanHandle, completion: Completion, attempts: int) -> None:
        output: Any = completion.message if completion.tool_calls else completion.text
        span.set_output(output).set_model(completion.model, provider=self.name)
        span.set_usage(input_tokens=completion.input_tokens, output_tokens=completion.output_tokens)
        if completion.finish_reason:
            span.set_finish_reason(completion.finish_reason)
        if attempts > 1:
            span.set_attribute("neon.llm.attempts", attempts)

    def _retry_or_raise(self, error: LLMError, attempt: int, span: SpanHandle) -> float:
        """Seconds to wait before the next attempt, or raise `error` when there is none."""
        error.attempts = attempt
        if not error.retryable or attempt > self.retry.max_retries:
            raise error
        wait = self.retry.delay(attempt, error.retry_after)
        span.otel_span.add_event("retry", {"attempt": attempt, "status": error.status or 0,
                                           "error": error.message[:200], "wait_s": wait})
        return wait

    async def _send(self, request: Request, model: str, span: SpanHandle) -> tuple[Completion, int]:
        attempt = 0
        while True:
            attempt += 1
            try:
                return await self._attempt(request, model), attempt
            except LLMError as error:
                await asyncio.sleep(self._retry_or_raise(error, attempt, span))

    def _headers(self, request: Request) -> dict[str, str]:
        return {"content-type": "application/json", **request.headers, **self.extra_headers}

    async def _attempt(self, request: Request, model: str) -> Completion:
        try:
            if self._client is not None:
                response = await self._client.post(request.url, json=dict(request.body),
                                                   headers=self._headers(request))
            else:
                async with httpx.AsyncClient(timeout=self.timeout) as client:
                    response = await client.post(request.url, json=dict(request.body), headers=self._headers(request))
        except httpx.TimeoutException as exc:
            raise LLMError(self.name, f"timed out after {self.timeout:g} s ({request.url})",
                           retryable=True) from exc
        except httpx.TransportError as exc:
            raise LLMError(self.name, f"cannot reach {request.url}: {exc or type(exc).__name__}",
                           retryable=True) from exc
        if response.status_code >= 400:
            raise self.http_error(response)
        return self._parse_json_reply(response, model)

    def _parse_json_reply(self, response: httpx.Response, model: str) -> Completion:
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

    async def _stream_attempts(self, request: Request, model: str, span: SpanHandle,
                               first_output: Callable[[], None]) -> AsyncGenerator[StreamEvent, None]:
        attempt = 0
        while True:
            attempt += 1
            yielded = False
            try:
                async for event in self._stream_attempt(request, model, first_output):
                    if isinstance(event, Completion):
                        self._record(span, event, attempt)
                    yielded = True
                    yield event
                return
            except LLMError as error:
                if yielded:  # the caller has part of a reply: retrying is its decision
                    error.attempts = attempt
                    raise
                wait = self._retry_or_raise(error, attempt, span)
            await asyncio.sleep(wait)

    async def _stream_attempt(self, request: Request, model: str,
                             first_output: Callable[[], None]) -> AsyncIterator[StreamEvent]:
        parser = self.stream_parser(model)
        responded = False
        try:
            async with contextlib.AsyncExitStack() as stack:
                client = self._client
                if client is None:
                    client = await stack.enter_async_context(httpx.AsyncClient(timeout=self.timeout))
                response = await stack.enter_async_context(
                    client.stream("POST", request.url, json=dict(request.body), headers=self._headers(request)))
                responded = True
                if response.status_code >= 400:
                    await response.aread()
                    raise self.http_error(response)
                if response.headers.get("content-type", "").startswith("application/json"):
                    # A server that ignored `stream: true` answered in one piece: pass it on as one delta.
                    await response.aread()
                    completion = self._parse_json_reply(response, model)
                    first_output()
                    if completion.text:
                        yield TextDelta(completion.text)
                    yield completion
                    return
                async for event in iter_sse(response.aiter_lines()):
                    if parser.done:  # read to the end of the body, so the connection closes cleanly
                        continue
                    had_output = parser.has_output
                    deltas = parser.feed(event)
                    if parser.has_output and not had_output:
                        first_output()
                    for delta in deltas:
                        yield delta
        except httpx.TimeoutException as exc:
            where = "waiting for the next chunk of the stream" if responded else f"({request.url})"
            raise LLMError(self.name, f"timed out after {self.timeout:g} s {where}", retryable=True) from exc
        except httpx.TransportError as exc:
            what = "the stream was cut short" if responded else f"cannot reach {request.url}"
            raise LLMError(self.name, f"{what}: {exc or type(exc).__name__}", retryable=True) from exc
        if not parser.finished():
            raise LLMError(self.name, "the stream ended before the reply was complete", retryable=True)
        yield parser.result()


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None
