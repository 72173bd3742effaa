"""The C mapper (`neon_native._otlp.map`, through `native_map.map_protobuf`) gives exactly the span and payload
tables the Python mapper gives (`decode_protobuf` + `SpanColumns.to_arrow`), with the same rejections, for any
request protobuf accepts: the spans it maps itself and the ones it leaves to Python alike."""

from __future__ import annotations

import random
import sys
import time
from operator import itemgetter
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

from neon_native._otlp import map_tables
from neon_server.ingest import otlp, semconv
from neon_server.ingest.native_map import map_protobuf, map_requests, native_map
from neon_server.ingest.otlp import DecodeResult, UndecodableBody, decode_protobuf
from neon_server.ingest.semconv import Limits
from server.tests.otlp_damage import damaged

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from workload import make_request

# Keys the mapping reads, the payload prefixes (flattened messages among them), and a few others.
KEYS = [*semconv.KEYS, "service.name", "span.kind", "llm.input_messages.0.message.content",
        "gen_ai.completion.1.role", "retrieval.documents.0.document.content", "reranker.output_documents.2.id",
        "http.method", "x", ""]
WORDS = ["", "chat", "CHAT", "llm", "Tool", "agent", "execute_tool", "RETRIEVER", "openai", "OpenAI", "gpt-4o",
         "Agent", "ünïcode", "ΚΑΛΗ", "İ", "ı", "12", "3.5", "-4", "1e3", "nan", "tool", "\u212a", "a,b"]
SMALL = Limits(max_attribute_bytes=24, max_payload_bytes=40)
CROSSED = Limits(max_attribute_bytes=64, max_payload_bytes=12)  # payload limit below the attributes' one


def text() -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(WORDS), st.text(max_size=12), st.text(min_size=10, max_size=60),
                     st.text(alphabet="aé€😀", min_size=5, max_size=40))


scalar = st.one_of(
    st.builds(lambda s: AnyValue(string_value=s), text()),
    st.builds(lambda b: AnyValue(bool_value=b), st.booleans()),
    st.builds(lambda i: AnyValue(int_value=i), st.one_of(st.integers(-5, 5000), st.integers(-2**63, 2**63 - 1))),
    st.builds(lambda d: AnyValue(double_value=d), st.floats()),
)
other = st.one_of(  # values the C mapper leaves to Python
    st.just(AnyValue()),
    st.builds(lambda b: AnyValue(bytes_value=b), st.binary(max_size=6)),
    st.builds(lambda xs: AnyValue(array_value=ArrayValue(values=xs)), st.lists(scalar, max_size=3)),
)
value = st.integers(0, 19).flatmap(lambda i: scalar if i else other)
# Numbers given as text and non-ASCII text in fields whose case is mapped are left to Python: rarer here, so most
# spans are mapped in C.
NUMERIC = {k for f in ("input_tokens", "output_tokens", "total_tokens", "cached_input_tokens", "cost")
           for k in semconv.FIELDS[f]}
CASED = {k for f in ("span_type", "oi_kind", "component_type", "provider") for k in semconv.FIELDS[f]}
number = st.integers(0, 9).flatmap(lambda i: scalar.filter(lambda v: v.WhichOneof("value") != "string_value")
                                   if i else value)
word = st.integers(0, 9).flatmap(lambda i: st.builds(lambda w: AnyValue(string_value=w), st.sampled_from(WORDS))
                                 if i else value)
key_values = st.lists(st.sampled_from(KEYS).flatmap(lambda k: st.builds(
    lambda v: KeyValue(key=k, value=v), number if k in NUMERIC else word if k in CASED else value)), max_size=8)
ids = st.one_of(st.binary(min_size=16, max_size=16), st.just(b"\x00" * 16), st.binary(max_size=17))


@st.composite
def spans(draw: st.DrawFn, trace_ids: list[bytes], span_ids: list[bytes]) -> Span:
    now = 1_700_000_000_000_000_000
    valid = draw(st.integers(0, 4)) > 0
    span = Span(trace_id=draw(st.sampled_from(trace_ids) if valid else ids),
                span_id=draw(st.sampled_from(span_ids) if valid else st.binary(max_size=9)),
                parent_span_id=draw(st.one_of(st.just(b""), st.just(b"\x00" * 8), st.binary(max_size=9))),
                name=draw(text()), kind=draw(st.integers(0, 6)),
                start_time_unix_nano=draw(st.integers(now, now + 10**12) if valid else st.integers(0, 2**64 - 1)),
                end_time_unix_nano=draw(st.one_of(st.just(0), st.integers(now, now + 2 * 10**12)) if valid
                                        else st.integers(0, 2**64 - 1)),
                attributes=draw(key_values))
    if draw(st.booleans()):
        span.status.CopyFrom(Status(code=draw(st.integers(0, 3)), message=draw(st.sampled_from(["", "boom"]))))
    if draw(st.integers(0, 6)) == 0:
        event = span.events.add(name="exception", time_unix_nano=now)
        event.attributes.extend([KeyValue(key="exception.type", value=AnyValue(string_value="KeyError"))])
    return span


