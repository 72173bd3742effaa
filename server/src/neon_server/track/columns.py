"""From a run's writes (`RunWrites`) to the rows of Track's tables, checking each value on the way.

What fails a check is left out and counted by reason (`Rejection`); everything else is kept. Points stay in
columns throughout: paths are checked once per distinct path, numbers once per array.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from itertools import pairwise

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from neon_server.domain.track import (
    FILE_SERIES,
    FLOAT_SCHEMA,
    FLOAT_SERIES,
    HISTOGRAM_SERIES,
    MAX_HISTOGRAM_BINS,
    MAX_PATH_BYTES,
    MAX_STRING_BYTES,
    MAX_STRING_SET,
    STRING_SERIES,
    AttributeValue,
    FileRef,
    Histogram,
    Rejection,
    RunWrites,
    TrackCode,
    attribute_type,
)

TIMESTAMP = pa.timestamp("ms", tz="UTC")
SERIES_TYPE = {"float": FLOAT_SERIES, "string": STRING_SERIES, "histogram": HISTOGRAM_SERIES, "file": FILE_SERIES}
# Datetimes ClickHouse's DateTime64(3) holds: 1900-01-01 .. 2299-12-31.
MIN_DATETIME_MS, MAX_DATETIME_MS = -2_208_988_800_000, 10_413_791_999_000


@dataclass
class PreparedPoints:
    """One kind of series points of one run: the rows to insert (without `version`) and, for summaries, the
    path of each point as a code into `paths`."""

    table: pa.Table
    paths: list[str]
    codes: npt.NDArray[np.int32]
    steps: npt.NDArray[np.float64]
    times_ms: npt.NDArray[np.float64]
    values: npt.NDArray[np.float64] | None


@dataclass
class PreparedRun:
    project_id: str
    run_id: str
    attributes: pa.Table | None = None
    set_changes: list[tuple[str, str, bool, float]] = field(default_factory=list)
    points: dict[str, PreparedPoints] = field(default_factory=dict)
    accepted: int = 0
    rejected: Counter[tuple[TrackCode, str]] = field(default_factory=Counter)

    def rejections(self) -> tuple[Rejection, ...]:
        return tuple(Rejection(code, count, message) for (code, message), count in self.rejected.items())


def constant(value: str, n: int) -> pa.Array:
    return pa.repeat(pa.scalar(value, pa.string()), n)


def path_problem(path: str) -> tuple[TrackCode, str] | None:
    if not path:
        return TrackCode.FIELD_PATH_EMPTY, "an attribute path is empty"
    if len(path.encode()) > MAX_PATH_BYTES:
        return TrackCode.FIELD_PATH_EXCEEDS_SIZE_LIMIT, f"attribute path longer than {MAX_PATH_BYTES} bytes"
    if "\x00" in path:
        return TrackCode.FIELD_PATH_INVALID, "attribute path contains a NUL character"
    return None


def _attribute_row(path: str, value: AttributeValue) -> dict[str, object] | tuple[TrackCode, str]:
    kind = attribute_type(value)
    row: dict[str, object] = {"path": path, "type": kind}
    if isinstance(value, bool):
        row["bool_value"] = value
    elif isinstance(value, int):
        if not -(2**63) <= value < 2**63:
            return TrackCode.FIELD_TYPE_UNSUPPORTED, f"{path}: integer out of the 64-bit range"
        row["int_value"] = value
    elif isinstance(value, float):
        row["float_value"] = value
    elif isinstance(value, str):
        if len(value.encode()) > MAX_STRING_BYTES:
            return TrackCode.STRING_VALUE_EXCEEDS_SIZE_LIMIT, f"{path}: string longer than {MAX_STRING_BYTES} bytes"
        row["string_value"] = value
    elif isinstance(value, datetime):
        ms = value.timestamp() * 1000
        if not MIN_DATETIME_MS <= ms <= MAX_DATETIME_MS:
            return TrackCode.DATETIME_VALUE_OUT_OF_RANGE, f"{path}: datetime outside 1900–2299"
        row["datetime_value"] = int(ms)
    elif isinstance(value, frozenset):
        if len(value) > MAX_STRING_SET:
            return TrackCode.STRING_SET_EXCEEDS_SIZE_LIMIT, f"{path}: more than {MAX_STRING_SET} values in a set"
        row["string_set"] = sorted(value)
    elif isinstance(value, FileRef):
        row.update(file_path=value.path, file_size=value.size_bytes, file_mime=value.mime_type)
    return row


ATTRIBUTE_SCHEMA = pa.schema([
    ("project_id", pa.string()), ("run_id", pa.string()), ("path", pa.string()), ("type", pa.string()),
    ("float_value", pa.float64()), ("int_value", pa.int64()), ("bool_value", pa.bool_()),
    ("string_value", pa.string()), ("datetime_value", TIMESTAMP), ("string_set", pa.list_(pa.string())),
    ("file_path", pa.string()), ("file_size", pa.int64()), ("file_mime", pa.string()), ("updated_at", TIMESTAMP),
])
_ATTRIBUTE_DEFAULTS: dict[str, object] = {"float_value": 0.0, "int_value": 0, "bool_value": False,
                                          "string_value": "", "datetime_value": 0, "string_set": [],
                                          "file_path": "", "file_size": 0, "file_mime": ""}


def attribute_table(project_id: str, run_id: str, rows: list[dict[str, object]]) -> pa.Table:
    """Rows of track_attributes from {path, type, <value column>, updated_at (ms)} dicts."""
    columns: dict[str, list[object]] = {name: [] for name in ATTRIBUTE_SCHEMA.names}
    for row in rows:
        columns["project_id"].append(project_id)
        columns["run_id"].append(run_id)
        for name in ATTRIBUTE_SCHEMA.names[2:]:
            columns[name].append(row.get(name, _ATTRIBUTE_DEFAULTS.get(name)))
    return pa.table(columns, schema=ATTRIBUTE_SCHEMA)


def prepare(project_id: str, writes: RunWrites) -> PreparedRun:
    """Check and convert one run's writes; what fails a check is counted in `rejected` and left out."""
    out = PreparedRun(project_id, writes.run_id)
    rows: list[dict[str, object]] = []
    for path, value in writes.assign.items():
        problem = path_problem(path)
        row = problem if problem is not None else _attribute_row(path, value)
        if isinstance(row, tuple):
            out.rejected[row] += 1
            continue
        row["updated_at"] = int(writes.assign_time.get(path, 0))
        rows.append(row)
    if rows:
        out.attributes = attribute_table(project_id, writes.run_id, rows)
        out.accepted += len(rows)
    for change in writes.set_changes:
        path, value, _add = change
        problem = path_problem(path)
        if problem is not None:
            out.rejected[problem] += 1
            continue
        if len(value.encode()) > MAX_STRING_BYTES:
            out.rejected[TrackCode.STRING_VALUE_EXCEEDS_SIZE_LIMIT, f"{path}: set value too long"] += 1
            continue
        out.set_changes.append((*change, 0.0))
        out.accepted += 1
    if writes.float_path or writes.float_arrow is not None:
        _float_points(out, writes)
    if writes.string_path:
        values = []
        keep = []
        for i, value in enumerate(writes.string_value):
            if len(value.encode()) > MAX_STRING_BYTES:
                out.rejected[TrackCode.STRING_VALUE_EXCEEDS_SIZE_LIMIT,
                             f"{writes.string_path[i]}: string longer than {MAX_STRING_BYTES} bytes"] += 1
            else:
                keep.append(i)
                values.append(value)
        _other_points(out, "string", writes.string_path, writes.string_step, writes.string_time,
                      writes.string_preview, writes.string_ratio, keep, {"value": pa.array(values, pa.string())})
    if writes.histogram_path:
        keep, kinds, edges, bins = [], [], [], []
        for i, hist in enumerate(writes.histogram_value):
            problem = histogram_problem(hist)
            if problem is not None:
                out.rejected[problem[0], f"{writes.histogram_path[i]}: {problem[1]}"] += 1
                continue
            keep.append(i)
            kinds.append(hist.kind)
            edges.append(list(hist.bin_edges))
            bins.append(list(hist.values))
        _other_points(out, "histogram", writes.histogram_path, writes.histogram_step, writes.histogram_time,
                      writes.histogram_preview, writes.histogram_ratio, keep,
                      {"kind": pa.array(kinds, pa.string()), "bin_edges": pa.array(edges, pa.list_(pa.float64())),
                       "bin_values": pa.array(bins, pa.list_(pa.float64()))})
    if writes.file_path:
        files = writes.file_value
        keep = list(range(len(files)))
        _other_points(out, "file", writes.file_path, writes.file_step, writes.file_time, writes.file_preview,
                      writes.file_ratio, keep,
                      {"file_path": pa.array([f.path for f in files], pa.string()),
                       "file_size": pa.array([f.size_bytes for f in files], pa.int64()),
                       "file_mime": pa.array([f.mime_type for f in files], pa.string())})
    return out


