"""The engine's OTLP decode (storage/analytics/otlp_decode.py) against the Python decoder, column by column.

Each test decodes many bodies in one statement (as the batch writer will) and compares with `decode_protobuf` +
`SpanColumns.to_arrow` run on each body. The differences the module documents are checked as documented.
"""

from __future__ import annotations

import json
import math
import random
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from neon_server.ingest.otlp import decode_protobuf
from neon_server.ingest.semconv import Limits
from neon_server.storage.analytics import AnalyticsDB, open_analytics
from neon_server.storage.analytics.otlp_decode import OtlpRequest, decode_otlp

sys.path.insert(0, str(Path(__file__).parents[2] / "bench"))
from workload import make_request


@pytest.fixture(scope="module")
def db(chdb_folder: Path) -> Iterator[AnalyticsDB]:
    database = open_analytics(f"chdb://{chdb_folder}?database=t_otlp_sql_decode", migrate=False)
    yield database
    database.close()


def value(v: Any) -> AnyValue:  # noqa: PLR0911 - one answer per type
    if isinstance(v, AnyValue):
        return v
    if isinstance(v, bool):
        return AnyValue(bool_value=v)
    if isinstance(v, int):
        return AnyValue(int_value=v)
    if isinstance(v, float):
        return AnyValue(double_value=v)
    if isinstance(v, bytes):
        return AnyValue(bytes_value=v)
    if isinstance(v, list):
        out = AnyValue()
        out.array_value.values.extend(value(x) for x in v)
        return out
    if isinstance(v, dict):
        out = AnyValue()
        out.kvlist_value.values.extend(KeyValue(key=k, value=value(x)) for k, x in v.items())
        return out
    if v is None:
        return AnyValue()
    return AnyValue(string_value=str(v))


def attrs(pairs: dict[str, Any] | list[tuple[str, Any]]) -> list[KeyValue]:
    items = pairs.items() if isinstance(pairs, dict) else pairs
    return [KeyValue(key=k, value=value(v)) for k, v in items]


class Builder:
    def __init__(self) -> None:
        self.request = ExportTraceServiceRequest()
        self.count = 0
        self.now = time.time_ns()

    def resource(self, resource: dict[str, Any] | list[tuple[str, Any]] | None = None, scope: str = "test") -> Any:
        rs = self.request.resource_spans.add()
        rs.resource.attributes.extend(attrs(resource or {"service.name": "svc"}))
        ss = rs.scope_spans.add()
        ss.scope.name = scope
        return ss

    def span(self, scope_spans: Any, name: str, attributes: dict[str, Any] | list[tuple[str, Any]] | None = None,
             **fields: Any) -> Any:
        self.count += 1
        span = scope_spans.spans.add(trace_id=bytes([0xAB]) * 15 + bytes([self.count % 256]),
                                     span_id=self.count.to_bytes(8, "big"), name=name,
                                     start_time_unix_nano=self.now + self.count * 1000,
                                     end_time_unix_nano=self.now + self.count * 1000 + 500)
        for key, v in fields.items():
            if key == "status":
                span.status.CopyFrom(v)
            else:
                setattr(span, key, v)
        span.attributes.extend(attrs(attributes or {}))
        return span

    def body(self) -> bytes:
        encoded: bytes = self.request.SerializeToString()
        return encoded


def python_decode(bodies: list[tuple[str, str, bytes]], limits: Limits) -> tuple[pa.Table, pa.Table]:
    spans, payloads = [], []
    for project, digest, body in bodies:
        result = decode_protobuf(body, project, limits)
        assert result.rejected == 0, result.reasons
        s, p = result.columns.to_arrow(digest)
        spans.append(s)
        payloads.append(p)
    return pa.concat_tables(spans), pa.concat_tables(payloads)


def same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return bool(a == b)


