"""OTLP/HTTP trace decoding (protobuf and JSON) straight into span columns.

Bad spans are rejected one by one with a reason (counted for the OTLP partial-success answer); the good spans
of the same request still land. Only a body that cannot be parsed at all is a 400.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from neon_server.ingest.columns import SpanColumns
from neon_server.ingest.semconv import Limits, ResourceInfo, append_span

native_walk: Callable[[bytes], list[Any]] | None
try:
    from neon_native._otlp import walk as native_walk
except ImportError:  # the C helpers are not built here: protobuf's message objects are read instead (same values)
    native_walk = None

STATUS = {0: "unset", 1: "ok", 2: "error"}
STATUS_NAMES = {"STATUS_CODE_UNSET": 0, "STATUS_CODE_OK": 1, "STATUS_CODE_ERROR": 2}
SPAN_KINDS = {2: "server", 3: "client", 4: "producer", 5: "consumer"}
MAX_TIME_NS = 2**63 - 1
FUTURE_SLACK_NS = 24 * 3600 * 10**9  # clocks drift; a day ahead is a bad clock, not a late span


class UndecodableBody(ValueError):
    """The body as a whole cannot be parsed: answered with 400."""


@dataclass
class DecodeResult:
    columns: SpanColumns
    rejected: int = 0
    reasons: list[str] = field(default_factory=list)
    seen: set[tuple[str, str]] = field(default_factory=set)

    def reject(self, reason: str, count: int = 1) -> None:
        self.rejected += count
        if len(self.reasons) < 5 and reason not in self.reasons:
            self.reasons.append(reason)

    def message(self) -> str:
        return "; ".join(self.reasons)


def check_times(start_ns: int, end_ns: int, now_ns: int) -> str | None:
    """None if the span's times are usable, else why not."""
    if start_ns <= 0:
        return "start time missing"
    if start_ns > MAX_TIME_NS or end_ns > MAX_TIME_NS:
        return "timestamp out of range"
    if end_ns and end_ns < start_ns:
        return "end time before start time"
    if start_ns > now_ns + FUTURE_SLACK_NS:
        return "start time more than a day in the future"
    return None


# ---------------------------------------------------------------- protobuf
def _pb_value(v: Any) -> Any:
    kind = v.WhichOneof("value")
    if kind == "string_value":
        return v.string_value
    if kind == "int_value":
        return v.int_value
    if kind == "double_value":
        return v.double_value
    if kind == "bool_value":
        return v.bool_value
    if kind == "array_value":
        return [_pb_value(x) for x in v.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: _pb_value(kv.value) for kv in v.kvlist_value.values}
    if kind == "bytes_value":
        return base64.b64encode(v.bytes_value).decode()
    return None


def _pb_events(span: Any) -> tuple[str, str]:
    """(events as JSON, exception message if any)."""
    if not span.events and not span.links:
        return "", ""
    events = []
    exception = ""
    for e in span.events:
        attrs = {kv.key: _pb_value(kv.value) for kv in e.attributes}
        if e.name == "exception" and not exception:
            exception = f"{attrs.get('exception.type', '')}: {attrs.get('exception.message', '')}".strip(": ")
        events.append({"time_unix_nano": e.time_unix_nano, "name": e.name, "attributes": attrs})
    for link in span.links:
        events.append({"name": "link", "trace_id": link.trace_id.hex(), "span_id": link.span_id.hex(),
                       "attributes": {kv.key: _pb_value(kv.value) for kv in link.attributes}})
    return json.dumps(events, ensure_ascii=False, default=str), exception


