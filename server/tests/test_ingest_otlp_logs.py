"""OTLP logs through the real OpenTelemetry log exporters (protobuf and JSON), the log search, partial rejection,
retry dedupe, limits, and GenAI events folded into their span's input/output whichever arrives first."""

from __future__ import annotations

import asyncio
import gzip
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry._logs import LogRecord, SeverityNumber
from opentelemetry.exporter.otlp.json.http._log_exporter import OTLPLogExporter as JsonLogExporter
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as ProtobufLogExporter
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import LogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

from neon_server.ingest.semconv import Limits
from neon_server.services.logs import LogIngestService
from neon_server.storage.analytics import AnalyticsDB
from neon_server.storage.analytics.logs import LogStore
from server.tests.conftest import LiveServer


@pytest.fixture
def metadata_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'neon.db'}"  # ingestion does not depend on the metadata backend


def logs(server: LiveServer, secret: str, **params: Any) -> dict[str, Any]:
    response = httpx.get(f"{server.url}/api/logs", params=params, headers={"x-api-key": secret}, timeout=30)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def payload(server: LiveServer, secret: str, trace_id: str, span_id: str) -> dict[str, Any]:
    response = httpx.get(f"{server.url}/api/traces/{trace_id}/spans/{span_id}/payload",
                         headers={"x-api-key": secret}, timeout=30)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def count_rows(analytics: AnalyticsDB, project_id: str) -> int:
    rows = analytics.query("SELECT count() AS n FROM logs WHERE project_id = {p:String}", tag="tests.count",
                           params={"p": project_id})
    return int(rows[0]["n"])


def emit_through(exporter: LogRecordExporter) -> tuple[str, str]:
    """Two records inside a span (an event with a structured body, a warning) and one outside any trace;
    returns the span's (trace id, span id)."""
    provider = LoggerProvider(resource=Resource.create({"service.name": "billing"}))
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    logger = provider.get_logger("billing.jobs")
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("charge") as span:
        logger.emit(LogRecord(body={"invoice": 17, "lines": ["a", "b"]}, severity_number=SeverityNumber.INFO,
                              severity_text="INFO", event_name="billing.invoice", attributes={"amount": 12.5}))
        logger.emit(LogRecord(body="card declined, retrying", severity_number=SeverityNumber.WARN,
                              severity_text="WARN", attributes={"attempt": 2}))
    logger.emit(LogRecord(body="nightly sweep finished", severity_number=SeverityNumber.INFO))
    provider.shutdown()
    context = span.get_span_context()
    return format(context.trace_id, "032x"), format(context.span_id, "016x")


@pytest.mark.parametrize("encoding", ["protobuf", "json"])
def test_log_records_through_the_real_exporters(live_server: LiveServer, project_key: tuple[str, str],
                                                encoding: str) -> None:
    _project_id, secret = project_key
    endpoint, headers = f"{live_server.url}/v1/logs", {"x-api-key": secret}
    exporter: LogRecordExporter = (
        ProtobufLogExporter(endpoint=endpoint, headers=headers, compression=Compression.Gzip)
        if encoding == "protobuf" else JsonLogExporter(endpoint=endpoint, headers=headers))
    trace_id, span_id = emit_through(exporter)

    found = logs(live_server, secret, trace_id=trace_id, span_id=span_id, order="asc")["logs"]
    assert [r["severity_text"] for r in found] == ["INFO", "WARN"]
    event, warning = found
    assert event["event_name"] == "billing.invoice"
    assert event["body_type"] == "json"
    assert json.loads(event["body"]) == {"invoice": 17, "lines": ["a", "b"]}
    assert event["attributes"] == {"amount": "12.5"}
    assert event["service"] == "billing"
    assert event["scope"] == "billing.jobs"
    assert warning["body"] == "card declined, retrying"
    assert warning["body_type"] == "string"
    assert warning["severity_number"] == 13

    # Records outside any trace are kept and searchable; text, severity and time filters narrow the list.
    outside = logs(live_server, secret, text="NIGHTLY sweep")["logs"]
    assert [(r["body"], r["trace_id"], r["span_id"]) for r in outside] == [("nightly sweep finished", "", "")]
    assert [r["body"] for r in logs(live_server, secret, min_severity=13)["logs"]] == ["card declined, retrying"]
    assert len(logs(live_server, secret, text="declined", **{"from": "2000-01-01T00:00:00Z",
                                                           "to": "2000-01-02T00:00:00Z"})["logs"]) == 0


