"""Tracing: spans for agents over OpenTelemetry."""

from neon.tracing.config import configure, dropped_spans, flush
from neon.tracing.kinds import generation, memory, planning, prompt, reasoning, retrieval, routing, span, tool, trace
from neon.tracing.spans import SpanFactory, SpanHandle, bind_context, current_span

__all__ = ["SpanFactory", "SpanHandle", "bind_context", "configure", "current_span", "dropped_spans", "flush",
           "generation", "memory", "planning", "prompt", "reasoning", "retrieval", "routing", "span", "tool",
           "trace"]
