"""`neon.configure()`: where spans go, and how the SDK joins an existing OpenTelemetry setup."""

from __future__ import annotations

import logging
import os
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter

from neon.credentials import credentials_path, load_credentials
from neon.tracing.export import NeonSpanProcessor
from neon.tracing.serialize import Redactor

log = logging.getLogger("neon")

DEFAULT_BASE_URL = "http://127.0.0.1:3000"


@dataclass
class NeonConfig:
    base_url: str = DEFAULT_BASE_URL
    api_key: str | None = None
    environment: str | None = None
    max_payload_chars: int = 32_000
    capture_io: bool = True
    redact: Redactor | None = None
    provider: TracerProvider | None = None
    processors: list[SpanProcessor] = field(default_factory=list)
    clock: Callable[[], int] | None = None  # nanoseconds; set by neon.testing for deterministic timestamps


class _State:
    """The process's Neon configuration: like OpenTelemetry's global tracer provider, one per process."""

    config = NeonConfig()
    with_breakpoints: ClassVar[weakref.WeakSet[TracerProvider]] = weakref.WeakSet()  # providers evaluating them
    tracer: tuple[TracerProvider, trace.Tracer] | None = None
    first_use_done = False  # whether the first span made without configure() has looked for settings


_lock = threading.Lock()
_first_use_lock = threading.Lock()
AUTOCONFIGURE_ENV = "NEON_AUTOCONFIGURE"
NOT_CONFIGURED_WARNING = (
    "neon: spans are not being sent anywhere: neon.configure() was not called, and neither NEON_API_KEY / "
    "NEON_BASE_URL nor the credentials `neon up` saves (%s) were found. Call neon.configure(base_url=..., "
    "api_key=...), set NEON_BASE_URL and NEON_API_KEY, or run `neon up` on this machine. "
    "(Set NEON_AUTOCONFIGURE=0 to keep Neon's helpers without exporting, and silence this.)")
_state = _State()


def current() -> NeonConfig:
    return _state.config


def configure(*, base_url: str | None = None, api_key: str | None = None, service_name: str | None = None,
              environment: str | None = None, tracer_provider: TracerProvider | None = None,
              exporter: SpanExporter | None = None, export: bool = True, capture_io: bool = True,
              redact: Redactor | None = None, max_payload_chars: int = 32_000,
              max_queue_size: int = 8192, schedule_delay_millis: int = 500) -> TracerProvider:
    """Send this process's spans to Neon. Returns the tracer provider in use.

    Settings come from the arguments, else `NEON_BASE_URL` / `NEON_API_KEY` / `NEON_ENVIRONMENT`, else the
    credentials `neon up` saved on this machine. If the process already has an OpenTelemetry SDK tracer
    provider (yours, or an auto-instrumentation's), Neon adds its exporter to it instead of replacing it.
    Export is batched on a background thread with a bounded queue: a slow or dead server costs dropped spans
    (logged by OpenTelemetry), never a blocked or crashed program.
    """
    saved = load_credentials()
    url = base_url or os.environ.get("NEON_BASE_URL") or (saved.base_url if saved else DEFAULT_BASE_URL)
    key = api_key or os.environ.get("NEON_API_KEY") or (saved.api_key if saved else None)
    env = environment or os.environ.get("NEON_ENVIRONMENT")
    with _lock:
        provider = tracer_provider or _existing_sdk_provider()
        if provider is None:
            service = service_name or os.environ.get("OTEL_SERVICE_NAME", "neon-app")
            attributes: dict[str, Any] = {"service.name": service}
            provider = TracerProvider(resource=Resource.create(attributes))
            trace.set_tracer_provider(provider)
        processors: list[SpanProcessor] = []
        if provider not in _state.with_breakpoints:
            from neon.breakpoints.core import BreakpointProcessor

            provider.add_span_processor(BreakpointProcessor())  # live breakpoints: see neon.breakpoints
            _state.with_breakpoints.add(provider)
        if export:
            if exporter is None:
                from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

                headers = {"x-api-key": key} if key else {}
                exporter = OTLPSpanExporter(endpoint=f"{url.rstrip('/')}/v1/traces", headers=headers, timeout=10)
            processor = NeonSpanProcessor(exporter, max_queue_size=max_queue_size,
                                          max_export_batch_size=min(512, max_queue_size),
                                          schedule_delay_millis=schedule_delay_millis)
            provider.add_span_processor(processor)
            processors.append(processor)
        _state.config = NeonConfig(base_url=url, api_key=key, environment=env, max_payload_chars=max_payload_chars,
                             capture_io=capture_io, redact=redact, provider=provider, processors=processors)
    return provider


def restore(previous: NeonConfig) -> None:
    """Put back a configuration saved with `current()` (used by neon.testing)."""
    with _lock:
        _state.config = previous


def tracer() -> trace.Tracer:
    """The tracer Neon's helpers use: from the configured provider, else the global one.

    The first span made without `configure()` configures the SDK from the environment or the saved credentials
    when either is there (see `configure_on_first_use`).
    """
    provider = _state.config.provider
    if provider is None and not _state.first_use_done:
        provider = configure_on_first_use()
    if provider is None:
        return trace.get_tracer("neon.sdk")
    cached = _state.tracer
    if cached is None or cached[0] is not provider:  # getting a tracer costs ~10 µs: once per provider
        cached = _state.tracer = (provider, provider.get_tracer("neon.sdk"))
    return cached[1]


def configure_on_first_use() -> TracerProvider | None:
    """Configure from `NEON_BASE_URL` / `NEON_API_KEY` or the saved credentials, once, if nothing configured yet.

    A program that set the environment (or runs where `neon up` saved its key) and uses `neon.trace` without
    calling `configure()` gets its spans exported, as it expects; that is said once at debug level. With no
    settings anywhere, one warning says how to fix it, unless the process has an OpenTelemetry SDK provider
    of its own (the spans go there). `NEON_AUTOCONFIGURE=0` turns this off.
    """
    with _first_use_lock:
        if _state.first_use_done or _state.config.provider is not None:
            return _state.config.provider
        _state.first_use_done = True
        if os.environ.get(AUTOCONFIGURE_ENV, "").strip().lower() in {"0", "false", "no", "off"}:
            return None
        if os.environ.get("NEON_API_KEY") or os.environ.get("NEON_BASE_URL"):
            source = "the environment (NEON_BASE_URL / NEON_API_KEY)"
        elif load_credentials() is not None:
            source = f"the credentials saved by `neon up` ({credentials_path()})"
        else:
            if _existing_sdk_provider() is None:
                log.warning(NOT_CONFIGURED_WARNING, credentials_path())
            return None
        provider = configure()
        log.debug("neon: configured on first use from %s, sending to %s; call neon.configure() to choose "
                  "otherwise", source, _state.config.base_url)
        return provider


def disable_autoconfigure() -> None:
    """Never configure on first use in this process (for processes that make spans only for themselves, such
    as the Neon server running LLM judges, and test suites)."""
    with _first_use_lock:
        _state.first_use_done = True


def _existing_sdk_provider() -> TracerProvider | None:
    provider = trace.get_tracer_provider()
    return provider if isinstance(provider, TracerProvider) else None


def dropped_spans() -> int:
    """Spans dropped because the export queue was full (the server slow or unreachable)."""
    return sum(getattr(p, "dropped", 0) for p in _state.config.processors)


def flush(timeout_millis: int = 30_000) -> bool:
    """Export everything recorded so far; True if it all went out in time."""
    provider = _state.config.provider or _existing_sdk_provider()
    return provider.force_flush(timeout_millis) if provider is not None else True