def test_keyset_pages_and_project_scope(live_server: LiveServer, project_key: tuple[str, str]) -> None:
    _project_id, secret = project_key
    now = time.time_ns()
    request = ExportLogsServiceRequest()
    records = request.resource_logs.add().scope_logs.add().log_records
    for i in range(7):
        record = records.add()
        record.time_unix_nano = now - i * 1000
        record.body.string_value = f"line {i}"
    assert post(live_server, secret, request.SerializeToString()).status_code == 200
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = logs(live_server, secret, **params)
        seen += [r["body"] for r in page["logs"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"line {i}" for i in range(7)]  # newest first, each once
    project = live_server.services.projects.create("other")
    _key, other = live_server.services.keys.create(project.id)
    assert logs(live_server, other)["logs"] == []
    bad = httpx.get(f"{live_server.url}/api/logs", params={"cursor": "nonsense"}, headers={"x-api-key": secret})
    assert bad.status_code == 422


def post(server: LiveServer, secret: str, body: bytes, content_type: str = "application/x-protobuf",
         **headers: str) -> httpx.Response:
    return httpx.post(f"{server.url}/v1/logs", content=body, timeout=30,
                      headers={"x-api-key": secret, "content-type": content_type, **headers})


def record(trace_id: bytes = b"", span_id: bytes = b"", body: str = "ok", time_ns: int | None = None,
           event_name: str = "", attributes: dict[str, Any] | None = None,
           body_value: AnyValue | None = None) -> Any:
    request = ExportLogsServiceRequest()
    rec = request.resource_logs.add().scope_logs.add().log_records.add()
    rec.trace_id, rec.span_id = trace_id, span_id
    rec.time_unix_nano = time.time_ns() if time_ns is None else time_ns
    if body_value is not None:
        rec.body.CopyFrom(body_value)
    else:
        rec.body.string_value = body
    rec.event_name = event_name
    for key, value in (attributes or {}).items():
        rec.attributes.append(KeyValue(key=key, value=AnyValue(string_value=value)))
    return rec


def test_bad_records_are_rejected_and_named_while_good_ones_land(live_server: LiveServer,
                                                                 project_key: tuple[str, str]) -> None:
    _project_id, secret = project_key
    trace, span = bytes.fromhex("31" * 16), bytes.fromhex("32" * 8)
    request = ExportLogsServiceRequest()
    records = request.resource_logs.add().scope_logs.add().log_records
    records.append(record(trace, span, "good one"))
    records.append(record(b"\x01" * 5, span, "short trace id"))
    records.append(record(trace, b"\x02" * 3, "short span id"))
    records.append(record(trace, span, "from the future", time_ns=time.time_ns() + 10**15))
    records.append(record(b"", b"", "no trace at all"))
    records.append(record(trace, b"", "in the trace, in no span"))
    response = post(live_server, secret, request.SerializeToString())
    assert response.status_code == 200
    answer = ExportLogsServiceResponse.FromString(response.content)
    assert answer.partial_success.rejected_log_records == 3
    message = answer.partial_success.error_message
    for reason in ("invalid trace_id", "invalid span_id", "more than a day in the future"):
        assert reason in message
    assert [r["body"] for r in logs(live_server, secret, trace_id=trace.hex(), span_id=span.hex())["logs"]] == [
        "good one"]
    assert [r["body"] for r in logs(live_server, secret, trace_id=trace.hex(), span_id="")["logs"]] == [
        "in the trace, in no span"]
    assert [r["body"] for r in logs(live_server, secret, text="no trace")["logs"]] == ["no trace at all"]

    now = time.time_ns()
    body = json.dumps({"resourceLogs": [{"scopeLogs": [{"logRecords": [
        {"traceId": "ab" * 16, "spanId": "cd" * 8, "timeUnixNano": str(now), "body": {"stringValue": "json ok"},
         "severityNumber": "SEVERITY_NUMBER_ERROR"},
        {"traceId": "ab" * 16, "spanId": "zz" * 8, "timeUnixNano": str(now), "body": {"stringValue": "bad"}},
        {"traceId": "ab" * 16, "timeUnixNano": "yesterday", "body": {"stringValue": "bad time"}},
        "not an object"]}]}]}).encode()
    response = post(live_server, secret, body, "application/json")
    assert response.status_code == 200, response.text
    partial = response.json()["partialSuccess"]
    assert partial["rejectedLogRecords"] == "3"
    assert "invalid span_id" in partial["errorMessage"]
    assert "time_unix_nano is not a number" in partial["errorMessage"]
    [stored] = logs(live_server, secret, trace_id="ab" * 16)["logs"]
    assert (stored["body"], stored["severity_number"]) == ("json ok", 17)


def test_a_retried_body_is_stored_once_also_after_a_restart(live_server: LiveServer, project_key: tuple[str, str],
                                                             analytics: AnalyticsDB) -> None:
    project_id, secret = project_key
    request = ExportLogsServiceRequest()
    records = request.resource_logs.add().scope_logs.add().log_records
    for i in range(4):
        records.append(record(body=f"retry {i}"))
    body = gzip.compress(request.SerializeToString())
    for _ in range(3):
        assert post(live_server, secret, body, **{"content-encoding": "gzip"}).status_code == 200
    assert count_rows(analytics, project_id) == 4
    # A fresh receiver (as after a restart) remembers the digests written in the window.
    restarted = LogIngestService(LogStore(analytics), Limits())
    assert restarted.load_recent_requests() >= 1
    answer = asyncio.run(restarted.otlp(project_id, gzip.decompress(body), json_body=False))
    assert answer.duplicate
    assert count_rows(analytics, project_id) == 4


@pytest.mark.parametrize(("content_type", "body", "status", "message"), [
    ("text/plain", b"hello", 415, "unsupported Content-Type 'text/plain'"),
    ("application/x-protobuf", b"\xff\xff\xff garbage", 400, "not an OTLP ExportLogsServiceRequest"),
    ("application/json", b"{not json", 400, "not valid JSON"),
    ("application/json", b"[1, 2]", 400, "must be an object with resourceLogs"),
])
def test_undecodable_bodies(live_server: LiveServer, project_key: tuple[str, str], content_type: str,
                            body: bytes, status: int, message: str) -> None:
    response = post(live_server, project_key[1], body, content_type)
    assert response.status_code == status
    assert message in response.text


def test_limits_auth_and_the_gzip_bomb(live_server: LiveServer, project_key: tuple[str, str],
                                       analytics: AnalyticsDB) -> None:
    project_id, secret = project_key
    settings = live_server.services.settings
    too_big = post(live_server, secret, b"\x00" * (settings.ingest_max_body_bytes + 1))
    assert too_big.status_code == 413
    assert "NEON_INGEST_MAX_BODY_BYTES" in too_big.text
    bomb = gzip.compress(b"\x00" * (settings.ingest_max_decompressed_bytes + 1))
    exploded = post(live_server, secret, bomb, **{"content-encoding": "gzip"})
    assert exploded.status_code == 413
    assert "once decompressed" in exploded.text
    assert post(live_server, secret, b"not gzip", **{"content-encoding": "gzip"}).status_code == 400
    assert post(live_server, "wrong-key", b"").status_code == 401
    # A body over the payload limit is stored cut, with a marker, and flagged.
    request = ExportLogsServiceRequest()
    request.resource_logs.add().scope_logs.add().log_records.append(record(body="x" * (2 * 2**20)))
    assert post(live_server, secret, request.SerializeToString()).status_code == 200
    [stored] = logs(live_server, secret)["logs"]
    assert stored["truncated"]
    assert "[truncated by neon" in stored["body"]
    assert count_rows(analytics, project_id) == 1


# ---------------------------------------------------------------- GenAI events folded into the span
def span_request(trace_id: bytes, span_id: bytes, attributes: dict[str, str]) -> bytes:
    request = ExportTraceServiceRequest()
    span = request.resource_spans.add().scope_spans.add().spans.add()
    span.trace_id, span.span_id, span.name = trace_id, span_id, "chat gpt-4o"
    span.start_time_unix_nano = time.time_ns() - 10**9
    span.end_time_unix_nano = time.time_ns()
    for key, value in {"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o", **attributes}.items():
        span.attributes.append(KeyValue(key=key, value=AnyValue(string_value=value)))
    return request.SerializeToString()


def kvlist(value: dict[str, Any]) -> AnyValue:
    out = AnyValue()
    for key, item in value.items():
        entry = out.kvlist_value.values.add()
        entry.key = key
        entry.value.CopyFrom(any_value(item))
    return out


def any_value(item: Any) -> AnyValue:
    if isinstance(item, dict):
        return kvlist(item)
    if isinstance(item, list):
        out = AnyValue()
        out.array_value.values.extend([any_value(x) for x in item])
        return out
    if isinstance(item, int):
        return AnyValue(int_value=item)
    return AnyValue(string_value=str(item))


def genai_events(trace_id: bytes, span_id: bytes) -> bytes:
    """A tool-using conversation as the per-message events of the OpenAI instrumentation (its body shapes)."""
    now = time.time_ns()
    request = ExportLogsServiceRequest()
    records = request.resource_logs.add().scope_logs.add().log_records
    call = {"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": '{"account": 7}'}}
    events = [("gen_ai.system.message", {"content": "You are terse."}),
              ("gen_ai.user.message", {"content": "Balance?"}),
              ("gen_ai.assistant.message", {"tool_calls": [call]}),
              ("gen_ai.tool.message", {"content": "42 EUR", "id": "call_1"}),
              ("gen_ai.choice", {"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": "You have 42 EUR."}})]
    for i, (name, body) in enumerate(events):
        records.append(record(trace_id, span_id, time_ns=now + i, event_name=name, body_value=kvlist(body)))
    records.append(record(trace_id, span_id, body="an ordinary log line", time_ns=now + 10))
    return request.SerializeToString()