def histogram_problem(hist: Histogram) -> tuple[TrackCode, str] | None:
    edges = hist.bin_edges
    if len(edges) - 1 > MAX_HISTOGRAM_BINS:
        return TrackCode.HISTOGRAM_TOO_MANY_BINS, f"more than {MAX_HISTOGRAM_BINS} bins"
    if any(math.isnan(e) for e in edges):
        return TrackCode.HISTOGRAM_BIN_EDGES_CONTAINS_NAN, "a bin edge is NaN"
    if any(b <= a for a, b in pairwise(edges)):
        return TrackCode.HISTOGRAM_BIN_EDGES_NOT_INCREASING, "bin edges do not increase"
    if len(hist.values) != max(len(edges) - 1, 0):
        return (TrackCode.HISTOGRAM_VALUES_LENGTH_DOESNT_MATCH_BINS,
                f"{len(hist.values)} values for {max(len(edges) - 1, 0)} bins")
    return None


def _codes(paths: pa.Array, out: PreparedRun) -> tuple[list[str], npt.NDArray[np.int32], npt.NDArray[np.bool_]]:
    """Distinct paths, each point's code, and which points have a valid path (bad paths rejected here)."""
    encoded = paths if pa.types.is_dictionary(paths.type) else pc.dictionary_encode(paths)
    if isinstance(encoded, pa.ChunkedArray):
        encoded = encoded.combine_chunks()
    names: list[str] = encoded.dictionary.to_pylist()
    codes = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int32, copy=False)
    valid = np.ones(len(codes), dtype=bool)
    bad = [i for i, name in enumerate(names) if path_problem(name) is not None]
    for i in bad:
        mask = codes == i
        problem = path_problem(names[i])
        assert problem is not None
        out.rejected[problem] += int(mask.sum())
        valid &= ~mask
    return names, codes, valid