@st.composite
def requests(draw: st.DrawFn) -> ExportTraceServiceRequest:
    trace_ids = [bytes([i + 1]) * 16 for i in range(2)]
    span_ids = [bytes([i + 1]) * 8 for i in range(24)]
    request = ExportTraceServiceRequest()
    for _ in range(draw(st.integers(0, 3))):
        resource_spans = ResourceSpans()
        resource_spans.resource.attributes.extend(draw(key_values)[:draw(st.integers(0, 4))])
        for _ in range(draw(st.integers(0, 2))):
            scope_spans = ScopeSpans()
            scope_spans.scope.name = draw(text())
            scope_spans.spans.extend(draw(st.lists(spans(trace_ids, span_ids), max_size=5)))
            resource_spans.scope_spans.append(scope_spans)
        request.resource_spans.append(resource_spans)
    return request


def rows(table: pa.Table) -> list[dict[str, Any]]:
    return sorted(table.to_pylist(), key=lambda r: (r["trace_id"], r["span_id"]))


def python_side(body: bytes, limits: Limits) -> tuple[pa.Table, pa.Table, int, list[str]]:
    decoded = decode_protobuf(body, "p", limits)
    spans, payloads = decoded.columns.to_arrow("digest")
    return spans, payloads, decoded.rejected, decoded.reasons


def assert_same(got: tuple[pa.Table, pa.Table, DecodeResult] | None, body: bytes, limits: Limits) -> None:
    assert got is not None
    got_spans, got_payloads, outcome = got
    got_spans.validate(full=True)
    got_payloads.validate(full=True)
    spans, payloads, rejected, reasons = python_side(body, limits)
    assert got_spans.schema == spans.schema
    assert rows(got_spans) == rows(spans)
    assert rows(got_payloads) == rows(payloads)
    assert outcome.rejected == rejected
    if len(reasons) < 5:  # both keep the first five different reasons, met in a different order
        assert sorted(outcome.reasons) == sorted(reasons)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(requests(), st.sampled_from([Limits(), SMALL, CROSSED]))
def test_the_mapper_gives_the_python_mappers_tables(request: ExportTraceServiceRequest, limits: Limits) -> None:
    body = request.SerializeToString()
    assert_same(map_protobuf(body, "p", "digest", limits), body, limits)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(requests(), st.data())
def test_a_damaged_body_protobuf_accepts_maps_the_same(request: ExportTraceServiceRequest,
                                                       data: st.DataObject) -> None:
    body = damaged(request.SerializeToString(), data, 3)
    try:
        decode_protobuf(body, "p", SMALL)
    except UndecodableBody:
        return  # protobuf refuses it: answered 400, never logged, never mapped
    got = map_protobuf(body, "p", "digest", SMALL)
    if got is not None:  # None: left to decode_protobuf whole
        assert_same(got, body, SMALL)


BAD_UTF8 = (ExportTraceServiceRequest(resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=[
    Span(trace_id=b"\x01" * 16, span_id=b"\x02" * 8, start_time_unix_nano=1)])])]).SerializeToString()
    + b"\x0a\x08\x12\x06\x12\x04\x2a\x02\xff\xfe")  # a second span whose name is not UTF-8


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.one_of(requests().map(lambda r: r.SerializeToString()), st.just(BAD_UTF8)),
                          st.sampled_from(["p1", "p2"])), min_size=1, max_size=4))