def _pb_walk(body: bytes) -> list[Any]:
    """The body read through protobuf's message objects, in the shape `neon_native._otlp.walk` gives (with the
    span message itself as the last item of a span that has events or links)."""
    request = ExportTraceServiceRequest()
    try:
        request.ParseFromString(body)
    except DecodeError as exc:
        raise UndecodableBody(f"not an OTLP ExportTraceServiceRequest in protobuf: {exc}") from None
    return [([(kv.key, _pb_value(kv.value)) for kv in resource_spans.resource.attributes],
             [(scope_spans.scope.name,
               [(span.trace_id, span.span_id, span.parent_span_id, span.name, span.kind, span.start_time_unix_nano,
                 span.end_time_unix_nano, span.status.code, span.status.message,
                 [(kv.key, _pb_value(kv.value)) for kv in span.attributes],
                 span if span.events or span.links else None) for span in scope_spans.spans])
              for scope_spans in resource_spans.scope_spans])
            for resource_spans in request.resource_spans]


def _events_of(extra: Any) -> tuple[str, str]:
    """A walked span's events and links: none, its message (protobuf's walk) or its bytes (the C walker's)."""
    if extra is None:
        return "", ""
    return _pb_events(Span.FromString(extra) if isinstance(extra, bytes) else extra)


def _walk(body: bytes, native: bool) -> list[Any]:
    if native and native_walk is not None:
        try:
            return native_walk(body)
        except ValueError:
            pass  # something the walker does not expect: protobuf reads it and decides
    return _pb_walk(body)


def decode_protobuf(body: bytes, project_id: str, limits: Limits, *, native: bool = False) -> DecodeResult:
    """Map an ExportTraceServiceRequest onto span columns. `native`: read it with the C walker when installed
    (`neon_native`: reads ~3× faster than protobuf's message objects, same values); only for bodies protobuf has
    accepted before (`check_protobuf`), since the walker does not validate the fields it skips."""
    walked = _walk(body, native)
    result = DecodeResult(SpanColumns(project_id))
    now_ns = time.time_ns()
    for resource_attributes, scopes in walked:
        resource = ResourceInfo(resource_attributes, limits)
        for scope, spans in scopes:
            for span in spans:
                append_walked(result, limits, resource, scope, span, now_ns)
    return result


def append_walked(result: DecodeResult, limits: Limits, resource: ResourceInfo, scope: str, span: Any,
                  now_ns: int) -> None:
    """Check one walked span and map it onto `result`'s columns, or count it rejected with the reason."""
    trace_id, span_id, parent, name, kind, start, end, code, message, attributes, extra = span
    if len(trace_id) != 16 or not any(trace_id):
        result.reject("invalid trace_id (must be 16 bytes, not all zero)")
        return
    if len(span_id) != 8 or not any(span_id):
        result.reject("invalid span_id (must be 8 bytes, not all zero)")
        return
    if parent and len(parent) != 8:
        result.reject("invalid parent_span_id (must be empty or 8 bytes)")
        return
    problem = check_times(start, end, now_ns)
    if problem:
        result.reject(problem)
        return
    key = (trace_id.hex(), span_id.hex())
    if key in result.seen:
        result.reject("duplicate span in the same request")
        return
    result.seen.add(key)
    try:
        events, exception = _events_of(extra)
        if kind in SPAN_KINDS:
            attributes.append(("span.kind", SPAN_KINDS[kind]))
        status = STATUS.get(code, "unset")
        append_span(result.columns.cols, limits, trace_id=key[0], span_id=key[1],
                    parent_span_id=parent.hex() if any(parent) else "", name=name,
                    start_ns=start, end_ns=end or start, status=status,
                    status_message=message or (exception if status == "error" else ""),
                    attributes=attributes, resource=resource, scope=scope, events=events)
    except (TypeError, ValueError, RecursionError) as exc:
        result.columns.trim(result.columns.span_count())
        result.reject(f"malformed span: {exc}")


def partial_success_protobuf(response: Any, rejected_field: str, rejected: int, message: str) -> bytes:
    """An OTLP export response (traces or logs) with its partial success filled when anything was refused."""
    if rejected or message:
        setattr(response.partial_success, rejected_field, rejected)
        response.partial_success.error_message = message
    encoded: bytes = response.SerializeToString()
    return encoded


