"""OTLP ingestion through the real OpenTelemetry exporters (protobuf and JSON), read back from the store."""

from __future__ import annotations

import gzip
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.exporter.otlp.json.http.trace_exporter import OTLPSpanExporter as JsonExporter
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as ProtobufExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter
from opentelemetry.trace import Status, StatusCode

from neon_server.runtime import Services
from neon_server.storage.analytics import AnalyticsDB
from server.tests.conftest import LiveServer


@pytest.fixture
def metadata_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'neon.db'}"  # ingestion does not depend on the metadata backend


def spans_of(analytics: AnalyticsDB, trace_id: str) -> dict[str, dict[str, Any]]:
    rows = analytics.query(
        "SELECT s.*, p.input AS input, p.output AS output, p.attributes AS payload_attributes "
        "FROM spans AS s FINAL LEFT JOIN (SELECT * FROM span_payloads FINAL) AS p "
        "ON p.trace_id = s.trace_id AND p.span_id = s.span_id AND p.project_id = s.project_id "
        "WHERE s.trace_id = {t:String} ORDER BY s.start_time", tag="tests.spans", params={"t": trace_id})
    return {r["name"]: r for r in rows}


def provider_with(exporter: SpanExporter) -> TracerProvider:
    provider = TracerProvider(resource=Resource.create({"service.name": "support-agent",
                                                        "deployment.environment.name": "staging"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider


def test_genai_spans_through_the_protobuf_exporter(live_server: LiveServer, project_key: tuple[str, str],
                                                   analytics: AnalyticsDB) -> None:
    project_id, secret = project_key
    exporter = ProtobufExporter(endpoint=f"{live_server.url}/v1/traces", headers={"x-api-key": secret},
                                compression=Compression.Gzip)
    provider = provider_with(exporter)
    tracer = provider.get_tracer("test")
    messages = [{"role": "user", "content": "What is my balance?"}]
    with tracer.start_as_current_span("agent run", attributes={"neon.span_type": "agent",
                                                               "neon.agent_id": "support", "neon.agent_version": "v3",
                                                               "neon.session_id": "s-1", "neon.user_id": "u-1",
                                                               "neon.tags": ["beta", "eu"]}) as root:
        with tracer.start_as_current_span("chat gpt-4o", attributes={
                "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
                "gen_ai.request.model": "gpt-4o", "gen_ai.response.model": "gpt-4o-2024-08-06",
                "gen_ai.usage.input_tokens": 1000, "gen_ai.usage.output_tokens": 200,
                "gen_ai.usage.cache_read.input_tokens": 400,
                "gen_ai.input.messages": json.dumps(messages),
                "gen_ai.output.messages": json.dumps([{"role": "assistant", "content": "42 EUR"}])}):
            pass
        with tracer.start_as_current_span("execute_tool lookup", attributes={
                "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "lookup",
                "gen_ai.tool.call.arguments": '{"account": 7}'}) as tool:
            tool.set_status(Status(StatusCode.ERROR, "account locked"))
        trace_id = format(root.get_span_context().trace_id, "032x")
    provider.shutdown()
    live_server.settle()

    spans = spans_of(analytics, trace_id)
    assert set(spans) == {"agent run", "chat gpt-4o", "execute_tool lookup"}
    root_row, chat, tool_row = spans["agent run"], spans["chat gpt-4o"], spans["execute_tool lookup"]
    assert root_row["project_id"] == project_id
    assert (root_row["span_type"], root_row["parent_span_id"], root_row["agent_id"]) == ("agent", "", "support")
    assert (root_row["session_id"], root_row["user_id"], root_row["tags"]) == ("s-1", "u-1", ["beta", "eu"])
    assert chat["parent_span_id"] == root_row["span_id"]
    assert (chat["span_type"], chat["model"], chat["provider"]) == ("generation", "gpt-4o-2024-08-06", "openai")
    assert (chat["input_tokens"], chat["output_tokens"], chat["cached_input_tokens"], chat["total_tokens"]) == (
        1000, 200, 400, 1200)
    # gpt-4o: $2.50 in, $1.25 cached in, $10 out per million tokens
    assert chat["cost"] == pytest.approx((600 * 2.5 + 400 * 1.25 + 200 * 10) / 1e6)
    assert json.loads(chat["input"]) == messages
    assert json.loads(chat["output"])[0]["content"] == "42 EUR"
    assert dict(chat["attributes"])["neon.input_source"] == "gen_ai.input.messages"
    assert (chat["service"], chat["environment"]) == ("support-agent", "staging")
    assert (tool_row["span_type"], tool_row["tool_name"], tool_row["status"]) == ("tool", "lookup", 2)
    assert tool_row["status_message"] == "account locked"
    assert tool_row["input"] == '{"account": 7}'
    assert tool_row["cost"] is None  # no model: no price, not zero


def test_openinference_spans_through_the_json_exporter(live_server: LiveServer, project_key: tuple[str, str],
                                                       analytics: AnalyticsDB) -> None:
    _project_id, secret = project_key
    exporter = JsonExporter(endpoint=f"{live_server.url}/v1/traces", headers={"Authorization": f"Bearer {secret}"})
    provider = provider_with(exporter)
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("chain", attributes={"openinference.span.kind": "CHAIN",
                                                           "session.id": "conv-9", "user.id": "ada",
                                                           "tag.tags": ["prod"], "input.value": "hi"}) as root:
        with tracer.start_as_current_span("llm", attributes={
                "openinference.span.kind": "LLM", "llm.model_name": "claude-sonnet-4-20250514",
                "llm.provider": "anthropic", "llm.token_count.prompt": 50, "llm.token_count.completion": 10,
                "llm.token_count.total": 60,
                "llm.input_messages.0.message.role": "system", "llm.input_messages.0.message.content": "be brief",
                "llm.input_messages.1.message.role": "user", "llm.input_messages.1.message.content": "hi",
                "llm.output_messages.0.message.role": "assistant",
                "llm.output_messages.0.message.content": "hello"}):
            pass
        with tracer.start_as_current_span("retrieve", attributes={"openinference.span.kind": "RETRIEVER",
                                                                  "retrieval.documents.0.document.content": "doc"}):
            pass
        with tracer.start_as_current_span("unknown thing", attributes={"custom.flag": True, "custom.n": 3}):
            pass
        trace_id = format(root.get_span_context().trace_id, "032x")
    provider.shutdown()

    spans = spans_of(analytics, trace_id)
    assert (spans["chain"]["span_type"], spans["chain"]["session_id"], spans["chain"]["user_id"]) == (
        "chain", "conv-9", "ada")
    assert spans["chain"]["tags"] == ["prod"]
    assert spans["chain"]["input"] == "hi"
    llm = spans["llm"]
    assert (llm["span_type"], llm["model"], llm["provider"], llm["total_tokens"]) == (
        "generation", "claude-sonnet-4-20250514", "anthropic", 60)
    assert llm["cost"] == pytest.approx((50 * 3 + 10 * 15) / 1e6)
    assert json.loads(llm["input"]) == [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]
    assert json.loads(llm["output"]) == [{"role": "assistant", "content": "hello"}]
    assert "llm.input_messages.1.message.content" in dict(llm["payload_attributes"])  # originals kept
    assert spans["retrieve"]["span_type"] == "retrieval"
    other = spans["unknown thing"]
    assert other["span_type"] == "span"
    assert dict(other["attributes"]) == {"custom.flag": "true", "custom.n": "3"}


def raw_request(trace_id: bytes, span_id: bytes, name: str = "s", start: int | None = None,
                end: int | None = None, parent: bytes = b"") -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    span = request.resource_spans.add().scope_spans.add().spans.add()
    now = time.time_ns()
    span.trace_id, span.span_id, span.parent_span_id, span.name = trace_id, span_id, parent, name
    span.start_time_unix_nano = now if start is None else start
    span.end_time_unix_nano = now + 1000 if end is None else end
    return request


def post(server: LiveServer, secret: str, body: bytes, content_type: str = "application/x-protobuf",
         **headers: str) -> httpx.Response:
    return httpx.post(f"{server.url}/v1/traces", content=body, timeout=30,
                      headers={"x-api-key": secret, "content-type": content_type, **headers})


def test_bad_spans_are_rejected_and_counted_while_good_ones_land(
        live_server: LiveServer, project_key: tuple[str, str], analytics: AnalyticsDB) -> None:
    _project_id, secret = project_key
    good_trace = bytes.fromhex("11" * 16)
    request = raw_request(good_trace, b"\x01" * 8, "good")
    spans = request.resource_spans[0].scope_spans[0].spans
    bad = [raw_request(b"\x02" * 5, b"\x02" * 8), raw_request(b"\x00" * 16, b"\x03" * 8),
           raw_request(good_trace, b"\x04" * 3), raw_request(good_trace, b"\x05" * 8, start=0),
           raw_request(good_trace, b"\x06" * 8, start=2000, end=1000),
           raw_request(good_trace, b"\x07" * 8, start=time.time_ns() + 10**15)]
    for extra in bad:
        spans.append(extra.resource_spans[0].scope_spans[0].spans[0])
    spans.append(spans[0])  # the same span twice in one request
    response = post(live_server, secret, request.SerializeToString())
    assert response.status_code == 200
    answer = ExportTraceServiceResponse.FromString(response.content)
    assert answer.partial_success.rejected_spans == 7
    message = answer.partial_success.error_message
    for reason in ("invalid trace_id", "invalid span_id", "start time missing", "end time before start time"):
        assert reason in message
    live_server.settle()
    assert set(spans_of(analytics, good_trace.hex())) == {"good"}


def test_json_body_with_bad_ids_times_and_utf8(live_server: LiveServer, project_key: tuple[str, str],
                                               analytics: AnalyticsDB) -> None:
    _project_id, secret = project_key
    now = time.time_ns()
    trace = "ab" * 16

    def span(span_id: str, name: str, start: Any = now) -> dict[str, Any]:
        return {"traceId": trace, "spanId": span_id, "name": name, "startTimeUnixNano": str(start),
                "endTimeUnixNano": str(now + 5), "attributes": [{"key": "k", "value": {"stringValue": "NAME"}}]}

    body = json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [
        span("cd" * 8, "ok"), span("zz" * 8, "bad id"), span("ef" * 8, "bad time", start="yesterday"),
        "not an object", span("01" * 8, "NAME")]}]}]}).encode()
    body = body.replace(b'"NAME"', b'"caf\xe9"', 1)  # invalid UTF-8 in one attribute value
    response = post(live_server, secret, body, "application/json")
    assert response.status_code == 200, response.text
    partial = response.json()["partialSuccess"]
    assert partial["rejectedSpans"] == "3"
    assert "invalid UTF-8 replaced" in partial["errorMessage"]
    assert "invalid spanId" in partial["errorMessage"]
    rows = spans_of(analytics, trace)
    assert set(rows) == {"ok", "NAME"}
    assert dict(rows["ok"]["attributes"])["k"] == "caf\ufffd"


