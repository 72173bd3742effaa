"""neptune-exporter's Parquet rows ⇄ Track's runs.

The exporter writes one row per value (long format) with one typed value column set per row: parameters
(`float`, `int`, `string`, `bool`, `datetime`, `string_set`) without step or timestamp, series points
(`float_series`, `string_series`, `histogram_series`, `file_series`) with a decimal(18,6) step and a timestamp,
and file references (`file`; Neptune 2 exports also `file_set` and `artifact`). Runs have no rows of their own:
the creation time, experiment and fork come from the `sys/*` parameter rows. `rows_to_runs` turns rows into
what the service writes, naming every row it cannot use; `run_to_rows` turns a stored run back into rows of the
same shape, so an export is read by the exporter's own tools and by `rows_to_runs` alike.
"""

from __future__ import annotations

import mimetypes
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from neon_server.domain.track import (
    BOOL,
    DATETIME,
    FILE_REF,
    FLOAT,
    INT,
    STRING,
    STRING_SET,
    AttributeValue,
    FileRef,
    ForkPoint,
    Histogram,
    RunCreate,
    RunWrites,
    TrackRun,
)
from neon_server.track.columns import histogram_problem, path_problem

UTC_MS = pa.timestamp("ms", tz="UTC")
STEP = pa.decimal128(18, 6)
HISTOGRAM = pa.struct([("type", pa.string()), ("edges", pa.list_(pa.float64())), ("values", pa.list_(pa.float64()))])
# The exporter's `model.SCHEMA`, column for column.
EXPORT_SCHEMA = pa.schema([
    ("project_id", pa.string()), ("run_id", pa.string()), ("attribute_path", pa.string()),
    ("attribute_type", pa.string()), ("step", STEP), ("timestamp", UTC_MS), ("int_value", pa.int64()),
    ("float_value", pa.float64()), ("string_value", pa.string()), ("bool_value", pa.bool_()),
    ("datetime_value", UTC_MS), ("string_set_value", pa.list_(pa.string())),
    ("file_value", pa.struct([("path", pa.string())])), ("histogram_value", HISTOGRAM),
])

PARAMETER_COLUMNS = {"float": "float_value", "int": "int_value", "string": "string_value", "bool": "bool_value",
                     "datetime": "datetime_value", "string_set": "string_set_value"}
FILE_TYPES = ("file", "file_set", "artifact")  # file_set and artifact: Neptune 2 only (a folder or a listing)
SERIES_COLUMNS = {"float_series": "float_value", "string_series": "string_value",
                  "histogram_series": "histogram_value", "file_series": "file_value"}
# Neon's own identity of a run: Neon numbers imported runs (sys/id) and the run id is the row's run_id.
SERVER_IDENTITY = frozenset({"sys/id", "sys/custom_run_id"})
MICRO = 1_000_000
MAX_STEP_MICROS = 10**18 - 1  # decimal(18, 6)
_TYPE_OF_KIND = {FLOAT: "float", INT: "int", BOOL: "bool", STRING: "string", DATETIME: "datetime",
                 STRING_SET: "string_set", FILE_REF: "file"}


class FormatError(ValueError):
    """The table as a whole is not in the exporter's shape (a column missing or of a type that does not cast)."""

    def __init__(self, column: str, message: str) -> None:
        super().__init__(message)
        self.column = column
        self.message = message


@dataclass(frozen=True)
class RowProblem:
    """A row that was left out, and why; `row` counts from 0 in the table as given."""

    row: int
    column: str
    message: str

    def __str__(self) -> str:
        return f"row {self.row}, column {self.column}: {self.message}"


@dataclass
class ImportedRun:
    create: RunCreate
    writes: RunWrites
    first_row: int
    rows: int = 0
    fork_row: int = -1  # the row of sys/forking/parent, to name when the parent is nowhere
    # Whether these rows describe the run (its sys/* parameters): a later part of a big run holds only points,
    # and then says nothing of the run's creation or lineage.
    describes_run: bool = True


@dataclass
class Converted:
    runs: list[ImportedRun] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)


def conform(table: pa.Table) -> pa.Table:
    """The table with the exporter's columns and types (cast where they differ only in width or unit)."""
    columns = []
    for spec in EXPORT_SCHEMA:
        if spec.name not in table.column_names:
            raise FormatError(spec.name, f"column {spec.name!r} is missing: this is not neptune-exporter's shape "
                                         f"(expected {', '.join(EXPORT_SCHEMA.names)})")
        column = table.column(spec.name)
        if column.type != spec.type:
            try:
                # a finer time unit is truncated to milliseconds; any other lossy cast is refused
                column = column.cast(spec.type, safe=not pa.types.is_timestamp(spec.type))
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise FormatError(spec.name, f"column {spec.name!r} is {column.type}, expected {spec.type}: "
                                             f"{exc}") from None
        columns.append(column)
    return pa.Table.from_arrays(columns, schema=EXPORT_SCHEMA)


