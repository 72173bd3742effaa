"""Float points as Neptune's protobuf, encoded in bulk: a million `ProtoFloatPointValueDTO`s built one message
at a time cost seconds of Python; written as fixed-size records with numpy they cost tens of milliseconds.

Every point of a batch is one record of the repeated field `values` (field 2) of `ProtoFloatSeriesValuesDTO`:
timestamp_millis (1, varint), step (2, double), value (3, double), is_preview (4, varint, always written),
completion_ratio (5, float). A record has a fixed size when every timestamp's varint has the same length, which
is the case for any batch of times within the same power of 128 of milliseconds (all of 1970-2100 but a few
boundaries); otherwise the caller builds the messages one by one.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

_VALUES_TAG = (2 << 3) | 2  # field 2, length-delimited
_MAX_VARINT = 10


def _varint_length(value: int) -> int:
    length = 1
    while value >= 0x80:
        value >>= 7
        length += 1
    return length


def float_points(table: pa.Table) -> bytes | None:
    """The records of `table`'s points (columns time_ms, step, value, preview, ratio), or None when they have no
    fixed size (timestamps of different varint lengths, or before 1970)."""
    n = table.num_rows
    if n == 0:
        return b""
    times: Any = table.column("time_ms").to_numpy().astype(np.int64)
    low, high = int(times.min()), int(times.max())
    if low < 0 or _varint_length(low) != _varint_length(high):
        return None
    size = _varint_length(low)
    record = np.dtype([("tag", "u1"), ("len", "u1"), ("t1", "u1"), ("time", "u1", (size,)), ("t2", "u1"),
                       ("step", "<f8"), ("t3", "u1"), ("value", "<f8"), ("t4", "u1"), ("preview", "u1"),
                       ("t5", "u1"), ("ratio", "<f4")])
    out = np.zeros(n, record)
    out["tag"], out["len"] = _VALUES_TAG, record.itemsize - 2
    out["t1"], out["t2"], out["t3"], out["t4"], out["t5"] = 0x08, 0x11, 0x19, 0x20, 0x2D
    for k in range(size):
        byte = (times >> (7 * k)) & 0x7F
        out["time"][:, k] = byte | 0x80 if k < size - 1 else byte
    out["step"] = table.column("step").to_numpy()
    out["value"] = table.column("value").to_numpy()
    out["preview"] = table.column("preview").to_numpy(zero_copy_only=False).astype(np.uint8)
    out["ratio"] = table.column("ratio").to_numpy().astype(np.float32)
    return out.tobytes()


def runs_of(column: pa.ChunkedArray) -> list[tuple[str, int, int]]:
    """(value, start, length) of each run of equal values in a column sorted by it."""
    if len(column) == 0:
        return []
    encoded = pa.compute.run_end_encode(column.combine_chunks())
    ends = encoded.run_ends.to_pylist()
    values = encoded.values.to_pylist()
    starts = [0, *ends[:-1]]
    return [(value, start, end - start) for value, start, end in zip(values, starts, ends, strict=True)]
