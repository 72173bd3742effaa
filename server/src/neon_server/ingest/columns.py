"""Column buffers for spans, filled span by span by the decoders and turned into Arrow tables in one go.

Decoders append plain values to per-column lists (no per-span objects); `SpanColumns.to_arrow()` builds the
two tables the store writes: span metadata (`spans`) and the large payloads (`span_payloads`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

TS = pa.timestamp("ns", tz="UTC")
STR_MAP = pa.map_(pa.string(), pa.string())

SPAN_SCHEMA = pa.schema([
    ("project_id", pa.string()), ("trace_id", pa.string()), ("span_id", pa.string()),
    ("parent_span_id", pa.string()), ("name", pa.string()), ("span_type", pa.string()),
    ("component_type", pa.string()), ("service", pa.string()), ("scope", pa.string()),
    ("start_time", TS), ("end_time", TS), ("duration_ns", pa.uint64()),
    ("status", pa.string()), ("status_message", pa.string()),
    ("model", pa.string()), ("provider", pa.string()),
    ("input_tokens", pa.uint32()), ("output_tokens", pa.uint32()), ("cached_input_tokens", pa.uint32()),
    ("total_tokens", pa.uint32()), ("cost", pa.float64()),
    ("tool_name", pa.string()), ("session_id", pa.string()), ("user_id", pa.string()),
    ("agent_id", pa.string()), ("agent_version", pa.string()), ("environment", pa.string()),
    ("tags", pa.list_(pa.string())), ("attributes", STR_MAP), ("resource_attributes", STR_MAP),
    ("events", pa.string()), ("truncated", pa.uint8()), ("ingest_request", pa.string()),
])

PAYLOAD_SCHEMA = pa.schema([
    ("project_id", pa.string()), ("trace_id", pa.string()), ("span_id", pa.string()), ("start_time", TS),
    ("input", pa.string()), ("output", pa.string()), ("attributes", STR_MAP),
])

MAP_COLUMNS = ("attributes", "resource_attributes", "payload_attributes")
SPAN_COLUMNS = tuple(n for n in SPAN_SCHEMA.names if n not in MAP_COLUMNS)
PAYLOAD_COLUMNS = ("input", "output")  # filled per span beside SPAN_COLUMNS
# Map columns are kept flat (keys, values, and each span's end offset): building Arrow maps from flat lists
# is several times faster than from per-span lists of pairs.
FLAT_MAP_COLUMNS = tuple(f"{m}{suffix}" for m in MAP_COLUMNS for suffix in (".keys", ".values", ".ends"))
UINT32_MAX = 2**32 - 1


@dataclass
class SpanColumns:
    """Columns of a batch of spans from one request (one project)."""

    project_id: str
    cols: dict[str, list[Any]] = field(
        default_factory=lambda: {c: [] for c in (*SPAN_COLUMNS, *PAYLOAD_COLUMNS, *FLAT_MAP_COLUMNS)})

    def __len__(self) -> int:
        return len(self.cols["span_id"])

    def to_arrow(self, ingest_request: str) -> tuple[pa.Table, pa.Table]:
        """(spans table, payloads table). Payload rows are written only for spans that have any payload."""
        n = len(self)
        c = self.cols
        c["project_id"] = [self.project_id] * n
        c["ingest_request"] = [ingest_request] * n
        arrays = {name: pa.array(c[name], SPAN_SCHEMA.field(name).type) for name in SPAN_COLUMNS}
        arrays["attributes"] = self._map("attributes")
        arrays["resource_attributes"] = self._map("resource_attributes")
        spans = pa.table({name: arrays[name] for name in SPAN_SCHEMA.names}, schema=SPAN_SCHEMA)
        # Payload rows only for spans with any payload: the span columns' arrays, filtered in Arrow.
        inputs, outputs = pa.array(c["input"], pa.string()), pa.array(c["output"], pa.string())
        payload_maps = self._map("payload_attributes")
        offsets = payload_maps.offsets
        keep = pc.or_(pc.or_(pc.greater(pc.binary_length(inputs), 0), pc.greater(pc.binary_length(outputs), 0)),
                      pc.greater(pc.subtract(offsets.slice(1), offsets.slice(0, n)), 0))
        payloads = pa.table({
            "project_id": arrays["project_id"], "trace_id": arrays["trace_id"], "span_id": arrays["span_id"],
            "start_time": arrays["start_time"], "input": inputs, "output": outputs, "attributes": payload_maps,
        }, schema=PAYLOAD_SCHEMA).filter(keep)
        return spans, payloads


    def _map(self, name: str) -> pa.MapArray:
        c = self.cols
        offsets = pa.array([0, *c[f"{name}.ends"]], pa.int32())
        return pa.MapArray.from_arrays(offsets, pa.array(c[f"{name}.keys"], pa.string()),
                                       pa.array(c[f"{name}.values"], pa.string()))

    def span_count(self) -> int:
        """Spans fully appended (the column append_span fills last)."""
        return len(self.cols["payload_attributes.ends"])

    def trim(self, length: int) -> None:
        """Drop a half-appended span: cut every column back to `length` spans."""
        c = self.cols
        for name in (*SPAN_COLUMNS, *PAYLOAD_COLUMNS):
            del c[name][length:]
        for name in MAP_COLUMNS:
            ends = c[f"{name}.ends"]
            del ends[length:]
            end = ends[-1] if ends else 0
            del c[f"{name}.keys"][end:]
            del c[f"{name}.values"][end:]


def clamp_uint32(value: int) -> int:
    return 0 if value < 0 else min(value, UINT32_MAX)
