"""Decoding the native Track body (`application/vnd.neon.track`, version 1) into a `RunWrites`.

`neon.track` sends one run's writes per body; the layout (little-endian throughout) is

    offset 0   magic      b"NTRK"
           4   version    uint16 = 1
           6   flags      uint16 = 0 (reserved)
           8   H          uint32: length of the header
          12   header     H bytes of UTF-8 JSON, padded with spaces so that the blocks start at a multiple of 8
     12 + H    blocks     G = header["groups"] point groups, N = header["points"] float points:
                            step      float64[G]   one step per group (a `log_metrics` call)
                            time_ms   float64[G]   epoch milliseconds
                            value     float64[N]   NaN and ±Inf allowed
                            count     uint32[G]    points in each group, in order (they sum to N)
                            path      uint32[N]    index into header["paths"]
                            ratio     float32[G]   preview completion (1 when not a preview)
                            preview   uint8[G]     1: the group's points are previews
                          and nothing after them.

The header holds everything that is not a float point, as JSON:

    {"run": "<run id>", "paths": ["loss", …], "groups": G, "points": N,
     "assign":     [[path, value, time_ms], …],      value: number | bool | string | {"$datetime": ms}
                                                       | {"$set": [str, …]} | {"$file": {path, size, mime}}
     "tags":       [[path, value, add?], …],          string-set changes, in order (sys/tags, sys/group_tags)
     "strings":    [[path, step, time_ms, value, preview, ratio], …],
     "histograms": [[path, step, time_ms, {"edges": […], "values": […], "kind": "counts"}, preview, ratio], …],
     "files":      [[path, step, time_ms, {"path": …, "size": …, "mime": …}, preview, ratio], …]}

Only "run" is required. Numbers in JSON may be NaN/Infinity (Python's JSON). The blocks are read in place
(numpy over the body's bytes, no copy) and handed on as an Arrow table with a dictionary-encoded path column.
A body that does not follow this layout raises `FormatError` naming the first thing that is wrong.
"""

from __future__ import annotations

import json
import math
import struct
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pyarrow as pa

from neon_server.domain.track import AttributeValue, FileRef, Histogram, RunWrites

MAGIC = b"NTRK"
VERSION = 1
MEDIA_TYPE = "application/vnd.neon.track"
PREFIX = struct.Struct("<4sHHI")
MAX_PATHS = 1_000_000
HEADER_KEYS = frozenset({"run", "paths", "groups", "points", "assign", "tags", "strings", "histograms", "files"})
# (name, numpy dtype, per group or per point), in body order
BLOCKS = (("step", "<f8", "G"), ("time_ms", "<f8", "G"), ("value", "<f8", "N"), ("count", "<u4", "G"),
          ("path", "<u4", "N"), ("ratio", "<f4", "G"), ("preview", "u1", "G"))
FLOAT_ARROW_SCHEMA = pa.schema([("path", pa.dictionary(pa.int32(), pa.string())), ("step", pa.float64()),
                                ("time_ms", pa.float64()), ("value", pa.float64()), ("preview", pa.bool_()),
                                ("ratio", pa.float32())])


class FormatError(ValueError):
    """The body is not a valid native Track body; the message says what is wrong."""


def block_size(groups: int, points: int) -> int:
    return sum(np.dtype(dtype).itemsize * (groups if per == "G" else points) for _n, dtype, per in BLOCKS)


