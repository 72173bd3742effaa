"""Spans for agents: `trace`, `span`, `generation`, `tool`, `retrieval` and the component kinds.

Each helper works as a context manager (`with` / `async with`) and as a decorator on sync and async
functions, generators and async generators. A decorated generator's span stays open until the stream is
consumed (or closed), and records the time to the first item. Exceptions mark the span as an error, with
the exception recorded, and are re-raised unchanged.
"""

from __future__ import annotations

import functools
import inspect
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any, TypeVar, cast

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, Status, StatusCode

from neon.tracing import attributes as A
from neon.tracing.config import current, tracer
from neon.tracing.serialize import to_attribute

F = TypeVar("F", bound=Callable[..., Any])


class SpanHandle:
    """The span you hold inside `with neon.span(...) as s:` (or get from `neon.current_span()`)."""

    def __init__(self, span: Span) -> None:
        self.otel_span = span

    @property
    def trace_id(self) -> str:
        return format(self.otel_span.get_span_context().trace_id, "032x")

    @property
    def span_id(self) -> str:
        return format(self.otel_span.get_span_context().span_id, "016x")

    def set_attribute(self, key: str, value: Any) -> SpanHandle:
        if value is None:
            return self
        if isinstance(value, str | bool | int | float):
            self.otel_span.set_attribute(key, value)
        elif isinstance(value, Sequence) and all(isinstance(v, str) for v in value):
            self.otel_span.set_attribute(key, list(value))
        else:
            self._set_payload(key, value)
        return self

    def set_input(self, value: Any) -> SpanHandle:
        return self._set_payload(A.INPUT, value)

    def set_output(self, value: Any) -> SpanHandle:
        return self._set_payload(A.OUTPUT, value)

    def set_usage(self, *, input_tokens: int | None = None, output_tokens: int | None = None,
                  total_tokens: int | None = None, cached_input_tokens: int | None = None) -> SpanHandle:
        for key, value in ((A.INPUT_TOKENS, input_tokens), (A.OUTPUT_TOKENS, output_tokens),
                           (A.TOTAL_TOKENS, total_tokens), (A.CACHED_INPUT_TOKENS, cached_input_tokens)):
            if value is not None:
                self.otel_span.set_attribute(key, int(value))
        return self

    def set_model(self, model: str, *, provider: str | None = None) -> SpanHandle:
        self.otel_span.set_attribute(A.RESPONSE_MODEL, model)
        if provider:
            self.otel_span.set_attribute(A.PROVIDER, provider)
        return self

    def set_finish_reason(self, *reasons: str) -> SpanHandle:
        self.otel_span.set_attribute(A.FINISH_REASONS, list(reasons))
        return self

    def record_error(self, error: BaseException) -> SpanHandle:
        self.otel_span.record_exception(error)
        self.otel_span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"))
        return self

    def _set_payload(self, key: str, value: Any) -> SpanHandle:
        config = current()
        if not config.capture_io:
            return self
        text, cut = to_attribute(value, config.max_payload_chars, config.redact)
        self.otel_span.set_attribute(key, text)
        if cut:
            self.otel_span.set_attribute(A.TRUNCATED, True)
        return self


def bind_context(fn: F) -> F:
    """`fn` to run, wherever it is called (another thread, a pool), inside the span active here and now:

        pool.submit(neon.bind_context(search), query)   # the search span nests under the current one
    """
    captured = otel_context.get_current()

    @functools.wraps(fn)
    def bound(*args: Any, **kwargs: Any) -> Any:
        token = otel_context.attach(captured)
        try:
            return fn(*args, **kwargs)
        finally:
            otel_context.detach(token)
    return cast(F, bound)


def current_span() -> SpanHandle:
    """The span that is active here (a non-recording one outside any span)."""
    return SpanHandle(trace.get_current_span())


