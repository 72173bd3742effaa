"""The C walker (`neon_native._otlp.walk`) reads an OTLP request into exactly the values protobuf's message
objects give (`otlp._pb_walk`), for any request protobuf accepts; what it does not expect it hands back to
protobuf, so the decoder's answer is the same either way."""

from __future__ import annotations

import math
import random
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue, KeyValueList
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

from neon_native._otlp import MalformedBody, walk
from neon_server.ingest import otlp
from neon_server.ingest.otlp import UndecodableBody, decode_protobuf
from neon_server.ingest.semconv import Limits
from server.tests.otlp_damage import damaged

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from workload import make_request


def comparable(walked: list[Any]) -> Any:
    """The walk with each span's events/links part as a message (the walker gives the span's bytes, protobuf's
    side the message itself) and NaN made equal to itself."""
    def value(v: Any) -> Any:
        if isinstance(v, float) and math.isnan(v):
            return "NaN"
        if isinstance(v, list | tuple):
            return [value(x) for x in v]
        if isinstance(v, dict):
            return {k: value(x) for k, x in v.items()}
        return v

    def span(s: tuple[Any, ...]) -> Any:
        extra = s[10]
        return [*value(s[:10]), Span.FromString(extra) if isinstance(extra, bytes) else extra]

    return [(value(attributes), [(scope, [span(s) for s in spans]) for scope, spans in scopes])
            for attributes, scopes in walked]


any_value = st.recursive(
    st.one_of(
        st.builds(lambda s: AnyValue(string_value=s), st.text()),
        st.builds(lambda b: AnyValue(bool_value=b), st.booleans()),
        st.builds(lambda i: AnyValue(int_value=i), st.integers(-2**63, 2**63 - 1)),
        st.builds(lambda d: AnyValue(double_value=d), st.floats()),
        st.builds(lambda b: AnyValue(bytes_value=b), st.binary(max_size=20)),
        st.just(AnyValue()),
    ),
    lambda inner: st.one_of(
        st.builds(lambda xs: AnyValue(array_value=ArrayValue(values=xs)), st.lists(inner, max_size=4)),
        st.builds(lambda kvs: AnyValue(kvlist_value=KeyValueList(values=kvs)),
                  st.lists(st.builds(lambda k, v: KeyValue(key=k, value=v), st.text(max_size=8), inner),
                           max_size=4)),
    ),
    max_leaves=12,
)
key_values = st.lists(st.builds(lambda k, v: KeyValue(key=k, value=v), st.text(max_size=30), any_value),
                      max_size=6)
ids = st.one_of(st.binary(min_size=16, max_size=16), st.binary(max_size=20))


@st.composite
def spans(draw: st.DrawFn) -> Span:
    span = Span(trace_id=draw(ids), span_id=draw(st.binary(max_size=9)), parent_span_id=draw(st.binary(max_size=9)),
                name=draw(st.text(max_size=20)), kind=draw(st.integers(0, 6)),
                start_time_unix_nano=draw(st.integers(0, 2**64 - 1)),
                end_time_unix_nano=draw(st.integers(0, 2**64 - 1)), attributes=draw(key_values),
                trace_state=draw(st.text(max_size=5)), flags=draw(st.integers(0, 2**32 - 1)),
                dropped_attributes_count=draw(st.integers(0, 5)))
    if draw(st.booleans()):
        span.status.CopyFrom(Status(code=draw(st.integers(0, 2)), message=draw(st.text(max_size=10))))
    if draw(st.integers(0, 4)) == 0:
        event = span.events.add(name=draw(st.text(max_size=10)), time_unix_nano=draw(st.integers(0, 2**63)))
        event.attributes.extend(draw(key_values))
    if draw(st.integers(0, 6)) == 0:
        span.links.add(trace_id=draw(st.binary(min_size=16, max_size=16)), span_id=draw(st.binary(max_size=8)))
    return span


@st.composite
def requests(draw: st.DrawFn) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    for _ in range(draw(st.integers(0, 3))):
        resource_spans = ResourceSpans(schema_url=draw(st.text(max_size=5)))
        resource_spans.resource.attributes.extend(draw(key_values))
        for _ in range(draw(st.integers(0, 3))):
            scope_spans = ScopeSpans()
            scope_spans.scope.name = draw(st.text(max_size=10))
            scope_spans.scope.version = draw(st.text(max_size=5))
            scope_spans.spans.extend(draw(st.lists(spans(), max_size=4)))
            resource_spans.scope_spans.append(scope_spans)
        request.resource_spans.append(resource_spans)
    return request


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(requests())
def test_the_walker_reads_what_protobuf_reads(request: ExportTraceServiceRequest) -> None:
    body = request.SerializeToString()
    assert comparable(walk(body)) == comparable(otlp._pb_walk(body))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(requests(), st.data())
def test_a_damaged_body_protobuf_accepts_decodes_the_same(request: ExportTraceServiceRequest,
                                                          data: st.DataObject) -> None:
    """Flipped, cut or inserted bytes: where protobuf still accepts the body, decoding with the walker (and its
    fallback to protobuf) stores exactly what decoding through protobuf stores."""
    body = damaged(request.SerializeToString(), data, 4)
    limits = Limits()
    try:
        expected = decode_protobuf(body, "p", limits)
    except UndecodableBody:
        return  # protobuf refuses it: such a body is answered 400 and never logged, so never walked
    got = decode_protobuf(body, "p", limits, native=True)
    assert (got.columns.cols, got.rejected, got.reasons) == (expected.columns.cols, expected.rejected,
                                                             expected.reasons)


def test_agent_traces_decode_to_the_same_columns() -> None:
    body = make_request(random.Random(5), traces=4, spans_per_trace=50).SerializeToString()
    limits = Limits()
    native, python = (decode_protobuf(body, "p", limits, native=flag).columns.cols for flag in (True, False))
    assert native == python


@pytest.mark.parametrize(("body", "reason"), [
    (b"\x0a\x05\x12\x03", "truncated length-delimited field"),  # a length past the end
    (b"\x10\x80", "truncated varint"),                            # an unknown field's value cut short
    (b"\x13", "unsupported wire type"),                            # a group (an unknown field's)
    (b"\x09" + b"\x00" * 8, "unexpected wire type"),               # resource_spans as a fixed64
])
def test_what_the_walker_does_not_expect_is_refused_clearly(body: bytes, reason: str) -> None:
    with pytest.raises(MalformedBody, match=reason):
        walk(body)


def test_text_that_is_not_utf8_is_left_to_protobuf() -> None:
    span = Span(trace_id=b"\x01" * 16, span_id=b"\x02" * 8, start_time_unix_nano=1)
    good = ExportTraceServiceRequest(resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=[span])])])
    bad = good.SerializeToString() + b"\x0a\x08\x12\x06\x12\x04\x2a\x02\xff\xfe"  # a span whose name is not UTF-8
    with pytest.raises(UnicodeDecodeError):
        walk(bad)
    with pytest.raises(UndecodableBody):
        decode_protobuf(bad, "p", Limits(), native=True)
