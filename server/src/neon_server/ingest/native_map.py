"""OTLP protobuf mapped onto span and payload tables by the C mapper (`neon_native._otlp.map`).

The mapper reads a chunk of requests, checks and maps each span as `decode_protobuf` + `append_span` do, and
writes the Arrow buffers of the chunk's two tables directly (no Python object per value): a few µs a span where
the Python mapper and Arrow building take ~20, holding the interpreter lock. The spans it leaves to Python
(events or links, values that are lists, maps or bytes, flattened message lists, tags, numbers given as text,
non-ASCII text whose case is mapped) come back in the walker's shapes and are mapped here by `append_walked`, so
the tables are the same as `decode_protobuf` + `SpanColumns.to_arrow` give, rows aside in order (the
Python-mapped ones last).
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
    """Requests' rows in two tables, and for each request its outcome (rejected spans and reasons), or None when
    it was left to Python whole (decode it with `decode_protobuf`: its reader met something it does not expect)."""

    spans: pa.Table
    payloads: pa.Table
    outcomes: list[DecodeResult | None]


def map_requests(requests: list[tuple[bytes, str, str]], limits: Limits) -> Mapped | None:
    """(body, project_id, digest) requests mapped into one span table and one payload table (the spans left to
    the Python mapper included, in a second chunk), or None when the C mapper is not installed. Only for bodies
    protobuf has accepted (`check_protobuf`)."""
    if native_map is None:
        return None
    now_ns = time.time_ns()
    spans, count, payloads, payload_count, outcomes = native_map(
        requests, limits.max_attribute_bytes, limits.max_payload_bytes, now_ns)
    span_tables, payload_tables = [_spans(spans, count)], [_payloads(payloads, payload_count)]
    done: list[DecodeResult | None] = []
    for (_, project_id, digest), outcome in zip(requests, outcomes, strict=True):
        if outcome is None:
            done.append(None)
            continue
        rejected, reasons, rest = outcome
        result = DecodeResult(SpanColumns(project_id), rejected, reasons)
        if rest:
            _map_in_python(result, rest, limits, now_ns)
            more_spans, more_payloads = result.columns.to_arrow(digest)
            span_tables.append(more_spans)
            payload_tables.append(more_payloads)
        done.append(result)
    return Mapped(_joined(span_tables), _joined(payload_tables), done)


def map_protobuf(body: bytes, project_id: str, digest: str, limits: Limits) -> tuple[pa.Table, pa.Table,
                                                                                     DecodeResult] | None:
    """One request's tables and outcome, or None: decode it with `decode_protobuf` instead."""
    mapped = map_requests([(body, project_id, digest)], limits)
    if mapped is None or mapped.outcomes[0] is None:
        return None
    return mapped.spans, mapped.payloads, mapped.outcomes[0]


def _map_in_python(result: DecodeResult, rest: list[Any], limits: Limits, now_ns: int) -> None:
    """The spans the C mapper left to Python (they passed its checks) onto `result`, by `append_walked`."""
    resources: dict[int, ResourceInfo] = {}
    for pairs, scope, span in rest:
        resource = resources.get(id(pairs))
        if resource is None:
            resource = resources[id(pairs)] = ResourceInfo(pairs, limits)
        append_walked(result, limits, resource, scope, span, now_ns)


def _joined(tables: list[pa.Table]) -> pa.Table:
    """The C mapper's chunk, and the Python-mapped rows (few, per request) joined into one more chunk."""
    if len(tables) == 1:
        return tables[0]
    return pa.concat_tables([tables[0], pa.concat_tables(tables[1:]).combine_chunks()])


def _text(parts: tuple[bytes, bytes]) -> pa.Array:
    offsets, data = parts
    return pa.Array.from_buffers(pa.string(), len(offsets) // 4 - 1, [None, pa.py_buffer(offsets),
                                                                       pa.py_buffer(data)])


def _fixed(kind: pa.DataType, count: int, data: bytes) -> pa.Array:
    return pa.Array.from_buffers(kind, count, [None, pa.py_buffer(data)])


def _map(parts: tuple[bytes, tuple[bytes, bytes], tuple[bytes, bytes]]) -> pa.Array:
    offsets, keys, values = parts
    return pa.MapArray.from_arrays(_fixed(pa.int32(), len(offsets) // 4, offsets), _text(keys), _text(values))


def _spans(c: dict[str, Any], count: int) -> pa.Table:
    columns: dict[str, pa.Array] = {}
    for field in SPAN_SCHEMA:
        name, kind = field.name, field.type
        if name == "tags":
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


def _payloads(c: dict[str, Any], count: int) -> pa.Table:
    return pa.table({
        "project_id": _text(c["project_id"]), "trace_id": _text(c["trace_id"]),
        "span_id": _text(c["span_id"]), "start_time": _fixed(PAYLOAD_SCHEMA.field("start_time").type, count,
                                                             c["start_time"]),
        "input": _text(c["input"]), "output": _text(c["output"]), "attributes": _map(c["attributes"]),
    }, schema=PAYLOAD_SCHEMA)