def partial_success_json(rejected_field: str, rejected: int, message: str) -> bytes:
    if not rejected and not message:
        return b"{}"
    return json.dumps({"partialSuccess": {rejected_field: str(rejected), "errorMessage": message}}).encode()


def encode_response_protobuf(rejected: int, message: str) -> bytes:
    return partial_success_protobuf(ExportTraceServiceResponse(), "rejected_spans", rejected, message)


# ---------------------------------------------------------------- JSON (OTLP/JSON: hex ids, camelCase)
def _get(obj: dict[str, Any], camel: str, snake: str, default: Any = None) -> Any:
    value = obj.get(camel)
    return obj.get(snake, default) if value is None else value


def _json_value(v: Any) -> Any:
    if not isinstance(v, dict):
        return v
    for name in ("stringValue", "string_value"):
        if name in v:
            return v[name]
    for name in ("intValue", "int_value"):
        if name in v:
            return int(v[name])
    for name in ("doubleValue", "double_value"):
        if name in v:
            return float(v[name])
    for name in ("boolValue", "bool_value"):
        if name in v:
            return bool(v[name])
    for name in ("arrayValue", "array_value"):
        if name in v:
            return [_json_value(x) for x in (v[name] or {}).get("values", [])]
    for name in ("kvlistValue", "kvlist_value"):
        if name in v:
            return {kv.get("key", ""): _json_value(kv.get("value")) for kv in (v[name] or {}).get("values", [])}
    for name in ("bytesValue", "bytes_value"):
        if name in v:
            return v[name]
    return None


def _json_attrs(items: Any) -> list[tuple[str, Any]]:
    if not isinstance(items, list):
        return []
    return [(str(kv.get("key", "")), _json_value(kv.get("value"))) for kv in items if isinstance(kv, dict)]



def _hex_id(value: Any, size: int) -> str | None:
    """OTLP/JSON ids are hex; accept base64 too (protobuf's JSON mapping), as some clients send it."""
    if not isinstance(value, str) or not value:
        return None
    if len(value) == size * 2:
        try:
            raw = bytes.fromhex(value)
        except ValueError:
            raw = b""
        if raw:
            return raw.hex() if any(raw) else None
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw.hex() if len(raw) == size and any(raw) else None