def _check_steps(steps: npt.NDArray[np.float64], out: PreparedRun) -> npt.NDArray[np.bool_]:
    ok = np.isfinite(steps) & (steps >= 0) & (steps <= 1e15)
    bad = int((~ok).sum())
    if bad:
        out.rejected[TrackCode.SERIES_STEP_INVALID, "a step is not a finite number between 0 and 1e15"] += bad
    return ok


PATH_DICT = pa.dictionary(pa.int32(), pa.string())
FLOAT_INPUT = pa.schema([FLOAT_SCHEMA.field("path").with_type(PATH_DICT), *list(FLOAT_SCHEMA)[1:]])


def constant_dict(value: str, n: int) -> pa.Array:
    """n copies of one string as a dictionary array: the store reads one string, not n."""
    return pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, dtype=np.int32)), pa.array([value], pa.string()),
                                          safe=False)


def _float_input(writes: RunWrites) -> pa.Table:
    """The float points of the writes as one table of FLOAT_INPUT (paths dictionary-encoded, one chunk)."""
    parts = []
    if writes.float_path:
        parts.append(pa.table({"path": pa.array(writes.float_path, pa.string()).dictionary_encode(),
                               "step": np.asarray(writes.float_step, dtype=np.float64),
                               "time_ms": np.asarray(writes.float_time, dtype=np.float64),
                               "value": np.asarray(writes.float_value, dtype=np.float64),
                               "preview": pa.array(writes.float_preview, pa.bool_()),
                               "ratio": pa.array(writes.float_ratio, pa.float32())}, schema=FLOAT_INPUT))
    if writes.float_arrow is not None:
        arrow = writes.float_arrow.select(FLOAT_SCHEMA.names)
        if not pa.types.is_dictionary(arrow.schema.field("path").type):
            arrow = arrow.set_column(0, "path", pc.dictionary_encode(arrow.column("path")))
        parts.append(arrow.cast(FLOAT_INPUT))
    table = pa.concat_tables(parts) if len(parts) > 1 else parts[0]
    if any(column.num_chunks > 1 for column in table.columns):
        table = table.unify_dictionaries().combine_chunks()
    return table


