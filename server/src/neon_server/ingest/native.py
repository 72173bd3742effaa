"""Neon's native JSON ingest format, for clients without OpenTelemetry.

A body is one trace object, a list of them, or {"traces": [...]}. A trace:

    {"trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",      # 32 hex or a UUID; generated when absent
     "name": "my-agent", "status": "ok",                   # these make the trace's root span
     "session_id": "...", "user_id": "...", "agent_id": "...", "agent_version": "...", "environment": "...",
     "tags": ["beta"], "metadata": {...}, "input": ..., "output": ...,
     "start_time": "2026-11-20T12:00:00Z", "end_time": ...,  # or unix seconds / nanoseconds; defaults: spans' span
     "spans": [{"span_id": "step-1", "parent_span_id": null, "name": "plan", "type": "generation",
                "start_time": ..., "end_time": ... | "duration_ms": 120, "status": "error",
                "status_message": "...", "model": "gpt-4o", "provider": "openai", "input_tokens": 10,
                "output_tokens": 5, "cost": 0.001, "tool_name": "...", "input": ..., "output": ...,
                "component_type": "planning", "attributes": {...}}]}

Span ids may be any string: ids that are not 16 hex characters are hashed to one (the same string always
gives the same id, so parents can refer to children's ids as written). Spans without a parent hang under
the trace's root span.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from datetime import datetime
from typing import Any

from neon_server.ingest.columns import SpanColumns
from neon_server.ingest.otlp import DecodeResult, UndecodableBody, check_times, parse_json_body
from neon_server.ingest.semconv import Limits, ResourceInfo, append_span

HEX = frozenset("0123456789abcdef")
SPAN_FIELDS = {"type": "neon.span_type", "span_type": "neon.span_type", "component_type": "neon.component_type",
               "model": "neon.model", "provider": "neon.provider", "input_tokens": "gen_ai.usage.input_tokens",
               "output_tokens": "gen_ai.usage.output_tokens", "total_tokens": "gen_ai.usage.total_tokens",
               "cached_input_tokens": "gen_ai.usage.cache_read.input_tokens", "cost": "neon.cost",
               "tool_name": "neon.tool.name", "session_id": "neon.session_id", "user_id": "neon.user_id",
               "agent_id": "neon.agent_id", "agent_version": "neon.agent_version",
               "environment": "neon.environment", "tags": "neon.tags", "input": "neon.input",
               "output": "neon.output"}
TRACE_FIELDS = ("session_id", "user_id", "agent_id", "agent_version", "environment", "tags")
STATUSES = {"ok": "ok", "success": "ok", "error": "error", "failed": "error", "unset": "unset", "": "unset"}


def _trace_id(value: Any) -> str | None:
    if value is None:
        return secrets.token_hex(16)
    text = str(value).lower().replace("-", "")
    return text if len(text) == 32 and set(text) <= HEX and text != "0" * 32 else None


def _span_id(value: Any) -> str:
    text = str(value)
    if len(text) == 16 and set(text) <= HEX and text != "0" * 16:
        return text
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def _time_ns(value: Any) -> int | None:
    """ISO 8601, unix seconds (float) or unix nanoseconds (int > 1e15) → ns; None when absent; -1 when bad."""
    if value is None:
        return None
    if isinstance(value, bool):
        return -1
    if isinstance(value, int | float):
        return int(value) if value > 1e15 else int(value * 1e9)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return -1
        if parsed.tzinfo is None:
            return -1
        return int(parsed.timestamp()) * 10**9 + parsed.microsecond * 1000
    return -1


def _attributes(obj: dict[str, Any], fields: dict[str, str]) -> list[tuple[str, Any]]:
    pairs: list[tuple[str, Any]] = []
    extra = obj.get("attributes") or obj.get("metadata")
    if isinstance(extra, dict):
        pairs.extend((str(k), v) for k, v in extra.items())
    for name, key in fields.items():
        value = obj.get(name)
        if value is not None:
            pairs.append((key, value if isinstance(value, str | int | float | bool | list) else json.dumps(value)))
    return pairs


def decode_native(body: bytes, project_id: str, limits: Limits) -> tuple[DecodeResult, list[str]]:
    """(decoded spans, the trace ids in request order)."""
    data, repaired = parse_json_body(body)
    traces = data.get("traces") if isinstance(data, dict) and "traces" in data else data
    if isinstance(traces, dict):
        traces = [traces]
    if not isinstance(traces, list):
        raise UndecodableBody('body must be a trace object, a list of traces, or {"traces": [...]}')
    result = DecodeResult(SpanColumns(project_id))
    if repaired:
        result.reasons.append("invalid UTF-8 replaced with U+FFFD")
    resource = ResourceInfo([], limits)
    trace_ids: list[str] = []
    now_ns = time.time_ns()
    for index, trace in enumerate(traces):
        if not isinstance(trace, dict):
            result.reject(f"traces[{index}] is not an object")
            continue
        try:
            trace_ids.append(_decode_trace(trace, index, result, limits, resource, now_ns))
        except (TypeError, ValueError, AttributeError, OverflowError) as exc:
            result.columns.trim(result.columns.span_count())
            result.reject(f"traces[{index}] is malformed: {exc}")
    return result, trace_ids


def _decode_trace(trace: dict[str, Any], index: int, result: DecodeResult, limits: Limits,
                  resource: ResourceInfo, now_ns: int) -> str:
    spans = trace.get("spans") or []
    if not isinstance(spans, list):
        result.reject(f"traces[{index}].spans is not a list")
        return ""
    trace_id = _trace_id(trace.get("trace_id"))
    if trace_id is None:
        result.reject(f"traces[{index}].trace_id must be 32 hex characters or a UUID", 1 + len(spans))
        return ""
    cols = result.columns.cols
    inherited = {name: trace[name] for name in TRACE_FIELDS if trace.get(name) is not None}
    root_id = _span_id(trace["root_span_id"]) if trace.get("root_span_id") else _span_id(f"{trace_id}:root")
    starts: list[int] = []
    ends: list[int] = []
    for position, span in enumerate(spans):
        where = f"traces[{index}].spans[{position}]"
        if not isinstance(span, dict):
            result.reject(f"{where} is not an object")
            continue
        start = _time_ns(span.get("start_time"))
        end = _time_ns(span.get("end_time"))
        if start is None:
            start = now_ns
        if end is None:
            duration = span.get("duration_ms")
            end = start + int(float(duration) * 1e6) if isinstance(duration, int | float) else start
        problem = "unparseable time" if start < 0 or end < 0 else check_times(start, end, now_ns)
        if problem:
            result.reject(f"{where}: {problem}")
            continue
        if span.get("span_id") is None:
            result.reject(f"{where}: span_id missing")
            continue
        span_id = _span_id(span["span_id"])
        if (trace_id, span_id) in result.seen:
            result.reject(f"{where}: duplicate span_id")
            continue
        result.seen.add((trace_id, span_id))
        parent = span.get("parent_span_id")
        status = STATUSES.get(str(span.get("status") or "").lower(), "unset")
        append_span(cols, limits, trace_id=trace_id, span_id=span_id,
                    parent_span_id=_span_id(parent) if parent else root_id, name=str(span.get("name") or ""),
                    start_ns=start, end_ns=end, status=status, status_message=str(span.get("status_message") or ""),
                    attributes=_attributes({**inherited, **span}, SPAN_FIELDS), resource=resource, scope="neon.native",
                    events="")
        starts.append(start)
        ends.append(end)
    root_start = _time_ns(trace.get("start_time"))
    root_end = _time_ns(trace.get("end_time"))
    start = root_start if root_start is not None and root_start > 0 else min(starts, default=now_ns)
    end = root_end if root_end is not None and root_end > 0 else max(ends, default=start)
    problem = check_times(start, max(end, start), now_ns)
    if problem:
        result.reject(f"traces[{index}]: {problem}")
        return trace_id
    if (trace_id, root_id) not in result.seen:
        result.seen.add((trace_id, root_id))
        root_fields = {**SPAN_FIELDS}
        root_fields.pop("type")
        attributes = _attributes({"span_type": trace.get("type", "agent"), **trace}, root_fields)
        append_span(cols, limits, trace_id=trace_id, span_id=root_id, parent_span_id="",
                    name=str(trace.get("name") or "trace"), start_ns=start, end_ns=max(end, start),
                    status=STATUSES.get(str(trace.get("status") or "").lower(), "unset"),
                    status_message=str(trace.get("status_message") or ""), attributes=attributes,
                    resource=resource, scope="neon.native", events="")
    return trace_id
