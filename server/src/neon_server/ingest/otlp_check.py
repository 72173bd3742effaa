"""Checking an OTLP protobuf request before it is logged and answered, without mapping it.

The answer to an export names the spans it rejected (OTLP partial success), so the checks that reject a span run
before the answer: ids, times and duplicates, with the same reasons `decode_protobuf` gives. Parsing with upb and
reading a few fields per span costs about a microsecond a span; mapping (attributes, semantic conventions) happens
later, in bulk, in the batch writer. A request with rejected spans is re-encoded without them, so what is logged
holds only spans that will be written.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from neon_server.ingest.columns import SpanColumns
from neon_server.ingest.otlp import DecodeResult, UndecodableBody, check_times


@dataclass(frozen=True)
class CheckedRequest:
    body: bytes       # the request, without its rejected spans
    spans: int        # spans kept
    rejected: int
    message: str


def _span_problem(trace_id: bytes, span_id: bytes, parent: bytes, start: int, end: int, now_ns: int) -> str | None:
    if len(trace_id) != 16 or not any(trace_id):
        return "invalid trace_id (must be 16 bytes, not all zero)"
    if len(span_id) != 8 or not any(span_id):
        return "invalid span_id (must be 8 bytes, not all zero)"
    if parent and len(parent) != 8:
        return "invalid parent_span_id (must be empty or 8 bytes)"
    return check_times(start, end, now_ns)


def check_protobuf(body: bytes, project_id: str) -> CheckedRequest:
    """Parse and check a request; raises UndecodableBody when it is not an ExportTraceServiceRequest."""
    request = ExportTraceServiceRequest()
    try:
        request.ParseFromString(body)
    except DecodeError as exc:
        raise UndecodableBody(f"not an OTLP ExportTraceServiceRequest in protobuf: {exc}") from None
    result = DecodeResult(SpanColumns(project_id))  # only its rejection bookkeeping is used
    now_ns = time.time_ns()
    kept = 0
    seen = result.seen
    for resource_spans in request.resource_spans:
        for scope_spans in resource_spans.scope_spans:
            spans = scope_spans.spans
            bad: list[int] = []
            for i, span in enumerate(spans):
                trace_id, span_id = span.trace_id, span.span_id
                problem = _span_problem(trace_id, span_id, span.parent_span_id, span.start_time_unix_nano,
                                        span.end_time_unix_nano, now_ns)
                if problem is None:
                    key = (trace_id.hex(), span_id.hex())
                    if key in seen:
                        problem = "duplicate span in the same request"
                    else:
                        seen.add(key)
                if problem is not None:
                    result.reject(problem)
                    bad.append(i)
            for i in reversed(bad):
                del spans[i]
            kept += len(spans)
    if result.rejected:
        body = request.SerializeToString()
    return CheckedRequest(body, kept, result.rejected, result.message())
