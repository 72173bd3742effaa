"""OTLP protobuf mapped onto span and payload tables by the C mapper (`neon_native._otlp.map`).

The mapper reads the body, checks and maps each span as `decode_protobuf` + `append_span` do, and writes Arrow
buffers directly (no Python object per value): ~10× less CPU a span than the Python mapper, which holds the
interpreter lock. The spans it leaves to Python (events or links, values that are lists, maps or bytes,
flattened message lists, tags, numbers given as text, non-ASCII text whose case is mapped) come back in the
walker's shapes and are mapped here by `append_walked`, so the tables are the same as `decode_protobuf` +
`SpanColumns.to_arrow` give, rows aside in order (the Python-mapped ones last).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from neon_server.ingest.columns import PAYLOAD_SCHEMA, SPAN_SCHEMA, STR_MAP, SpanColumns
from neon_server.ingest.otlp import DecodeResult, append_walked
from neon_server.ingest.semconv import Limits, ResourceInfo

native_map: Callable[..., Any] | None
try:
    from neon_native._otlp import map as native_map
except ImportError:  # not built here: decode_protobuf maps every span
    native_map = None


@dataclass
class Mapped:
    spans: pa.Table
    payloads: pa.Table
    rejected: int
    reasons: list[str]

    def message(self) -> str:
        return "; ".join(self.reasons)


def map_protobuf(body: bytes, project_id: str, digest: str, limits: Limits) -> Mapped | None:
    """The request's span and payload tables, or None when the C mapper is not installed or leaves the whole
    body to protobuf (something its reader does not expect): then decode it with `decode_protobuf`. Only for
    bodies protobuf has accepted (`check_protobuf`)."""
    if native_map is None:
        return None
    now_ns = time.time_ns()
    try:
        spans, count, payloads, payload_count, rejected, reasons, rest = native_map(
            body, limits.max_attribute_bytes, limits.max_payload_bytes, now_ns)
    except ValueError:
        return None
    span_table = _spans(spans, count, project_id, digest)
    payload_table = _payloads(payloads, payload_count, project_id)
    if rest:
        result = DecodeResult(SpanColumns(project_id))
        resources: dict[int, ResourceInfo] = {}
        for pairs, scope, span in rest:
            resource = resources.get(id(pairs))
            if resource is None:
                resource = resources[id(pairs)] = ResourceInfo(pairs, limits)
            append_walked(result, limits, resource, scope, span, now_ns)
        more_spans, more_payloads = result.columns.to_arrow(digest)
        span_table = pa.concat_tables([span_table, more_spans])
        payload_table = pa.concat_tables([payload_table, more_payloads])
        rejected += result.rejected
        for reason in result.reasons:
            if len(reasons) < 5 and reason not in reasons:
                reasons.append(reason)
    return Mapped(span_table, payload_table, rejected, reasons)


def _text(parts: tuple[bytes, bytes]) -> pa.Array:
    offsets, data = parts
    return pa.Array.from_buffers(pa.string(), len(offsets) // 4 - 1, [None, pa.py_buffer(offsets),
                                                                       pa.py_buffer(data)])


def _fixed(kind: pa.DataType, count: int, data: bytes) -> pa.Array:
    return pa.Array.from_buffers(kind, count, [None, pa.py_buffer(data)])


def _map(parts: tuple[bytes, tuple[bytes, bytes], tuple[bytes, bytes]]) -> pa.Array:
    offsets, keys, values = parts
    return pa.MapArray.from_arrays(_fixed(pa.int32(), len(offsets) // 4, offsets), _text(keys), _text(values))


def _spans(c: dict[str, Any], count: int, project_id: str, digest: str) -> pa.Table:
    columns: dict[str, pa.Array] = {}
    for field in SPAN_SCHEMA:
        name, kind = field.name, field.type
        if name == "project_id":
            columns[name] = pa.repeat(project_id, count).cast(pa.string())
        elif name == "ingest_request":
            columns[name] = pa.repeat(digest, count).cast(pa.string())
        elif name == "tags":
            columns[name] = pa.Array.from_buffers(kind, count, [None, pa.py_buffer(bytes(4 * (count + 1)))],
                                                  children=[pa.array([], pa.string())])
        elif name == "cost":
            validity, data = c[name]
            columns[name] = pa.Array.from_buffers(kind, count, [pa.py_buffer(validity), pa.py_buffer(data)])
        elif kind == STR_MAP:
            columns[name] = _map(c[name])
        elif kind == pa.string():
            columns[name] = _text(c[name])
        else:
            columns[name] = _fixed(kind, count, c[name])
    return pa.table(columns, schema=SPAN_SCHEMA)


def _payloads(c: dict[str, Any], count: int, project_id: str) -> pa.Table:
    return pa.table({
        "project_id": pa.repeat(project_id, count).cast(pa.string()), "trace_id": _text(c["trace_id"]),
        "span_id": _text(c["span_id"]), "start_time": _fixed(PAYLOAD_SCHEMA.field("start_time").type, count,
                                                             c["start_time"]),
        "input": _text(c["input"]), "output": _text(c["output"]), "attributes": _map(c["attributes"]),
    }, schema=PAYLOAD_SCHEMA)