# -- decimal steps, exactly ----------------------------------------------------------------------------------
def step_micros(steps: pa.Array | pa.ChunkedArray) -> npt.NDArray[np.int64]:
    """decimal(18,6) steps as integer millionths (nulls as 0), read from the 128-bit values directly: a cast to
    float64 is not correctly rounded (0.1 would become 0.09999999999999999)."""
    array = steps.combine_chunks() if isinstance(steps, pa.ChunkedArray) else steps
    if len(array) == 0:
        return np.zeros(0, np.int64)
    words = np.frombuffer(array.buffers()[1], dtype=np.int64).reshape(-1, 2)
    micros = words[array.offset:array.offset + len(array), 0].copy()  # 18 digits fit the low word
    if array.null_count:
        micros[np.asarray(array.is_null())] = 0
    return micros


def micros_to_steps(micros: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    return micros / float(MICRO)


def steps_to_decimal(steps: npt.NDArray[np.float64]) -> pa.Array:
    """Float64 steps as decimal(18,6), rounded to the nearest millionth (what Neptune's steps are)."""
    micros = np.rint(np.asarray(steps, dtype=np.float64) * MICRO).astype(np.int64)
    words = np.stack([micros, micros >> 63], axis=1).ravel()
    return pa.Array.from_buffers(STEP, len(micros), [None, pa.py_buffer(words.tobytes())])


def histogram_kind(exported: str | None) -> str:
    return "densities" if (exported or "").upper().startswith("DENS") else "counts"


def exported_histogram_type(kind: str) -> str:
    return "DENSITY" if kind == "densities" else "COUNTING"


# -- rows → runs -----------------------------------------------------------------------------------------------
def rows_to_runs(table: pa.Table) -> Converted:
    """Group rows by run and convert them; rows that cannot be used are named in `problems`, the rest kept."""
    table = conform(table)
    out = Converted()
    n = table.num_rows
    usable = np.ones(n, dtype=bool)
    for column in ("run_id", "attribute_path", "attribute_type"):
        missing = np.asarray(table.column(column).is_null())
        for row in np.flatnonzero(missing & usable)[:100]:
            out.problems.append(RowProblem(int(row), column, f"{column} is null"))
        usable &= ~missing
    run_ids = table.column("run_id").combine_chunks().dictionary_encode()
    codes = run_ids.indices.to_numpy(zero_copy_only=False)
    order = sorted(range(len(run_ids.dictionary)), key=lambda c: int(np.argmax(codes == c)))
    for code in order:
        rows = np.flatnonzero((codes == code) & usable)
        if len(rows):
            sub = table if len(rows) == n else table.take(pa.array(rows))  # one run per request: no copy
            run = _convert_run(str(run_ids.dictionary[code]), sub, rows, out.problems)
            out.runs.append(run)
    return out


def _bad(problems: list[RowProblem], rows: npt.NDArray[np.int64], mask: npt.NDArray[np.bool_], column: str,
         message: str) -> None:
    for row in rows[mask][:100]:  # a whole column of bad rows is named by its first hundred
        problems.append(RowProblem(int(row), column, message))


def _convert_run(run_id: str, sub: pa.Table, rows: npt.NDArray[np.int64],
                 problems: list[RowProblem]) -> ImportedRun:
    encoded = sub.column("attribute_type").combine_chunks().dictionary_encode()
    type_names: list[str] = encoded.dictionary.to_pylist()
    type_codes = encoded.indices.to_numpy(zero_copy_only=False)

    def typed(*names: str) -> npt.NDArray[np.bool_]:
        return np.isin(type_codes, [code for code, name in enumerate(type_names) if name in names])

    paths = sub.column("attribute_path").combine_chunks().dictionary_encode()
    path_names = paths.dictionary.to_pylist()
    path_codes = paths.indices.to_numpy(zero_copy_only=False)
    bad_path = np.zeros(len(rows), dtype=bool)
    for code, name in enumerate(path_names):
        problem = path_problem(name)
        if problem is not None:
            mask = path_codes == code
            _bad(problems, rows, mask, "attribute_path", problem[1])
            bad_path |= mask
    known = set(PARAMETER_COLUMNS) | set(SERIES_COLUMNS) | set(FILE_TYPES)
    unknown = ~typed(*known) & ~bad_path
    for i in np.flatnonzero(unknown)[:100]:
        problems.append(RowProblem(int(rows[i]), "attribute_type", f"unknown attribute type "
                                   f"{type_names[type_codes[i]]!r} "
                                   f"(known: {', '.join(sorted(known))})"))
    keep = ~bad_path & ~unknown

    # parameters and file references: few rows, converted one by one
    params: dict[str, AttributeValue] = {}
    param_rows: dict[str, int] = {}
    scalar = keep & typed(*PARAMETER_COLUMNS, *FILE_TYPES)
    for i in np.flatnonzero(scalar):
        kind = type_names[type_codes[i]]
        column = PARAMETER_COLUMNS.get(kind, "file_value")
        value = sub.column(column)[int(i)].as_py()
        path = path_names[path_codes[i]]
        if value is None or (column == "file_value" and value.get("path") is None):
            problems.append(RowProblem(int(rows[i]), column, f"{column} is null for a {kind} attribute"))
            continue
        params[path] = _parameter(kind, value)
        param_rows[path] = int(rows[i])

    create, fork_row = _creation(run_id, params, param_rows, problems)
    writes = RunWrites(run_id)
    updated = params.get("sys/modification_time", create.creation_time)
    updated_ms = updated.timestamp() * 1000 if isinstance(updated, datetime) else 0.0
    for path, value in params.items():
        if path not in SERVER_IDENTITY:
            writes.set_attribute(path, value, updated_ms)

    # series: steps and times in columns; float points (the bulk) never leave Arrow
    micros = step_micros(sub.column("step"))
    step_null = np.asarray(sub.column("step").is_null())
    time_null = np.asarray(sub.column("timestamp").is_null())
    times = sub.column("timestamp").cast(pa.int64()).fill_null(0).to_numpy().astype(np.float64)
    negative = micros < 0
    for kind, column in SERIES_COLUMNS.items():
        mask = keep & typed(kind)
        if not mask.any():
            continue
        value_null = np.asarray(sub.column(column).is_null())
        for bad, name, message in ((step_null, "step", f"step is null for a {kind} point"),
                                   (~step_null & negative, "step", "step is negative"),
                                   (time_null, "timestamp", f"timestamp is null for a {kind} point"),
                                   (value_null, column, f"{column} is null for a {kind} point")):
            _bad(problems, rows, mask & bad, name, message)
            mask &= ~bad
        if not mask.any():
            continue
        index = np.flatnonzero(mask)
        steps = micros_to_steps(micros[index])
        if kind == "float_series":
            n = len(index)
            every = n == sub.num_rows
            chosen = pa.array(mask)
            arrow = pa.table({"path": paths if every else paths.filter(chosen), "step": steps,
                              "time_ms": times if every else times[index],
                              "value": sub.column("float_value") if every else sub.column("float_value").filter(
                                  chosen),
                              "preview": pa.repeat(pa.scalar(False), n),
                              "ratio": pa.repeat(pa.scalar(1.0, pa.float32()), n)})  # path stays dictionary-encoded
            writes.float_arrow = arrow
            continue
        values = sub.column(column).take(pa.array(index)).to_pylist()
        for j, i in enumerate(index):
            path, step, time_ms, value = path_names[path_codes[i]], float(steps[j]), float(times[i]), values[j]
            if kind == "string_series":
                writes.add_string(path, step, time_ms, value)
            elif kind == "file_series":
                if value.get("path") is None:
                    problems.append(RowProblem(int(rows[i]), column, "file_value.path is null"))
                    continue
                writes.add_file(path, step, time_ms, _file_ref(value["path"]))
            else:
                hist = Histogram(tuple(value.get("edges") or ()), tuple(value.get("values") or ()),
                                 histogram_kind(value.get("type")))
                problem = histogram_problem(hist)
                if problem is not None:
                    problems.append(RowProblem(int(rows[i]), column, problem[1]))
                    continue
                writes.add_histogram(path, step, time_ms, hist)
    return ImportedRun(create, writes, int(rows[0]), len(rows), fork_row,
                       describes_run=any(path.startswith("sys/") for path in params))


def _file_ref(path: str) -> FileRef:
    return FileRef(path=path, mime_type=mimetypes.guess_type(path)[0] or "")


def _parameter(kind: str, value: Any) -> AttributeValue:
    if kind in FILE_TYPES:
        return _file_ref(str(value["path"]))
    if kind == "string_set":
        return frozenset(value)
    if kind == "datetime":
        moment: datetime = value
        return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    if kind == "float":
        return float(value)
    if kind == "int":
        return int(value)
    if kind == "bool":
        return bool(value)
    return str(value)


def _creation(run_id: str, params: dict[str, AttributeValue], rows: dict[str, int],
              problems: list[RowProblem]) -> tuple[RunCreate, int]:
    """The run as created: time, experiment, family, owner and fork point, from its sys/* parameters."""
    created = params.get("sys/creation_time")
    experiment = params.get("sys/experiment/name")
    if not isinstance(experiment, str) or not experiment:
        # Neptune labels experiments by sys/name; Neon writes the run id there for runs of no experiment.
        name = params.get("sys/name")
        experiment = name if isinstance(name, str) and name != run_id else ""
    fork = None
    fork_row = -1
    parent = params.get("sys/forking/parent")
    if isinstance(parent, str) and parent:
        step = params.get("sys/forking/step")
        fork_row = rows["sys/forking/parent"]
        if isinstance(step, (int, float)) and not isinstance(step, bool):
            fork = ForkPoint(parent, float(step))
        else:
            problems.append(RowProblem(fork_row, "attribute_path", "sys/forking/parent without a numeric "
                                       "sys/forking/step: the run is imported without its fork"))
    family, owner = params.get("sys/family"), params.get("sys/owner")
    return RunCreate(run_id=run_id, experiment_name=experiment,
                     creation_time=created if isinstance(created, datetime) else None, fork=fork,
                     family=family if isinstance(family, str) else "",
                     owner=owner if isinstance(owner, str) else ""), fork_row


# -- runs → rows -----------------------------------------------------------------------------------------------
def parameter_rows(project: str, run: TrackRun, attributes: dict[str, tuple[str, Any]]) -> pa.Table:
    """A run's attributes as the exporter's parameter and file rows (step and timestamp null)."""
    cols: dict[str, list[Any]] = {name: [] for name in EXPORT_SCHEMA.names}
    for path, (kind, value) in attributes.items():
        exported = _TYPE_OF_KIND.get(kind)
        if exported is None:
            continue
        row: dict[str, Any] = {"project_id": project, "run_id": run.run_id, "attribute_path": path,
                               "attribute_type": exported}
        if exported == "file":
            row["file_value"] = {"path": value["path"]}
        else:
            row[PARAMETER_COLUMNS[exported]] = value
        for name in EXPORT_SCHEMA.names:
            cols[name].append(row.get(name))
    return pa.table(cols, schema=EXPORT_SCHEMA)


def series_rows(project: str, run_id: str, kind: str, points: pa.Table) -> pa.Table:
    """One kind of a run's series points (`TrackService.run_points`: path, step, time_ms, values) as rows."""
    n = points.num_rows
    null = {name: pa.nulls(n, EXPORT_SCHEMA.field(name).type) for name in EXPORT_SCHEMA.names}
    null["project_id"] = pa.repeat(pa.scalar(project), n)
    null["run_id"] = pa.repeat(pa.scalar(run_id), n)
    null["attribute_path"] = points.column("path")
    null["step"] = steps_to_decimal(points.column("step").to_numpy())
    null["timestamp"] = points.column("time_ms").cast(pa.int64()).cast(UTC_MS)
    if kind == "float":
        null["attribute_type"] = pa.repeat(pa.scalar("float_series"), n)
        null["float_value"] = points.column("value")
    elif kind == "string":
        null["attribute_type"] = pa.repeat(pa.scalar("string_series"), n)
        null["string_value"] = points.column("value")
    elif kind == "histogram":
        null["attribute_type"] = pa.repeat(pa.scalar("histogram_series"), n)
        types = pa.array([exported_histogram_type(k) for k in points.column("kind").to_pylist()], pa.string())
        null["histogram_value"] = pa.StructArray.from_arrays(
            [types, points.column("bin_edges").combine_chunks().cast(pa.list_(pa.float64())),
             points.column("bin_values").combine_chunks().cast(pa.list_(pa.float64()))],
            fields=list(HISTOGRAM))
    else:
        null["attribute_type"] = pa.repeat(pa.scalar("file_series"), n)
        null["file_value"] = pa.StructArray.from_arrays([points.column("file_path").combine_chunks()],
                                                        fields=[pa.field("path", pa.string())])
    columns = [c.combine_chunks() if isinstance(c, pa.ChunkedArray) else c for c in null.values()]
    return pa.Table.from_arrays([pc.cast(c, f.type) for c, f in zip(columns, EXPORT_SCHEMA, strict=True)],
                                schema=EXPORT_SCHEMA)