def assert_same(db: AnalyticsDB, bodies: list[tuple[str, str, bytes]], limits: Limits) -> tuple[pa.Table, pa.Table]:
    got_spans, got_payloads = decode_otlp(db, [OtlpRequest(p, d, b) for p, d, b in bodies], limits)
    want_spans, want_payloads = python_decode(bodies, limits)
    problems = []
    for label, got, want in (("spans", got_spans, want_spans), ("payloads", got_payloads, want_payloads)):
        assert got.schema == want.schema, label
        assert got.num_rows == want.num_rows, label
        for column in want.column_names:
            for row, (g, w) in enumerate(zip(got.column(column).to_pylist(), want.column(column).to_pylist(),
                                             strict=True)):
                if not same(g, w):
                    problems.append(f"{label}.{column} row {row} ({want.column('span_id')[row]}):\n"
                                    f"   sql:    {g!r:.400}\n   python: {w!r:.400}")
    assert not problems, "\n".join(problems[:20])
    return got_spans, got_payloads


def test_workload_bodies_many_per_statement(db: AnalyticsDB) -> None:
    rng = random.Random(7)
    bodies = [(f"project-{i % 3}", f"digest-{i}", make_request(rng, 2, 20).SerializeToString()) for i in range(6)]
    spans, payloads = assert_same(db, bodies, Limits())
    assert spans.num_rows == 240
    assert set(spans.column("ingest_request").to_pylist()) == {f"digest-{i}" for i in range(6)}
    assert payloads.num_rows > 0


