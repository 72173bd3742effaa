"""Encoding a batch of one run's writes as a native Track body (`application/vnd.neon.track`, version 1).

Layout (little-endian; the server's decoder is `neon_server.track.native_format`, docs/track-sdk.md):

    b"NTRK" | version u16 = 1 | flags u16 = 0 | H u32 | H bytes of JSON header (space-padded to 8)
    | step f64[G] | time_ms f64[G] | value f64[N] | count u32[G] | path u32[N] | ratio f32[G] | preview u8[G]

G is the number of point groups (one per `log_metrics` call: one step, time and preview flag), N the number of
float points; `path` indexes header["paths"]. Everything else (configs, tags, string series, histograms, file
references) travels in the JSON header. The columns are `array` objects, written with `tobytes`: no per-point
Python work happens here.
"""

from __future__ import annotations

import json
import struct
import sys
from array import array
from dataclasses import dataclass, field
from typing import Any

MAGIC = b"NTRK"
VERSION = 1
MEDIA_TYPE = "application/vnd.neon.track"
PREFIX = struct.Struct("<4sHHI")
U32 = "I" if array("I").itemsize == 4 else "L"
LITTLE = sys.byteorder == "little"


@dataclass
class Batch:
    """What was logged since the last batch was taken, in columns (filled under the run's lock)."""

    index: dict[str, int] = field(default_factory=dict)  # path -> code, in this batch
    codes_of: dict[tuple[str, ...], array] = field(default_factory=dict)  # type: ignore[type-arg]
    paths: list[str] = field(default_factory=list)
    step: array = field(default_factory=lambda: array("d"))  # type: ignore[type-arg]
    time_ms: array = field(default_factory=lambda: array("d"))  # type: ignore[type-arg]
    count: array = field(default_factory=lambda: array(U32))  # type: ignore[type-arg]
    ratio: array = field(default_factory=lambda: array("f"))  # type: ignore[type-arg]
    preview: array = field(default_factory=lambda: array("B"))  # type: ignore[type-arg]
    value: array = field(default_factory=lambda: array("d"))  # type: ignore[type-arg]
    code: array = field(default_factory=lambda: array(U32))  # type: ignore[type-arg]
    assign: list[list[Any]] = field(default_factory=list)
    tags: list[list[Any]] = field(default_factory=list)
    strings: list[list[Any]] = field(default_factory=list)
    histograms: list[list[Any]] = field(default_factory=list)
    files: list[list[Any]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(len(self.step) or self.assign or self.tags or self.strings or self.histograms or self.files)

    @property
    def others(self) -> int:
        return len(self.assign) + len(self.tags) + len(self.strings) + len(self.histograms) + len(self.files)

    def nbytes(self) -> int:
        """About the size of its body."""
        return 25 * len(self.step) + 12 * len(self.value) + 64 * len(self.paths) + 128 * self.others


def _le(column: array) -> bytes:  # type: ignore[type-arg]
    if LITTLE:
        return column.tobytes()
    swapped = array(column.typecode, column)
    swapped.byteswap()
    return swapped.tobytes()


def encode(run_id: str, batch: Batch, max_bytes: int = 16 * 2**20) -> list[bytes]:
    """The batch as one or more bodies of about `max_bytes` at most (split between groups)."""
    bodies: list[bytes] = []
    groups = len(batch.step)
    first = encode_part(run_id, batch, 0, 0, _cut(batch, 0, max_bytes), with_header=True)
    bodies.append(first[0])
    g, p = first[1], first[2]
    while g < groups:
        end = _cut(batch, g, max_bytes)
        body, g, p = encode_part(run_id, batch, g, p, end, with_header=False)
        bodies.append(body)
    return bodies


def _cut(batch: Batch, start: int, max_bytes: int) -> int:
    """The group after the last one that fits in a body starting at group `start`."""
    total, g, groups = 0, start, len(batch.step)
    counts = batch.count
    while g < groups:
        total += 25 + 12 * counts[g]
        if total > max_bytes and g > start:
            return g
        g += 1
    return g


def encode_part(run_id: str, batch: Batch, g0: int, p0: int, g1: int, *,
                with_header: bool) -> tuple[bytes, int, int]:
    """Groups g0..g1 (their points start at p0), and the header's other writes when `with_header`."""
    n = sum(batch.count[g0:g1]) if (g0, g1) != (0, len(batch.step)) else len(batch.value)
    p1 = p0 + n
    whole = g0 == 0 and g1 == len(batch.step)
    codes = batch.code if whole else batch.code[p0:p1]
    header: dict[str, Any] = {"run": run_id, "paths": batch.paths, "groups": g1 - g0, "points": n}
    if with_header:
        for key in ("assign", "tags", "strings", "histograms", "files"):
            rows = getattr(batch, key)
            if rows:
                header[key] = rows
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode()
    text += b" " * (-(PREFIX.size + len(text)) % 8)
    parts = [PREFIX.pack(MAGIC, VERSION, 0, len(text)), text]
    if n or g1 > g0:
        def cut(column: array) -> array:  # type: ignore[type-arg]
            return column if whole else column[g0:g1]

        value = batch.value if whole else batch.value[p0:p1]
        parts += [_le(cut(batch.step)), _le(cut(batch.time_ms)), _le(value), _le(cut(batch.count)), _le(codes),
                  _le(cut(batch.ratio)), cut(batch.preview).tobytes()]
    return b"".join(parts), g1, p1