FOLDED_INPUT = [
    {"role": "system", "parts": [{"type": "text", "content": "You are terse."}]},
    {"role": "user", "parts": [{"type": "text", "content": "Balance?"}]},
    {"role": "assistant", "parts": [{"type": "tool_call", "id": "call_1", "name": "lookup",
                                     "arguments": '{"account": 7}'}]},
    {"role": "tool", "parts": [{"type": "tool_call_response", "id": "call_1", "response": "42 EUR"}]},
]
FOLDED_OUTPUT = [{"role": "assistant", "parts": [{"type": "text", "content": "You have 42 EUR."}],
                  "finish_reason": "stop"}]


@pytest.mark.parametrize("logs_first", [True, False])
def test_genai_events_fill_the_span_whichever_arrives_first(live_server: LiveServer, project_key: tuple[str, str],
                                                            logs_first: bool) -> None:
    _project_id, secret = project_key
    trace, span = bytes.fromhex("41" * 16), bytes.fromhex("42" * 8)
    traces_url = f"{live_server.url}/v1/traces"
    headers = {"x-api-key": secret, "content-type": "application/x-protobuf"}
    sends = [lambda: post(live_server, secret, genai_events(trace, span)),
             lambda: httpx.post(traces_url, content=span_request(trace, span, {}), headers=headers, timeout=30)]
    for send in sends if logs_first else reversed(sends):
        assert send().status_code == 200
    found = payload(live_server, secret, trace.hex(), span.hex())
    assert json.loads(found["input"]) == FOLDED_INPUT
    assert json.loads(found["output"]) == FOLDED_OUTPUT
    # The events stay listed with the span's other records.
    listed = logs(live_server, secret, trace_id=trace.hex(), span_id=span.hex(), order="asc")["logs"]
    assert [r["event_name"] for r in listed][-2:] == ["gen_ai.choice", ""]
    assert len(listed) == 6
    # Root payloads (datasets from traces, scoring) read the same.
    roots = live_server.services.traces.root_payloads(project_key[0], [(trace.hex(), span.hex())])
    assert json.loads(roots[(trace.hex(), span.hex())]["output"]) == FOLDED_OUTPUT