def test_a_chunk_of_requests_maps_as_each_request_alone(chunk: list[tuple[bytes, str]]) -> None:
    """Several requests in one call (one set of columns): each request's rows, with its project and digest, as
    the Python mapper gives them; a request left to Python whole (text that is not UTF-8) leaves no rows."""
    limits = SMALL
    mapped = map_requests([(body, project, f"d{i}") for i, (body, project) in enumerate(chunk)], limits)
    assert mapped is not None
    mapped.spans.validate(full=True)
    mapped.payloads.validate(full=True)
    expected_spans, expected_payloads = [], []
    for i, (body, project) in enumerate(chunk):
        outcome = mapped.outcomes[i]
        assert (outcome is None) == (body == BAD_UTF8)
        if outcome is None:
            continue
        decoded = decode_protobuf(body, project, limits)
        spans, payloads = decoded.columns.to_arrow(f"d{i}")
        expected_spans += spans.to_pylist()
        expected_payloads += payloads.to_pylist()
        assert outcome.rejected == decoded.rejected

    def key(row: dict[str, Any]) -> str:
        return repr(sorted(row.items()))

    assert sorted(mapped.spans.to_pylist(), key=key) == sorted(expected_spans, key=key)
    assert sorted(mapped.payloads.to_pylist(), key=key) == sorted(expected_payloads, key=key)


def test_agent_traces_are_mapped_in_c_entirely() -> None:
    body = make_request(random.Random(5), traces=4, spans_per_trace=50).SerializeToString()
    assert native_map is not None
    count, outcomes = itemgetter(1, 4)(native_map([(body, "p", "digest")], 64 * 1024, 1024 * 1024, time.time_ns()))
    assert (count, outcomes) == (200, [(0, [], [])])
    assert_same(map_protobuf(body, "p", "digest", Limits()), body, Limits())


def test_numbers_are_written_as_python_writes_them() -> None:
    values = [0.1, 1e16, 1e-5, 123456789.0, -0.0, float("inf"), float("-inf"), float("nan"), 2.0**-1074, 5e-324,
              1.7976931348623157e308, 2**63 - 1, -2**63, True, False]
    attributes = [KeyValue(key=f"k{i}", value=AnyValue(bool_value=v) if isinstance(v, bool) else
                           AnyValue(int_value=v) if isinstance(v, int) else AnyValue(double_value=v))
                  for i, v in enumerate(values)]
    span = Span(trace_id=b"\x01" * 16, span_id=b"\x02" * 8, start_time_unix_nano=10**18, attributes=attributes)
    body = ExportTraceServiceRequest(resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=[span])])])
    got = map_protobuf(body.SerializeToString(), "p", "digest", Limits())
    assert got is not None
    stored = dict(got[0].column("attributes").to_pylist()[0])
    assert [stored[f"k{i}"] for i in range(len(values))] == [semconv.to_text(v) for v in values]


def test_a_body_the_reader_does_not_expect_is_left_to_protobuf() -> None:
    span = Span(trace_id=b"\x01" * 16, span_id=b"\x02" * 8, start_time_unix_nano=1)
    good = ExportTraceServiceRequest(resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=[span])])])
    bad = good.SerializeToString() + b"\x0a\x08\x12\x06\x12\x04\x2a\x02\xff\xfe"  # a span name that is not UTF-8
    assert map_protobuf(bad, "p", "digest", Limits()) is None


def test_the_mappers_tables_are_semconvs() -> None:
    tables = map_tables()
    assert tables["fields"] == semconv.FIELDS
    assert len(semconv.KEYS) == sum(len(keys) for keys in semconv.FIELDS.values())  # no key in two fields
    assert tables["payload_prefixes"] == {p: p in semconv.MESSAGE_PREFIXES for p in semconv.PAYLOAD_PREFIXES}
    assert list(tables["payload_prefixes"]) == list(semconv.PAYLOAD_PREFIXES)  # the first that matches wins
    assert tables["span_types"] == semconv.SPAN_TYPES
    assert tables["openinference_kinds"] == semconv.OPENINFERENCE_KINDS
    assert tables["genai_operations"] == semconv.GENAI_OPERATIONS
    assert tables["span_kinds"] == otlp.SPAN_KINDS
    assert tuple(tables["resource_fields"]) == semconv.RESOURCE_FIELDS
    assert {k for f in tables["payload_fields"] for k in semconv.FIELDS[f]} == semconv.PAYLOAD_KEYS


@pytest.mark.parametrize("limits", [Limits(), SMALL])
def test_cut_text_keeps_whole_characters(limits: Limits) -> None:
    long = "é" * 30 + "😀" * 30
    span = Span(trace_id=b"\x01" * 16, span_id=b"\x02" * 8, start_time_unix_nano=10**18, attributes=[
        KeyValue(key="note", value=AnyValue(string_value=long)),
        KeyValue(key="input.value", value=AnyValue(string_value=long * 3))])
    body = ExportTraceServiceRequest(resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=[span])])])
    assert_same(map_protobuf(body.SerializeToString(), "p", "digest", limits), body.SerializeToString(), limits)
