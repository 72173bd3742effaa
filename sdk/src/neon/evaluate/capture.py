"""Keeping the spans of chosen traces in memory while they are also exported as usual.

The runner needs each case's spans to build its `Outcome`, and the same spans must still reach the server.
A `TraceCollector` is one more span processor on the tracer provider: it keeps only the spans of traces it
was asked to watch, so the rest of the program's spans pass by at the cost of a set lookup.
"""

from __future__ import annotations

import threading
import weakref

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider

from neon.breakpoints.spans import SpanInfo


class TraceCollector(SpanProcessor):
    """Spans of the watched traces, as `SpanInfo` in start order."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._kept: dict[int, list[tuple[int, SpanInfo]]] = {}

    def watch(self, trace_id: int) -> None:
        with self._lock:
            self._kept.setdefault(trace_id, [])

    def take(self, trace_id: int) -> list[SpanInfo]:
        """The trace's finished spans (start order), and stop watching it."""
        with self._lock:
            kept = self._kept.pop(trace_id, [])
        return [info for _start, info in sorted(kept, key=lambda pair: pair[0])]

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        return None

    def on_end(self, span: ReadableSpan) -> None:
        context = span.context
        if context is None:
            return
        with self._lock:
            kept = self._kept.get(context.trace_id)
            if kept is not None:
                kept.append((span.start_time or 0, SpanInfo.from_otel(span)))

    def shutdown(self) -> None:
        with self._lock:
            self._kept.clear()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


# One collector per provider: processors cannot be removed from a provider, so adding one per run would
# pile them up in a long-lived process. Weak keys let a discarded provider (tests make many) go.
_collectors: weakref.WeakKeyDictionary[TracerProvider, TraceCollector] = weakref.WeakKeyDictionary()
_collectors_lock = threading.Lock()


def collector_for(provider: TracerProvider) -> TraceCollector:
    """The provider's collector, added to it the first time."""
    with _collectors_lock:
        found = _collectors.get(provider)
        if found is None:
            found = _collectors[provider] = TraceCollector()
            provider.add_span_processor(found)
        return found