def test_the_spans_own_input_wins_and_operation_details_fill_the_rest(
        live_server: LiveServer, project_key: tuple[str, str]) -> None:
    _project_id, secret = project_key
    trace, span = bytes.fromhex("51" * 16), bytes.fromhex("52" * 8)
    own_input = json.dumps([{"role": "user", "parts": [{"type": "text", "content": "from the span"}]}])
    headers = {"x-api-key": secret, "content-type": "application/x-protobuf"}
    sent = httpx.post(f"{live_server.url}/v1/traces", headers=headers, timeout=30,
                      content=span_request(trace, span, {"gen_ai.input.messages": own_input}))
    assert sent.status_code == 200
    messages_out = [{"role": "assistant", "parts": [{"type": "text", "content": "from the event"}],
                     "finish_reason": "stop"}]
    request = ExportLogsServiceRequest()
    details = record(trace, span, event_name="gen_ai.client.inference.operation.details")
    details.ClearField("body")
    for key, value in {"gen_ai.input.messages": [{"role": "user", "parts": [{"type": "text",
                                                                             "content": "from the event"}]}],
                       "gen_ai.output.messages": messages_out,
                       "gen_ai.system_instructions": [{"type": "text", "content": "Be brief."}]}.items():
        details.attributes.append(KeyValue(key=key, value=any_value(value)))
    request.resource_logs.add().scope_logs.add().log_records.append(details)
    assert post(live_server, secret, request.SerializeToString()).status_code == 200
    found = payload(live_server, secret, trace.hex(), span.hex())
    assert found["input"] == own_input
    assert json.loads(found["output"]) == messages_out
    assert json.loads(found["attributes"]["gen_ai.system_instructions"]) == [{"type": "text", "content": "Be brief."}]