def _float_points(out: PreparedRun, writes: RunWrites) -> None:
    """Float points checked, then grouped by path (a stable sort on the path codes, so steps keep their order):
    the store sorts each insert by (path, step) and the summaries group by path, both cheaper on data in that
    order."""
    table = _float_input(writes)
    path = table.column("path").chunk(0) if table.num_rows else pa.array([], PATH_DICT)
    steps = table.column("step").to_numpy()
    names, codes, valid = _codes(path, out)
    valid &= _check_steps(steps, out)
    order = np.argsort(codes, kind="stable")
    if not valid.all():
        order = order[valid[order]]
    codes, steps = codes[order], steps[order]
    times = table.column("time_ms").to_numpy()[order]
    values = table.column("value").to_numpy()[order]
    n = len(order)
    rows = pa.table({
        "project_id": constant_dict(out.project_id, n), "run_id": constant_dict(out.run_id, n),
        "path": pa.DictionaryArray.from_arrays(pa.array(codes), path.dictionary, safe=False), "step": steps,
        "time": pa.array(times.astype(np.int64), TIMESTAMP), "value": values,
        "preview": pa.array(table.column("preview").to_numpy(zero_copy_only=False)[order]),
        "ratio": pa.array(table.column("ratio").to_numpy()[order])})
    out.points["float"] = PreparedPoints(rows, names, codes, steps, times, values)
    out.accepted += n


def _other_points(out: PreparedRun, kind: str, paths: list[str], steps: list[float], times: list[float],
                  preview: list[bool], ratio: list[float], keep: list[int], value_columns: dict[str, pa.Array]) -> None:
    if len(keep) != len(paths):
        paths = [paths[i] for i in keep]
        steps = [steps[i] for i in keep]
        times = [times[i] for i in keep]
        preview = [preview[i] for i in keep]
        ratio = [ratio[i] for i in keep]
    if not paths:
        return
    names, codes, valid = _codes(pa.array(paths, pa.string()), out)
    step_array = np.asarray(steps, dtype=np.float64)
    valid &= _check_steps(step_array, out)
    time_array = np.asarray(times, dtype=np.float64)
    n = len(paths)
    table = pa.table({"project_id": constant(out.project_id, n), "run_id": constant(out.run_id, n),
                      "path": pa.array(paths, pa.string()), "step": step_array,
                      "time": pa.array(time_array.astype(np.int64), TIMESTAMP), **value_columns,
                      "preview": pa.array(preview, pa.bool_()), "ratio": pa.array(ratio, pa.float32())})
    if not valid.all():
        table = table.filter(pa.array(valid))
        codes, step_array, time_array = codes[valid], step_array[valid], time_array[valid]
    out.points[kind] = PreparedPoints(table, names, codes, step_array, time_array, None)
    out.accepted += table.num_rows