class SpanFactory:
    """What the helpers return: a context manager for one span, or a decorator making one per call."""

    def __init__(self, name: str | None, attributes: Mapping[str, Any], *, input: Any = None,
                 capture_args: bool = True, capture_result: bool = True, name_attribute: str | None = None) -> None:
        self._name = name
        self._name_attribute = name_attribute  # set to the span's name when not given (e.g. a tool's name)
        self._attributes = dict(attributes)
        self._input = input
        self._capture_args = capture_args
        self._capture_result = capture_result
        self._stack: list[tuple[SpanHandle, object]] = []

    # ------------------------------------------------------------ context manager
    def _start(self, name: str, input_value: Any) -> SpanHandle:
        # Plain attributes go in at start, so that span processors (live breakpoints) see them on enter.
        initial: dict[str, Any] = {}
        later: dict[str, Any] = {}
        for key, value in self._attributes.items():
            if isinstance(value, str | bool | int | float) or (
                    isinstance(value, list) and all(isinstance(v, str) for v in value)):
                initial[key] = value
            else:
                later[key] = value
        environment = current().environment
        if environment and A.ENVIRONMENT not in initial:
            initial[A.ENVIRONMENT] = environment
        if self._name_attribute and self._name_attribute not in initial:
            initial[self._name_attribute] = name
        clock = current().clock
        handle = SpanHandle(tracer().start_span(name, attributes=initial,
                                                start_time=clock() if clock is not None else None))
        for key, value in later.items():
            handle.set_attribute(key, value)
        if input_value is not None:
            handle.set_input(input_value)
        return handle

    def __enter__(self) -> SpanHandle:
        handle = self._start(self._name or "span", self._input)
        token = otel_context.attach(trace.set_span_in_context(handle.otel_span))
        self._stack.append((handle, token))
        return handle

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        handle, token = self._stack.pop()
        otel_context.detach(cast(Any, token))
        if exc is not None:
            handle.record_error(exc)
        _end(handle)

    async def __aenter__(self) -> SpanHandle:
        return self.__enter__()

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        self.__exit__(exc_type, exc, tb)

    # ------------------------------------------------------------ decorator
    def __call__(self, fn: F) -> F:  # noqa: PLR0915 - one wrapper per kind of callable, side by side
        name = self._name or fn.__name__
        signature = inspect.signature(fn)

        def arguments(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
            if self._input is not None:
                return self._input
            if not self._capture_args:
                return None
            try:
                bound = signature.bind_partial(*args, **kwargs)
            except TypeError:
                return None
            values = dict(bound.arguments)
            values.pop("self", None)
            values.pop("cls", None)
            return values

        def finish(handle: SpanHandle, result: Any) -> None:
            if self._capture_result and result is not None:
                handle.set_output(result)

        if inspect.isasyncgenfunction(fn):
            @functools.wraps(fn)
            async def async_gen_wrapper(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
                recorder = _StreamRecorder(self._start(name, arguments(args, kwargs)))
                stream = fn(*args, **kwargs)
                try:
                    while True:
                        token = otel_context.attach(recorder.context)
                        try:
                            item = await stream.__anext__()
                        except StopAsyncIteration:
                            break
                        finally:
                            otel_context.detach(token)
                        recorder.item(item)
                        yield item
                except BaseException as exc:
                    recorder.failed(exc)
                    raise
                finally:
                    finish(recorder.handle, recorder.output())
                    _end(recorder.handle)
            return cast(F, async_gen_wrapper)

        if inspect.isgeneratorfunction(fn):
            @functools.wraps(fn)
            def gen_wrapper(*args: Any, **kwargs: Any) -> Iterator[Any]:
                recorder = _StreamRecorder(self._start(name, arguments(args, kwargs)))
                stream = fn(*args, **kwargs)
                try:
                    while True:
                        token = otel_context.attach(recorder.context)
                        try:
                            item = next(stream)
                        except StopIteration:
                            break
                        finally:
                            otel_context.detach(token)
                        recorder.item(item)
                        yield item
                except BaseException as exc:
                    recorder.failed(exc)
                    raise
                finally:
                    finish(recorder.handle, recorder.output())
                    _end(recorder.handle)
            return cast(F, gen_wrapper)

        if inspect.iscoroutinefunction(fn):
            @functools.wraps(fn)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                handle = self._start(name, arguments(args, kwargs))
                token = otel_context.attach(trace.set_span_in_context(handle.otel_span))
                try:
                    result = await fn(*args, **kwargs)
                except BaseException as exc:
                    handle.record_error(exc)
                    raise
                else:
                    finish(handle, result)
                    return result
                finally:
                    otel_context.detach(token)
                    _end(handle)
            return cast(F, async_wrapper)

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            handle = self._start(name, arguments(args, kwargs))
            token = otel_context.attach(trace.set_span_in_context(handle.otel_span))
            try:
                result = fn(*args, **kwargs)
            except BaseException as exc:
                handle.record_error(exc)
                raise
            else:
                finish(handle, result)
                return result
            finally:
                otel_context.detach(token)
                _end(handle)
        return cast(F, wrapper)


class _StreamRecorder:
    """The span of one generator run: the context its body runs in, its items, time to the first one."""

    def __init__(self, handle: SpanHandle) -> None:
        self.handle = handle
        self.context = trace.set_span_in_context(handle.otel_span)
        self.items: list[Any] = []
        self.started = time.perf_counter()

    def item(self, item: Any) -> None:
        if not self.items:
            self.handle.set_attribute(A.TIME_TO_FIRST_TOKEN_MS, (time.perf_counter() - self.started) * 1000)
        self.items.append(item)

    def failed(self, exc: BaseException) -> None:
        if not isinstance(exc, GeneratorExit):  # closing a stream early is not an error
            self.handle.record_error(exc)

    def output(self) -> Any:
        if not self.items:
            return None
        if all(isinstance(i, str) for i in self.items):
            return "".join(self.items)
        return self.items


def _end(handle: SpanHandle) -> None:
    clock = current().clock
    handle.otel_span.end(end_time=clock() if clock is not None else None)


def _common(span_type: str | None, component_type: str | None, *, session_id: str | None = None,
            user_id: str | None = None, agent_id: str | None = None, agent_version: str | None = None,
            environment: str | None = None, tags: Sequence[str] | None = None,
            metadata: Mapping[str, Any] | None = None, attributes: Mapping[str, Any] | None = None) -> dict[str, Any]:
    values: dict[str, Any] = {A.SPAN_TYPE: span_type, A.COMPONENT_TYPE: component_type, A.SESSION_ID: session_id,
                              A.USER_ID: user_id, A.AGENT_ID: agent_id, A.AGENT_VERSION: agent_version,
                              A.ENVIRONMENT: environment, A.TAGS: list(tags) if tags else None}
    for key, value in (metadata or {}).items():
        values[A.METADATA_PREFIX + key] = value
    values.update(attributes or {})
    return {k: v for k, v in values.items() if v is not None}
