"""One view of a span for breakpoints, whether it is live (OpenTelemetry) or stored (fetched as JSON)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from neon.tracing import attributes as A

STATUS_NAMES = {0: "unset", 1: "ok", 2: "error"}


@dataclass
class SpanInfo:
    name: str
    span_type: str = "span"
    component_type: str = ""
    status: str = "unset"
    status_message: str = ""
    tool_name: str = ""
    model: str = ""
    trace_id: str = ""
    span_id: str = ""
    parent_span_id: str = ""
    duration_ms: float | None = None
    attributes: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_otel(cls, span: Any) -> SpanInfo:
        """From an OpenTelemetry SDK span (live, started or ended)."""
        attrs = dict(span.attributes or {})
        ctx = span.get_span_context()
        status = span.status
        code = getattr(status.status_code, "value", 0)
        duration = None
        if span.end_time and span.start_time:
            duration = (span.end_time - span.start_time) / 1e6
        return cls(
            name=span.name, span_type=str(attrs.get(A.SPAN_TYPE) or _type_from_genai(attrs)),
            component_type=str(attrs.get(A.COMPONENT_TYPE) or ""), status=STATUS_NAMES.get(code, "unset"),
            status_message=status.description or "",
            tool_name=str(attrs.get(A.TOOL_NAME) or attrs.get("gen_ai.tool.name") or ""),
            model=str(attrs.get(A.RESPONSE_MODEL) or attrs.get(A.MODEL) or ""),
            trace_id=format(ctx.trace_id, "032x"), span_id=format(ctx.span_id, "016x"),
            parent_span_id=format(span.parent.span_id, "016x") if span.parent else "", duration_ms=duration,
            attributes=attrs)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SpanInfo:
        """From a stored span as the API returns it (or the native ingest shape)."""
        attributes = dict(data.get("attributes") or {})
        duration = data.get("duration_ms")
        if duration is None and data.get("duration_ns") is not None:
            duration = float(data["duration_ns"]) / 1e6
        return cls(
            name=str(data.get("name", "")), span_type=str(data.get("span_type") or data.get("type") or "span"),
            component_type=str(data.get("component_type") or ""), status=str(data.get("status") or "unset"),
            status_message=str(data.get("status_message") or ""), tool_name=str(data.get("tool_name") or ""),
            model=str(data.get("model") or ""), trace_id=str(data.get("trace_id") or ""),
            span_id=str(data.get("span_id") or ""), parent_span_id=str(data.get("parent_span_id") or ""),
            duration_ms=float(duration) if duration is not None else None, attributes=attributes)

    def field(self, path: str) -> Any:
        """`name`, `span_type`, … or `attributes.KEY` (for templates)."""
        if path.startswith("attributes."):
            return self.attributes.get(path[len("attributes."):])
        return getattr(self, path, None)


@dataclass
class TraceInfo:
    trace_id: str = ""
    name: str = ""
    attributes: dict[str, Any] = field(default_factory=dict)

    def field(self, path: str) -> Any:
        if path.startswith("attributes."):
            return self.attributes.get(path[len("attributes."):])
        return getattr(self, path, None)


def _type_from_genai(attrs: Mapping[str, Any]) -> str:
    operation = attrs.get(A.OPERATION)
    if operation in ("chat", "text_completion", "generate_content"):
        return "generation"
    if operation == "execute_tool" or attrs.get("gen_ai.tool.name"):
        return "tool"
    return "span"
