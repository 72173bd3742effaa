"""Helpers for testing code instrumented with Neon: spans kept in memory, deterministic ids and clock.

    from neon.testing import capture_spans

    def test_my_agent():
        with capture_spans() as spans:
            run_agent("hi")
        assert [s.name for s in spans.finished()] == ["search", "run_agent"]
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.id_generator import IdGenerator

from neon.tracing import config as _config
from neon.tracing.serialize import Redactor


class SequentialIds(IdGenerator):
    """Trace ids 1, 2, 3… and span ids 1, 2, 3…: stable across runs, easy to read in assertions."""

    def __init__(self) -> None:
        self._traces = itertools.count(1)
        self._spans = itertools.count(1)

    def generate_trace_id(self) -> int:
        return next(self._traces)

    def generate_span_id(self) -> int:
        return next(self._spans)


class CapturedSpans:
    def __init__(self, exporter: InMemorySpanExporter) -> None:
        self._exporter = exporter

    def finished(self) -> list[ReadableSpan]:
        return list(self._exporter.get_finished_spans())

    def by_name(self, name: str) -> ReadableSpan:
        matches = [s for s in self.finished() if s.name == name]
        if len(matches) != 1:
            raise AssertionError(f"expected one span named {name!r}, found {len(matches)}")
        return matches[0]

    def attributes(self, name: str) -> dict[str, Any]:
        return dict(self.by_name(name).attributes or {})

    def clear(self) -> None:
        self._exporter.clear()


class TickClock:
    """A clock for span timestamps that starts at `start` ns and advances `step` ns at every reading."""

    def __init__(self, start: int = 1_700_000_000_000_000_000, step: int = 1_000_000) -> None:
        self._next = itertools.count(start, step)

    def __call__(self) -> int:
        return next(self._next)


@contextmanager
def capture_spans(*, deterministic_ids: bool = True, clock: Callable[[], int] | None = None,
                  redact: Redactor | None = None, max_payload_chars: int | None = None) -> Iterator[CapturedSpans]:
    """Route spans made inside the block to memory (nothing is exported), restoring the setup after.

    `clock` (e.g. `TickClock()`) gives Neon's spans deterministic timestamps; `redact` and
    `max_payload_chars` apply inside the block (default: as configured)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(id_generator=SequentialIds()) if deterministic_ids else TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    previous = _config.current()
    _config.configure(tracer_provider=provider, export=False, capture_io=previous.capture_io,
                      redact=redact or previous.redact,
                      max_payload_chars=max_payload_chars or previous.max_payload_chars)
    _config.current().clock = clock
    try:
        yield CapturedSpans(exporter)
    finally:
        _config.restore(previous)
        provider.shutdown()