def semantic_bodies() -> list[tuple[str, str, bytes]]:
    """Every mapping the semconv module does, across several bodies."""
    bodies = []

    # GenAI, current names; a resource with defaults; span kinds; statuses.
    b = Builder()
    ss = b.resource({"service.name": "support-agent", "deployment.environment.name": "staging",
                     "session.id": "res-session", "user.id": "res-user", "gen_ai.agent.name": "res-agent",
                     "gen_ai.agent.version": "7", "neon.tags": ["r1", "r2"], "telemetry.sdk.language": "python"})
    b.span(ss, "agent run", {"neon.span_type": "AGENT", "neon.agent_id": "support", "neon.agent_version": "v3",
                             "neon.session_id": "s-1", "neon.user_id": "u-1", "neon.tags": ["beta", "", "eu"]},
           kind=Span.SPAN_KIND_SERVER)
    b.span(ss, "chat gpt-4o", {
        "gen_ai.operation.name": "chat", "gen_ai.provider.name": "OpenAI", "gen_ai.request.model": "gpt-4o",
        "gen_ai.response.model": "gpt-4o-2024-08-06", "gen_ai.usage.input_tokens": 1000,
        "gen_ai.usage.output_tokens": 200, "gen_ai.usage.cache_read.input_tokens": 400,
        "gen_ai.request.temperature": 0.2, "gen_ai.request.top_p": 1.0, "gen_ai.response.finish_reasons": ["stop"],
        "gen_ai.input.messages": json.dumps([{"role": "user", "content": "What is my balance? / café"}]),
        "gen_ai.output.messages": json.dumps([{"role": "assistant", "content": "42 EUR"}]),
        "gen_ai.system_instructions": "be nice", "neon.component_type": "Reasoning"},
        kind=Span.SPAN_KIND_CLIENT)
    b.span(ss, "execute_tool lookup", {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "lookup",
                                       "gen_ai.tool.call.arguments": '{"account": 7}',
                                       "gen_ai.tool.call.result": "locked"},
           status=Status(code=Status.STATUS_CODE_ERROR, message="account locked"), kind=Span.SPAN_KIND_INTERNAL)
    b.span(ss, "embed", {"gen_ai.operation.name": "embeddings", "gen_ai.request.model": "text-embedding-3",
                         "gen_ai.usage.input_tokens": 12}, kind=Span.SPAN_KIND_PRODUCER)
    b.span(ss, "ok span", {"custom": "x"}, status=Status(code=Status.STATUS_CODE_OK), kind=Span.SPAN_KIND_CONSUMER)
    b.span(ss, "errored by type", {"error.type": "TimeoutError"}, kind=7)
    b.span(ss, "errored with message", {"error.type": "TimeoutError"},
           status=Status(code=Status.STATUS_CODE_ERROR, message="took too long"))
    b.span(ss, "generation by evidence", {"gen_ai.request.model": "m", "gen_ai.usage.input_tokens": 0})
    b.span(ss, "tool by evidence", {"tool.name": "search", "tool.parameters": "{}"})
    b.span(ss, "no end", {}, end_time_unix_nano=0, parent_span_id=b"\x00" * 8)
    b.span(ss, "with parent", {}, parent_span_id=b"\x01" * 8)
    bodies.append(("project-a", "digest-genai", b.body()))

    # Older GenAI names and flattened prompts; OpenInference.
    b = Builder()
    ss = b.resource([("service.name", "first"), ("service.name", "oi-app"), ("neon.tags", "x, y")], scope="")
    b.span(ss, "old chat", {"gen_ai.system": "Anthropic", "gen_ai.request.model": "claude",
                            "gen_ai.usage.prompt_tokens": 50, "gen_ai.usage.completion_tokens": 10,
                            "gen_ai.prompt.0.role": "system", "gen_ai.prompt.0.content": "be brief",
                            "gen_ai.prompt.1.role": "user", "gen_ai.prompt.1.content": "hi",
                            "gen_ai.completion.0.role": "assistant", "gen_ai.completion.0.content": "hello",
                            "gen_ai.prompt.x.content": "not an index"})
    b.span(ss, "llm", [
        ("openinference.span.kind", "LLM"), ("llm.model_name", "claude-sonnet-4"), ("llm.provider", "anthropic"),
        ("llm.token_count.prompt", 50), ("llm.token_count.completion", 10), ("llm.token_count.total", 60),
        ("llm.input_messages.10.message.role", "user"), ("llm.input_messages.10.message.content", "ten"),
        ("llm.input_messages.2.message.role", "system"), ("llm.input_messages.2.message.content", "two"),
        ("llm.input_messages.2.message.content", "two again"), ("llm.input_messages.02.message.name", "zero-two"),
        ("llm.input_messages.3.message.tool_calls.0.tool_call.function.name", "f"),
        ("llm.input_messages.4.message.content", 5), ("llm.input_messages.4.message.flag", True),
        ("llm.input_messages.4.message.score", 0.5), ("llm.input_messages.4", "bare"),
        ("llm.output_messages.0.message.role", "assistant"), ("llm.output_messages.0.message.content", "hello"),
        ("tag.tags", ["prod", "oi"]), ("session.id", "conv-9"), ("user.id", "ada"),
        ("llm.cost.total", 0.0042)])
    b.span(ss, "chain", {"openinference.span.kind": "chain", "input.value": "hi", "output.value": "ho",
                         "tag.tags": '["a", "b"]'})
    b.span(ss, "retrieve", {"openinference.span.kind": "RETRIEVER", "retrieval.documents.0.document.content": "doc",
                            "retrieval.documents.0.document.score": 0.83})
    b.span(ss, "odd kind", {"openinference.span.kind": "NOPE", "gen_ai.operation.name": "invoke_agent"})
    b.span(ss, "odd both", {"openinference.span.kind": 3, "gen_ai.operation.name": "dance", "neon.span_type": "x"})
    ss2 = b.request.resource_spans[0].scope_spans.add()
    ss2.scope.name = "second scope"
    b.span(ss2, "in second scope", {"neon.tags": "solo"})
    ss3 = b.resource({}, scope="no resource attributes")
    b.span(ss3, "bare", {"neon.tags": 5})
    bodies.append(("project-b", "digest-oi", b.body()))

    # Values: proto3 defaults, unicode, numbers in strings, costs, clamping, bytes, kvlists, unset values.
    b = Builder()
    ss = b.resource({"service.name": "values", "neon.environment": ""})
    b.span(ss, "zeros", {"zero": 0, "false": False, "empty": "", "double zero": 0.0, "negative zero": -0.0,
                         "neon.cost": 0.0, "gen_ai.usage.input_tokens": 0, "gen_ai.usage.output_tokens": False,
                         "neon.session_id": "", "session.id": "fallback", "neon.model": "",
                         "gen_ai.request.model": "real"})
    b.span(ss, "unicode ☃ 日本", {"text": "café \"quoted\" back\\slash new\nline tab\t ctl\x01 / emoji 😀",
                                 "neon.input": "ünïcödé", "neon.provider": "ÄBC", "key with ☃": "v"})
    b.span(ss, "numbers", {"gen_ai.usage.input_tokens": "1000", "gen_ai.usage.output_tokens": 12.7,
                           "gen_ai.usage.total_tokens": -5, "gen_ai.usage.cache_read.input_tokens": 2**40,
                           "neon.cost": "0.5", "big": 2**62, "neg": -17})
    b.span(ss, "more numbers", {"gen_ai.usage.input_tokens": "abc", "gen_ai.usage.output_tokens": "12.5",
                                "gen_ai.usage.total_tokens": True, "neon.cost": -1.0, "llm.cost.total": 3})
    b.span(ss, "cost text", {"neon.cost": "1e-3", "gen_ai.usage.input_tokens": 5.0e9})
    b.span(ss, "cost bool", {"neon.cost": True, "gen_ai.usage.cost": 1.5})
    b.span(ss, "floats", {"a": 1.0, "b": 1e20, "c": 1e-5, "d": 3.14159, "e": 123456789.125, "f": 1.5e16,
                          "g": 1e16, "h": 9999999999999998.0, "i": 0.0001, "j": 0.00012345, "k": 2.5e-300,
                          "l": -1e-7, "m": 1.7976931348623157e308, "n": 5e-324, "o": 1e15, "p": -123.0,
                          "nan": float("nan"), "inf": float("inf"), "-inf": float("-inf")})
    b.span(ss, "arrays", {"strings": ["a", "b/c", "ü"], "mixed": ["x", 1, 2.5, True, None, b"\x00\xff"],
                          "kv": {"a": 1, "b": "two", "c": None, "d": 0.5}, "bytes": b"\x01\x02\x03", "empty bytes": b"",
                          "unset": None, "floats in array": [1.0, 1e-5, 1e20]})
    b.span(ss, "tags as bytes", {"neon.tags": b"ab"})
    b.span(ss, "tags as json with numbers", {"neon.tags": '["a", 1, true, null]'})
    b.span(ss, "tags invalid json", {"neon.tags": "[not json, b"})
    b.span(ss, "tags as kvlist", {"neon.tags": {"k": "v"}})
    b.span(ss, "duplicate keys", [("neon.model", "first"), ("neon.model", ""), ("gen_ai.request.model", "second"),
                                  ("dup", "1"), ("dup", "2")])
    b.span(ss, "empty input wins not", {"neon.input": "", "input.value": "from oi"})
    b.span(ss, "empty scope tags", {"neon.tags": ",, ,"})
    bodies.append(("project-c", "digest-values", b.body()))

    # Events and links.
    b = Builder()
    ss = b.resource()
    span = b.span(ss, "exceptions", {}, status=Status(code=Status.STATUS_CODE_ERROR))
    span.events.add(name="log", time_unix_nano=b.now, attributes=attrs({"n": 1, "f": 2.0, "ok": True, "l": ["a"]}))
    span.events.add(name="exception", time_unix_nano=b.now + 1, attributes=attrs({}))
    span.events.add(name="exception", time_unix_nano=b.now + 2,
                    attributes=attrs({"exception.type": "ValueError", "exception.message": "bad: 'x' / \"y\"",
                                      "exception.stacktrace": "line 1\nline 2"}))
    span.links.add(trace_id=b"\x11" * 16, span_id=b"\x22" * 8, attributes=attrs({"link.kind": "follows"}))
    span = b.span(ss, "exception but unset", {})
    span.events.add(name="exception", attributes=attrs({"exception.message": "only message"}))
    span = b.span(ss, "exception type only", {}, status=Status(code=Status.STATUS_CODE_ERROR))
    span.events.add(name="exception", attributes=attrs({"exception.type": "KeyError"}))
    span = b.span(ss, "status message wins", {}, status=Status(code=Status.STATUS_CODE_ERROR, message="given"))
    span.events.add(name="exception", attributes=attrs({"exception.type": "KeyError"}))
    span = b.span(ss, "links only", {})
    span.links.add(trace_id=b"\x33" * 16, span_id=b"\x44" * 8)
    span.links.add(trace_id=b"\x55" * 16, span_id=b"\x66" * 8, attributes=attrs({"n": 0}))
    bodies.append(("project-d", "digest-events", b.body()))
    return bodies