@pytest.mark.parametrize(("content_type", "body", "status", "message"), [
    ("text/plain", b"hello", 415, "unsupported Content-Type 'text/plain'"),
    ("application/x-protobuf", b"\xff\xff\xff garbage", 400, "not an OTLP ExportTraceServiceRequest"),
    ("application/json", b"{not json", 400, "not valid JSON"),
    ("application/json", b"[1, 2]", 400, "must be an object with resourceSpans"),
])
def test_undecodable_bodies(live_server: LiveServer, project_key: tuple[str, str], content_type: str,
                            body: bytes, status: int, message: str) -> None:
    response = post(live_server, project_key[1], body, content_type)
    assert response.status_code == status
    assert message in response.text


def test_size_limits_and_gzip(live_server: LiveServer, project_key: tuple[str, str]) -> None:
    secret = project_key[1]
    max_body = live_server.services.settings.ingest_max_body_bytes
    too_big = post(live_server, secret, b"\x00" * (max_body + 1))
    assert too_big.status_code == 413
    assert "NEON_INGEST_MAX_BODY_BYTES" in too_big.text
    bomb = gzip.compress(b"\x00" * (live_server.services.settings.ingest_max_decompressed_bytes + 1))
    exploded = post(live_server, secret, bomb, **{"content-encoding": "gzip"})
    assert exploded.status_code == 413
    assert "once decompressed" in exploded.text
    broken = post(live_server, secret, b"not gzip", **{"content-encoding": "gzip"})
    assert broken.status_code == 400
    assert "not valid gzip" in broken.text
    brotli = post(live_server, secret, b"x", **{"content-encoding": "br"})
    assert brotli.status_code == 415
    good = raw_request(bytes.fromhex("22" * 16), b"\x01" * 8).SerializeToString()
    assert post(live_server, secret, gzip.compress(good), **{"content-encoding": "gzip"}).status_code == 200