def _nanos(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return -1


def _status(value: Any) -> tuple[str, str]:
    if not isinstance(value, dict):
        return "unset", ""
    code = value.get("code", 0)
    if isinstance(code, str):
        code = STATUS_NAMES.get(code, int(code) if code.isdigit() else 0)
    return STATUS.get(code, "unset"), str(value.get("message") or "")


def parse_json_body(body: bytes) -> tuple[Any, bool]:
    """(parsed JSON, whether invalid UTF-8 had to be replaced)."""
    try:
        text, repaired = body.decode("utf-8"), False
    except UnicodeDecodeError:
        text, repaired = body.decode("utf-8", errors="replace"), True
    try:
        return json.loads(text), repaired
    except ValueError as exc:
        raise UndecodableBody(f"body is not valid JSON: {exc}") from None


def decode_json(body: bytes, project_id: str, limits: Limits) -> DecodeResult:
    data, repaired = parse_json_body(body)
    if not isinstance(data, dict):
        raise UndecodableBody("OTLP/JSON body must be an object with resourceSpans")
    result = DecodeResult(SpanColumns(project_id))
    if repaired:
        result.reasons.append("invalid UTF-8 replaced with U+FFFD")
    cols = result.columns.cols
    now_ns = time.time_ns()
    for resource_spans in json_list(_get(data, "resourceSpans", "resource_spans"), "resourceSpans", result):
        if not isinstance(resource_spans, dict):
            result.reject("resourceSpans entry is not an object")
            continue
        resource_obj = resource_spans.get("resource")
        try:
            attributes = _json_attrs(resource_obj.get("attributes") if isinstance(resource_obj, dict) else None)
        except (TypeError, ValueError, AttributeError) as exc:
            attributes = []
            result.reasons.append(f"malformed resource attributes ignored: {exc}")
        resource = ResourceInfo(attributes, limits)
        for scope_spans in json_list(_get(resource_spans, "scopeSpans", "scope_spans"), "scopeSpans", result):
            if not isinstance(scope_spans, dict):
                result.reject("scopeSpans entry is not an object")
                continue
            scope_obj = scope_spans.get("scope")
            scope = str(scope_obj.get("name") or "") if isinstance(scope_obj, dict) else ""
            for span in json_list(scope_spans.get("spans"), "spans", result):
                try:
                    _decode_json_span(span, result, cols, limits, resource, scope, now_ns)
                except (TypeError, ValueError, AttributeError, OverflowError) as exc:
                    # The span's columns may be half appended: keep the columns aligned by trimming them.
                    result.columns.trim(result.columns.span_count())
                    result.reject(f"malformed span: {exc}")
    return result


class Rejecting(Protocol):
    def reject(self, reason: str) -> None: ...


def json_list(value: Any, name: str, result: Rejecting) -> list[Any]:
    """An OTLP/JSON list field: absent is empty; anything but a list is refused (counted on `result`)."""
    if value is None:
        return []
    if not isinstance(value, list):
        result.reject(f"{name} is not a list")
        return []
    return value


def _decode_json_span(span: Any, result: DecodeResult, cols: dict[str, list[Any]], limits: Limits,
                      resource: ResourceInfo, scope: str, now_ns: int) -> None:
    if not isinstance(span, dict):
        result.reject("span is not an object")
        return
    trace_id = _hex_id(_get(span, "traceId", "trace_id"), 16)
    if trace_id is None:
        result.reject("invalid traceId (must be 32 hex characters, not all zero)")
        return
    span_id = _hex_id(_get(span, "spanId", "span_id"), 8)
    if span_id is None:
        result.reject("invalid spanId (must be 16 hex characters, not all zero)")
        return
    raw_parent = _get(span, "parentSpanId", "parent_span_id")
    parent = _hex_id(raw_parent, 8) if raw_parent else ""
    if parent is None:
        result.reject("invalid parentSpanId (must be empty or 16 hex characters)")
        return
    start = _nanos(_get(span, "startTimeUnixNano", "start_time_unix_nano"))
    end = _nanos(_get(span, "endTimeUnixNano", "end_time_unix_nano"))
    problem = check_times(start, end, now_ns)
    if problem:
        result.reject(problem)
        return
    if (trace_id, span_id) in result.seen:
        result.reject("duplicate span in the same request")
        return
    result.seen.add((trace_id, span_id))
    status, message = _status(span.get("status"))
    events_in = span.get("events") or []
    events = []
    for event in events_in if isinstance(events_in, list) else []:
        if isinstance(event, dict):
            attrs = dict(_json_attrs(event.get("attributes")))
            if event.get("name") == "exception" and status == "error" and not message:
                message = f"{attrs.get('exception.type', '')}: {attrs.get('exception.message', '')}".strip(": ")
            events.append({"time_unix_nano": _nanos(_get(event, "timeUnixNano", "time_unix_nano")),
                           "name": event.get("name", ""), "attributes": attrs})
    attributes = _json_attrs(span.get("attributes"))
    kind = span.get("kind")
    if kind in SPAN_KINDS:
        attributes.append(("span.kind", SPAN_KINDS[kind]))
    append_span(cols, limits, trace_id=trace_id, span_id=span_id, parent_span_id=parent,
                name=str(span.get("name") or ""), start_ns=start, end_ns=end or start, status=status,
                status_message=message, attributes=attributes, resource=resource, scope=scope,
                events=json.dumps(events, ensure_ascii=False, default=str) if events else "")


def encode_response_json(rejected: int, message: str) -> bytes:
    return partial_success_json("rejectedSpans", rejected, message)