def test_semantic_conventions_match_the_python_decoder(db: AnalyticsDB) -> None:
    spans, payloads = assert_same(db, semantic_bodies(), Limits())
    rows = {r["name"]: r for r in spans.to_pylist()}
    # A few spot checks that the comparison compared something meaningful.
    assert rows["chat gpt-4o"]["span_type"] == "generation"
    assert rows["chat gpt-4o"]["cached_input_tokens"] == 400
    assert rows["llm"]["cost"] == pytest.approx(0.0042)
    assert rows["zeros"]["cost"] == 0.0
    assert dict(rows["zeros"]["attributes"])["zero"] == "0"
    assert dict(rows["zeros"]["attributes"])["false"] == "false"
    assert rows["errored by type"]["status"] == "error"
    assert rows["exceptions"]["status_message"] == "ValueError: bad: 'x' / \"y\""
    assert payloads.num_rows >= 8


def test_truncation_at_the_limits(db: AnalyticsDB) -> None:
    limits = Limits(max_attribute_bytes=64, max_payload_bytes=256)
    b = Builder()
    ss = b.resource({"service.name": "t", "long resource": "r" * 100, "long unicode": "é" * 40})
    b.span(ss, "short", {"a": "x" * 16, "b": "x" * 17, "c": "x" * 64, "d": "x" * 65})
    b.span(ss, "unicode cut", {"e": "é" * 40, "f": "a" + "é" * 40, "g": "😀" * 20, "h": "ab" + "😀" * 20,
                               "i": "abc" + "😀" * 20})
    b.span(ss, "payload", {"neon.input": "p" * 300, "neon.output": "o" * 256, "input.value": "q" * 300,
                           "llm.input_messages.0.message.content": "m" * 300})
    b.span(ss, "messages too long", {"llm.input_messages.0.message.content": "m" * 200,
                                     "llm.input_messages.1.message.content": "n" * 200,
                                     "gen_ai.completion.0.content": "ü" * 200})
    b.span(ss, "number text", {"n": 12345678901234567})
    assert_same(db, [("p", "d", b.body())], limits)


