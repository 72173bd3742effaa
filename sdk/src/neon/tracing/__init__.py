"""Tracing: spans for agents over OpenTelemetry."""

from neon.tracing.config import configure, flush
from neon.tracing.kinds import generation, memory, planning, prompt, reasoning, retrieval, routing, span, tool, trace
from neon.tracing.spans import SpanFactory, SpanHandle, current_span

__all__ = ["SpanFactory", "SpanHandle", "configure", "current_span", "flush", "generation", "memory", "planning",
           "prompt", "reasoning", "retrieval", "routing", "span", "tool", "trace"]
