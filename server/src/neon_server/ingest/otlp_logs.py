"""OTLP/HTTP log decoding (`ExportLogsServiceRequest`, protobuf and JSON) into the columns of the `logs` table.

The value, id and JSON helpers are the trace decoder's (`ingest.otlp`), so both endpoints read OTLP alike. A bad
record is rejected with a reason (counted in the partial-success answer); the good records of the request land.
Records without trace or span ids are kept: not every log belongs to a span.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)

from neon_server.ingest.columns import STR_MAP, TS
from neon_server.ingest.otlp import (
    FUTURE_SLACK_NS,
    MAX_TIME_NS,
    UndecodableBody,
    _get,
    _hex_id,
    _json_attrs,
    _json_value,
    _nanos,
    _pb_value,
    json_list,
    parse_json_body,
    partial_success_json,
    partial_success_protobuf,
)
from neon_server.ingest.semconv import PAYLOAD_KEYS, Limits, to_text, truncate

SEVERITY_NAMES = {f"SEVERITY_NUMBER_{name}": number for number, name in enumerate(
    ["UNSPECIFIED", "TRACE", "TRACE2", "TRACE3", "TRACE4", "DEBUG", "DEBUG2", "DEBUG3", "DEBUG4", "INFO", "INFO2",
     "INFO3", "INFO4", "WARN", "WARN2", "WARN3", "WARN4", "ERROR", "ERROR2", "ERROR3", "ERROR4", "FATAL", "FATAL2",
     "FATAL3", "FATAL4"])}

LOG_SCHEMA = pa.schema([
    ("project_id", pa.string()), ("trace_id", pa.string()), ("span_id", pa.string()), ("time", TS),
    ("observed_time", TS), ("seq", pa.uint32()), ("record_id", pa.string()), ("severity_number", pa.uint8()),
    ("severity_text", pa.string()), ("body", pa.string()), ("body_type", pa.string()), ("event_name", pa.string()),
    ("attributes", STR_MAP), ("resource_attributes", STR_MAP), ("service", pa.string()), ("scope", pa.string()),
    ("flags", pa.uint32()), ("truncated", pa.uint8()), ("ingest_request", pa.string()),
])
_ROW_COLUMNS = ("trace_id", "span_id", "time", "observed_time", "severity_number", "severity_text", "body",
                "body_type", "event_name", "attributes", "resource_attributes", "service", "scope", "flags",
                "truncated")


@dataclass
class LogDecodeResult:
    project_id: str
    rows: dict[str, list[Any]] = field(default_factory=lambda: {c: [] for c in _ROW_COLUMNS})
    rejected: int = 0
    reasons: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.rows["time"])

    def reject(self, reason: str) -> None:
        self.rejected += 1
        if len(self.reasons) < 5 and reason not in self.reasons:
            self.reasons.append(reason)

    def message(self) -> str:
        return "; ".join(self.reasons)

    def to_arrow(self, ingest_request: str) -> pa.Table:
        """The rows; each record's id is derived from the request digest and its place in the request."""
        n = len(self)
        columns: dict[str, Any] = {name: self.rows[name] for name in _ROW_COLUMNS}
        columns["project_id"] = [self.project_id] * n
        columns["seq"] = list(range(n))
        columns["record_id"] = [hashlib.blake2b(f"{ingest_request}:{i}".encode(), digest_size=8).hexdigest()
                                for i in range(n)]
        columns["ingest_request"] = [ingest_request] * n
        return pa.table({name: pa.array(columns[name], LOG_SCHEMA.field(name).type) for name in LOG_SCHEMA.names},
                        schema=LOG_SCHEMA)


class _Resource:
    __slots__ = ("attributes", "service")

    def __init__(self, pairs: list[tuple[str, Any]], limits: Limits) -> None:
        self.attributes = [(k, truncate(to_text(v), limits.max_attribute_bytes)[0]) for k, v in pairs]
        self.service = next((to_text(v) for k, v in pairs if k == "service.name"), "")


def _append(result: LogDecodeResult, limits: Limits, now_ns: int, *, trace_id: str | None, span_id: str | None,
            time_ns: int, observed_ns: int, severity_number: int, severity_text: str, body: Any, has_body: bool,
            event_name: str, attributes: list[tuple[str, Any]], resource: _Resource, scope: str,
            flags: int) -> None:
    """Check one record and append it; a bad id or time rejects it with the reason."""
    if trace_id is None:
        result.reject("invalid trace_id (must be empty or 16 bytes / 32 hex characters)")
        return
    if span_id is None:
        result.reject("invalid span_id (must be empty or 8 bytes / 16 hex characters)")
        return
    if time_ns < 0 or observed_ns < 0:
        result.reject("time_unix_nano is not a number")
        return
    if time_ns > MAX_TIME_NS or observed_ns > MAX_TIME_NS:
        result.reject("time_unix_nano out of range")
        return
    if time_ns > now_ns + FUTURE_SLACK_NS:
        result.reject("time_unix_nano more than a day in the future")
        return
    if not 0 <= severity_number <= 24:
        result.reject(f"severity_number {severity_number} out of range (0-24)")
        return
    truncated = False
    stored: list[tuple[str, str]] = []
    for key, value in attributes:
        text, cut = truncate(to_text(value), limits.max_payload_bytes if key in PAYLOAD_KEYS
                             else limits.max_attribute_bytes)
        truncated = truncated or cut
        stored.append((key, text))
    if not has_body:
        body_text, body_type = "", ""
    elif isinstance(body, str):
        body_text, body_type = body, "string"
    else:
        body_text, body_type = json.dumps(body, ensure_ascii=False, default=str), "json"
    body_text, cut = truncate(body_text, limits.max_payload_bytes)
    observed = observed_ns or now_ns
    event_name = event_name or next((to_text(v) for k, v in attributes if k == "event.name"), "")
    rows = result.rows
    rows["trace_id"].append(trace_id)
    rows["span_id"].append(span_id)
    rows["time"].append(time_ns or observed)  # the spec: without a time, the observed time stands for it
    rows["observed_time"].append(observed)
    rows["severity_number"].append(severity_number)
    rows["severity_text"].append(severity_text)
    rows["body"].append(body_text)
    rows["body_type"].append(body_type)
    rows["event_name"].append(event_name)
    rows["attributes"].append(stored)
    rows["resource_attributes"].append(resource.attributes)
    rows["service"].append(resource.service)
    rows["scope"].append(scope)
    rows["flags"].append(flags & 0xFFFFFFFF)
    rows["truncated"].append(1 if truncated or cut else 0)