def test_documented_differences(db: AnalyticsDB) -> None:
    """What the module's docstring says the engine does differently, so that a change is noticed."""
    b = Builder()
    ss = b.resource()
    nested = AnyValue()
    nested.array_value.values.add().array_value.values.add(string_value="deep")
    empty_array = AnyValue()
    empty_array.array_value.SetInParent()
    duplicate = AnyValue()
    duplicate.kvlist_value.values.extend(attrs([("a", 1), ("a", 2)]))
    b.span(ss, "differences", {"nested": nested, "empty array": empty_array, "kv": {"a": 1, "l": ["x"]},
                               "separator": ["a\u2028b"], "duplicate": duplicate, "json tags": 1})
    b.span(ss, "tags", {"neon.tags": '["a", 1.0, [1, 2]]'})
    body = b.body()
    spans, _ = decode_otlp(db, [OtlpRequest("p", "d", body)], Limits())
    python, _ = python_decode([("p", "d", body)], Limits())
    got, want = dict(spans.column("attributes")[0].as_py()), dict(python.column("attributes")[0].as_py())
    assert (got["nested"], want["nested"]) == ("[null]", '[["deep"]]')
    assert (got["empty array"], want["empty array"]) == ("null", "[]")
    assert (got["kv"], want["kv"]) == ('{"a": 1, "l": null}', '{"a": 1, "l": ["x"]}')
    assert (got["separator"], want["separator"]) == ('["a\\u2028b"]', '["a\u2028b"]')
    assert (got["duplicate"], want["duplicate"]) == ('{"a": 1, "a": 2}', '{"a": 2}')
    assert (spans.column("tags")[1].as_py(), python.column("tags")[1].as_py()) == (
        ["a", "1", "[1,2]"], ["a", "1.0", "[1, 2]"])


def test_no_requests_is_an_empty_result(db: AnalyticsDB) -> None:
    spans, payloads = decode_otlp(db, [], Limits())
    assert spans.num_rows == payloads.num_rows == 0