def decode(body: bytes) -> RunWrites:
    """The run's writes in `body` (already gunzipped). Raises FormatError."""
    if len(body) < PREFIX.size:
        raise FormatError(f"body of {len(body)} bytes is shorter than the {PREFIX.size}-byte prefix")
    magic, version, flags, header_len = PREFIX.unpack_from(body)
    if magic != MAGIC:
        raise FormatError(f"body does not start with {MAGIC!r} (got {magic!r}): not a native Track body")
    if version != VERSION:
        raise FormatError(f"format version {version} is not supported (this server reads version {VERSION})")
    if flags:
        raise FormatError(f"flags must be 0 in version {VERSION}, got {flags}")
    start = PREFIX.size + header_len
    if start > len(body):
        raise FormatError(f"header length {header_len} runs past the end of the {len(body)}-byte body")
    try:
        header = json.loads(body[PREFIX.size:start].decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise FormatError(f"header is not UTF-8 JSON: {exc}") from None
    if not isinstance(header, dict):
        raise FormatError("header must be a JSON object")
    unknown = sorted(set(header) - HEADER_KEYS)
    if unknown:
        raise FormatError(f"unknown header keys {unknown}")
    run_id = header.get("run")
    if not isinstance(run_id, str) or not run_id:
        raise FormatError("header.run must be the run id (a non-empty string)")
    writes = RunWrites(run_id)
    _float_blocks(body, start, header, writes)
    _assignments(header.get("assign", []), writes)
    _tags(header.get("tags", []), writes)
    _points(header, writes)
    return writes


def _float_blocks(body: bytes, start: int, header: dict[str, Any], writes: RunWrites) -> None:
    groups, points = header.get("groups", 0), header.get("points", 0)
    for name, value in (("groups", groups), ("points", points)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0 or value >= 2**32:
            raise FormatError(f"header.{name} must be an integer from 0 to 2^32-1, got {value!r}")
    paths = header.get("paths", [])
    if not isinstance(paths, list) or len(paths) > MAX_PATHS or not all(isinstance(p, str) for p in paths):
        raise FormatError(f"header.paths must be a list of at most {MAX_PATHS} strings")
    expected = block_size(groups, points)
    if len(body) - start != expected:
        raise FormatError(f"the blocks for {groups} groups and {points} points take {expected} bytes, "
                          f"the body has {len(body) - start} after the header")
    if points == 0:
        return
    if start % 8:
        raise FormatError(f"the blocks must start at a multiple of 8 (header padded), they start at {start}")
    cols: dict[str, np.ndarray[Any, Any]] = {}
    offset = start
    for name, dtype, per in BLOCKS:
        n = groups if per == "G" else points
        cols[name] = np.frombuffer(body, dtype=dtype, count=n, offset=offset)
        offset += cols[name].nbytes
    counts = cols["count"]
    if int(counts.sum(dtype=np.uint64)) != points:
        raise FormatError(f"group counts add up to {int(counts.sum(dtype=np.uint64))}, header.points is {points}")
    codes = cols["path"]
    if int(codes.max()) >= len(paths):
        raise FormatError(f"a point refers to path index {int(codes.max())}, header.paths has {len(paths)}")
    if len(set(paths)) != len(paths):
        raise FormatError("header.paths repeats a path")
    if groups == points:  # one point per group: the group columns are the point columns, no copy
        step, time_ms, ratio, preview = cols["step"], cols["time_ms"], cols["ratio"], cols["preview"]
    else:
        step, time_ms = np.repeat(cols["step"], counts), np.repeat(cols["time_ms"], counts)
        ratio, preview = np.repeat(cols["ratio"], counts), np.repeat(cols["preview"], counts)
    path = pa.DictionaryArray.from_arrays(pa.array(codes.view(np.int32)), pa.array(paths, pa.string()))
    writes.float_arrow = pa.Table.from_arrays(
        [path, pa.array(step), pa.array(time_ms), pa.array(cols["value"]), pa.array(preview.view(np.bool_)),
         pa.array(ratio)], schema=FLOAT_ARROW_SCHEMA)


def _rows(header: dict[str, Any], key: str, width: int) -> list[list[Any]]:
    rows = header.get(key, [])
    if not isinstance(rows, list):
        raise FormatError(f"header.{key} must be a list")
    for i, row in enumerate(rows):
        if not isinstance(row, list) or len(row) != width:
            raise FormatError(f"header.{key}[{i}] must be a list of {width} items")
        if not isinstance(row[0], str):
            raise FormatError(f"header.{key}[{i}][0] (the path) must be a string")
    return rows


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise FormatError(f"{where} must be a number, got {value!r}")
    return float(value)


def _assignments(rows: Any, writes: RunWrites) -> None:
    for i, (path, value, time_ms) in enumerate(_rows({"assign": rows}, "assign", 3)):
        writes.set_attribute(path, _attribute(value, f"header.assign[{i}]"), _number(time_ms, f"header.assign[{i}][2]"))


def _attribute(value: Any, where: str) -> AttributeValue:
    if isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, dict) and len(value) == 1:
        (kind, inner), = value.items()
        if kind == "$datetime":
            ms = _number(inner, f"{where}.$datetime")
            if not math.isfinite(ms):
                raise FormatError(f"{where}.$datetime must be finite")
            try:
                return datetime.fromtimestamp(ms / 1000, UTC)
            except (OverflowError, OSError, ValueError):
                raise FormatError(f"{where}.$datetime {ms} is out of range") from None
        if kind == "$set":
            if not isinstance(inner, list) or not all(isinstance(v, str) for v in inner):
                raise FormatError(f"{where}.$set must be a list of strings")
            return frozenset(inner)
        if kind == "$file":
            return _file(inner, f"{where}.$file")
    raise FormatError(f"{where}: unsupported value {str(value)[:80]}: a number, bool, string, "
                      "{\"$datetime\": ms}, {\"$set\": [...]} or {\"$file\": {...}}")


def _file(value: Any, where: str) -> FileRef:
    if not isinstance(value, dict) or not isinstance(value.get("path"), str) or not value["path"]:
        raise FormatError(f"{where} must be {{\"path\": str, \"size\": int, \"mime\": str}}")
    size, mime = value.get("size", 0), value.get("mime", "")
    if isinstance(size, bool) or not isinstance(size, int) or size < 0 or not isinstance(mime, str):
        raise FormatError(f"{where}: size must be an integer ≥ 0 and mime a string")
    return FileRef(value["path"], size, mime)


def _tags(rows: Any, writes: RunWrites) -> None:
    for i, (path, value, add) in enumerate(_rows({"tags": rows}, "tags", 3)):
        if not isinstance(value, str) or not isinstance(add, bool):
            raise FormatError(f"header.tags[{i}] must be [path, value string, add bool]")
        writes.set_changes.append((path, value, add))


def _points(header: dict[str, Any], writes: RunWrites) -> None:
    for key in ("strings", "histograms", "files"):
        for i, (path, step, time_ms, value, preview, ratio) in enumerate(_rows(header, key, 6)):
            where = f"header.{key}[{i}]"
            at = (_number(step, f"{where}[1]"), _number(time_ms, f"{where}[2]"))
            if not isinstance(preview, bool):
                raise FormatError(f"{where}[4] (preview) must be a bool")
            extra = {"preview": preview, "ratio": _number(ratio, f"{where}[5]")}
            if key == "strings":
                if not isinstance(value, str):
                    raise FormatError(f"{where}[3] must be a string")
                writes.add_string(path, *at, value, **extra)  # type: ignore[arg-type]
            elif key == "histograms":
                writes.add_histogram(path, *at, _histogram(value, f"{where}[3]"), **extra)  # type: ignore[arg-type]
            else:
                writes.add_file(path, *at, _file(value, f"{where}[3]"), **extra)  # type: ignore[arg-type]


def _histogram(value: Any, where: str) -> Histogram:
    if not isinstance(value, dict):
        raise FormatError(f"{where} must be {{\"edges\": [...], \"values\": [...], \"kind\": \"counts\"}}")
    edges, values, kind = value.get("edges"), value.get("values"), value.get("kind", "counts")
    if not isinstance(edges, list) or not isinstance(values, list):
        raise FormatError(f"{where}: edges and values must be lists of numbers")
    if kind not in ("counts", "densities"):
        raise FormatError(f"{where}.kind must be 'counts' or 'densities'")
    return Histogram(tuple(_number(e, f"{where}.edges") for e in edges),
                     tuple(_number(v, f"{where}.values") for v in values), kind)