def _pb_id(raw: bytes, size: int) -> str | None:
    """'' when absent (empty or all zero), the hex id when valid, None when malformed."""
    if not raw or not any(raw):
        return "" if len(raw) in (0, size) else None
    return raw.hex() if len(raw) == size else None


def decode_logs_protobuf(body: bytes, project_id: str, limits: Limits) -> LogDecodeResult:
    request = ExportLogsServiceRequest()
    try:
        request.ParseFromString(body)
    except DecodeError as exc:
        raise UndecodableBody(f"not an OTLP ExportLogsServiceRequest in protobuf: {exc}") from None
    result = LogDecodeResult(project_id)
    now_ns = time.time_ns()
    for resource_logs in request.resource_logs:
        resource = _Resource([(kv.key, _pb_value(kv.value)) for kv in resource_logs.resource.attributes], limits)
        for scope_logs in resource_logs.scope_logs:
            for record in scope_logs.log_records:
                try:
                    has_body = record.HasField("body") and record.body.WhichOneof("value") is not None
                    _append(result, limits, now_ns, trace_id=_pb_id(record.trace_id, 16),
                            span_id=_pb_id(record.span_id, 8), time_ns=record.time_unix_nano,
                            observed_ns=record.observed_time_unix_nano, severity_number=record.severity_number,
                            severity_text=record.severity_text,
                            body=_pb_value(record.body) if has_body else None, has_body=has_body,
                            event_name=record.event_name,
                            attributes=[(kv.key, _pb_value(kv.value)) for kv in record.attributes],
                            resource=resource, scope=scope_logs.scope.name, flags=record.flags)
                except (TypeError, ValueError, RecursionError) as exc:
                    result.reject(f"malformed log record: {exc}")
    return result


def _json_id(value: Any, size: int) -> str | None:
    if value is None or value == "":
        return ""
    if isinstance(value, str) and value == "0" * size * 2:
        return ""
    return _hex_id(value, size)


def _severity(value: Any) -> int:
    if isinstance(value, str) and not value.isdigit():
        return SEVERITY_NAMES.get(value, -1)
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return -1


def decode_logs_json(body: bytes, project_id: str, limits: Limits) -> LogDecodeResult:
    data, repaired = parse_json_body(body)
    if not isinstance(data, dict):
        raise UndecodableBody("OTLP/JSON body must be an object with resourceLogs")
    result = LogDecodeResult(project_id)
    if repaired:
        result.reasons.append("invalid UTF-8 replaced with U+FFFD")
    now_ns = time.time_ns()
    for resource_logs in json_list(_get(data, "resourceLogs", "resource_logs"), "resourceLogs", result):
        if not isinstance(resource_logs, dict):
            result.reject("resourceLogs entry is not an object")
            continue
        resource_obj = resource_logs.get("resource")
        resource = _Resource(_json_attrs(resource_obj.get("attributes") if isinstance(resource_obj, dict) else None),
                             limits)
        for scope_logs in json_list(_get(resource_logs, "scopeLogs", "scope_logs"), "scopeLogs", result):
            if not isinstance(scope_logs, dict):
                result.reject("scopeLogs entry is not an object")
                continue
            scope_obj = scope_logs.get("scope")
            scope = str(scope_obj.get("name") or "") if isinstance(scope_obj, dict) else ""
            for record in json_list(_get(scope_logs, "logRecords", "log_records"), "logRecords", result):
                if not isinstance(record, dict):
                    result.reject("log record is not an object")
                    continue
                try:
                    raw_body = record.get("body")
                    _append(result, limits, now_ns, trace_id=_json_id(_get(record, "traceId", "trace_id"), 16),
                            span_id=_json_id(_get(record, "spanId", "span_id"), 8),
                            time_ns=_nanos(_get(record, "timeUnixNano", "time_unix_nano")),
                            observed_ns=_nanos(_get(record, "observedTimeUnixNano", "observed_time_unix_nano")),
                            severity_number=_severity(_get(record, "severityNumber", "severity_number")),
                            severity_text=str(_get(record, "severityText", "severity_text") or ""),
                            body=_json_value(raw_body), has_body=isinstance(raw_body, dict) and bool(raw_body),
                            event_name=str(_get(record, "eventName", "event_name") or ""),
                            attributes=_json_attrs(record.get("attributes")), resource=resource, scope=scope,
                            flags=_nanos(record.get("flags")) if record.get("flags") else 0)
                except (TypeError, ValueError, AttributeError, OverflowError, RecursionError) as exc:
                    result.reject(f"malformed log record: {exc}")
    return result


def encode_logs_response_protobuf(rejected: int, message: str) -> bytes:
    return partial_success_protobuf(ExportLogsServiceResponse(), "rejected_log_records", rejected, message)


def encode_logs_response_json(rejected: int, message: str) -> bytes:
    return partial_success_json("rejectedLogRecords", rejected, message)