def test_missing_key_is_401(live_server: LiveServer) -> None:
    response = httpx.post(f"{live_server.url}/v1/traces", content=b"",
                          headers={"content-type": "application/x-protobuf"})
    assert response.status_code == 401


@pytest.fixture
def exporters() -> Iterator[list[SpanExporter]]:
    made: list[SpanExporter] = []
    yield made
    for exporter in made:
        exporter.shutdown()


def test_retried_export_is_not_counted_twice(live_server: LiveServer, project_key: tuple[str, str],
                                             analytics: AnalyticsDB, services: Services) -> None:
    project_id, secret = project_key
    trace = bytes.fromhex("33" * 16)
    request = raw_request(trace, b"\x01" * 8, "root")
    chat = raw_request(trace, b"\x02" * 8, "chat", parent=b"\x01" * 8).resource_spans[0].scope_spans[0].spans[0]
    for key, value in (("gen_ai.request.model", "gpt-4o"), ("gen_ai.usage.input_tokens", 100)):
        attribute = chat.attributes.add(key=key)
        if isinstance(value, str):
            attribute.value.string_value = value
        else:
            attribute.value.int_value = value
    request.resource_spans[0].scope_spans[0].spans.append(chat)
    body = request.SerializeToString()
    for _ in range(3):
        assert post(live_server, secret, body).status_code == 200
    live_server.settle()

    def totals() -> dict[str, Any]:
        return analytics.query(
            "SELECT sum(span_count) AS spans, sum(input_tokens) AS tokens, sum(cost) AS cost FROM traces "
            "WHERE project_id = {p:String}", tag="tests.totals", params={"p": project_id})[0]

    first = totals()
    assert (first["spans"], first["tokens"]) == (2, 100)
    assert first["cost"] == pytest.approx(100 * 2.5 / 1e6)
    # A restarted server recognises the request from the store, too.
    again = services.__class__(settings=services.settings, analytics=services.analytics, metadata=services.metadata)
    try:
        assert again.ingest.load_recent_requests() >= 1
        with LiveServer(again) as restarted:
            assert post(restarted, secret, body).status_code == 200
            restarted.settle()
    finally:
        again.stop_writers()
    assert totals() == first
