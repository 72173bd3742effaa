"""What the ingest endpoints accept and answer, for the OpenAPI document.

Both endpoints read their bodies themselves (gzip, size limits, protobuf), and neither refuses a request for a
bad span: a span or trace it cannot use is refused on its own and counted in the answer, while the rest is
written (docs/ingest.md). So the request schemas are as open as the endpoints are, and say in words what makes a
span usable.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from neon_server.api.errors import RETRY_AFTER

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
BINARY = {"type": "string", "format": "binary"}

NATIVE_BODY: dict[str, Any] = {
    "description": (
        'One trace object, a list of them, or {"traces": [...]}: the format is in docs/ingest.md. A trace\'s '
        "own fields (name, status, input, output, session_id, user_id, agent_id, agent_version, environment, "
        "tags, metadata, start_time, end_time) make its root span; `spans` lists the others (span_id, "
        "parent_span_id, name, type, start_time, end_time or duration_ms, status, model, provider, tokens, cost, "
        "tool_name, input, output, attributes). A trace or span that cannot be used is refused on its own and "
        "counted in the answer."),
    "anyOf": [{"type": "array", "items": {}},
              {"type": "object", "properties": {"traces": {"type": ["array", "object"],
                                                           "description": "traces, or a single trace"}}}],
}

OTLP_JSON_BODY: dict[str, Any] = {
    "type": "object",
    "description": (
        "ExportTraceServiceRequest in the OTLP/JSON encoding: resourceSpans → scopeSpans → spans, ids as hex "
        "strings, times as Unix nanoseconds. Spans that cannot be used (bad ids or times) are refused on their "
        "own and counted in partialSuccess."),
}


OTLP_LOGS_JSON_BODY: dict[str, Any] = {
    "type": "object",
    "description": (
        "ExportLogsServiceRequest in the OTLP/JSON encoding: resourceLogs → scopeLogs → logRecords, ids as hex "
        "strings (or absent), times as Unix nanoseconds. Records that cannot be used (bad ids or times) are "
        "refused on their own and counted in partialSuccess."),
}


def otlp_request_body(logs: bool = False) -> dict[str, Any]:
    """`openapi_extra` of `POST /v1/traces` (or `/v1/logs`): protobuf or JSON, optionally gzip."""
    description = "OTLP/HTTP: protobuf or JSON, optionally `Content-Encoding: gzip`"
    message = "ExportLogsServiceRequest" if logs else "ExportTraceServiceRequest"
    return {"requestBody": {"required": True, "description": description, "content": {
        PROTOBUF: {"schema": {**BINARY, "description": f"{message}, serialized"}},
        JSON: {"schema": OTLP_LOGS_JSON_BODY if logs else OTLP_JSON_BODY}}}}


def native_request_body() -> dict[str, Any]:
    """`openapi_extra` of `POST /api/traces/ingest`: JSON, optionally gzip."""
    return {"requestBody": {"required": True, "description": "optionally `Content-Encoding: gzip`",
                            "content": {JSON: {"schema": NATIVE_BODY}}}}


class PartialSuccess(BaseModel):
    rejectedSpans: str = Field(description="an int64, written as a string as the JSON mapping does")
    errorMessage: str


class ExportTraceServiceResponse(BaseModel):
    """opentelemetry.proto.collector.trace.v1.ExportTraceServiceResponse in the OTLP/JSON encoding."""

    partialSuccess: PartialSuccess | None = Field(
        default=None, description="present when some spans were refused: how many, and why")


class LogsPartialSuccess(BaseModel):
    rejectedLogRecords: str = Field(description="an int64, written as a string as the JSON mapping does")
    errorMessage: str


class ExportLogsServiceResponse(BaseModel):
    """opentelemetry.proto.collector.logs.v1.ExportLogsServiceResponse in the OTLP/JSON encoding."""

    partialSuccess: LogsPartialSuccess | None = Field(
        default=None, description="present when some log records were refused: how many, and why")


class RpcStatus(BaseModel):
    """google.rpc.Status in the OTLP/JSON encoding: the OTLP receiver's error body."""

    code: int = Field(description="the HTTP status")
    message: str


OTLP_ERRORS = {
    400: "The body cannot be decoded at all: not protobuf, not JSON, or a JSON body that is not an object",
    413: "The body is over NEON_INGEST_MAX_BODY_BYTES, or over NEON_INGEST_MAX_DECOMPRESSED_BYTES once gunzipped",
    415: "A Content-Type other than protobuf or JSON (answered in JSON), or a Content-Encoding other than gzip",
    429: "The write buffer is full; exporters retry after Retry-After seconds",
    503: "The store cannot write right now, or the server is stopping; retry after Retry-After seconds",
}


def otlp_responses(logs: bool = False) -> dict[int | str, dict[str, Any]]:
    """`responses=` of `POST /v1/traces` (or `/v1/logs`): every answer in the request's encoding, as the OTLP
    specification asks."""
    what, model = ("log records", ExportLogsServiceResponse) if logs else ("spans", ExportTraceServiceResponse)
    responses: dict[int | str, dict[str, Any]] = {
        200: {"description": f"Written; partialSuccess says how many {what} were refused and why",
              "model": model,  # the JSON answer; FastAPI documents it as application/json
              "content": {PROTOBUF: {"schema": {**BINARY, "description": f"{model.__name__}, serialized"}}}},
    }
    status_pb = {"schema": {**BINARY, "description": "google.rpc.Status, serialized"}}
    for status, meaning in OTLP_ERRORS.items():
        responses[status] = {"description": meaning, "model": RpcStatus, "content": {PROTOBUF: status_pb}}
        if status in (429, 503):
            responses[status]["headers"] = RETRY_AFTER
    return responses
