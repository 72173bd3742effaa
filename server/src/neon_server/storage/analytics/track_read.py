"""Reads of Track's tables for Neptune's read protocol (neptune-query): run search with sorting and
pagination, attribute values and definitions, and series points over fork lineage.

Every value that comes from a request (paths, regular expressions, ids, steps, limits) is a bound parameter;
the SQL text is chosen among fixed shapes. Regular expressions run in ClickHouse (RE2: linear time, so a
hostile pattern cannot stall the engine).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from neon_server.storage.analytics.executor import AnalyticsDB, SqlParams
from neon_server.storage.analytics.track import POINT_TABLES

# Steps are finite and < 1e12; these stand for "no bound" without binding infinities.
NO_LOW, NO_HIGH = -1e300, 1e300
_ATTRIBUTE_COLUMNS = ("run_id, path, type, float_value, int_value, bool_value, string_value, "
                      "toUnixTimestamp64Milli(datetime_value) AS datetime_ms, string_set, file_path, file_size, "
                      "file_mime")
_SERIES_COLUMNS = ("run_id, path, type, count, finite_count, first_step, last_step, last_value, min_value, "
                   "max_value, mean_value, if(finite_count > 0, sum_sq_dev / finite_count, nan) AS variance")
_RUN_COLUMNS = ("run_id, short_id, experiment_name, toUnixTimestamp64Milli(created_at) AS created_ms, "
                "fork_parent_run_id, fork_step")
# What a sort by an attribute of each type compares (in track_attributes), and which stored types qualify.
_SORT_ATTRIBUTE = {
    "float": ("if(type = 'int', toFloat64(int_value), float_value)", ["float", "int"]),
    "int": ("if(type = 'int', toFloat64(int_value), float_value)", ["float", "int"]),
    "string": ("string_value", ["string"]),
    "bool": ("toUInt8(bool_value)", ["bool"]),
    "datetime": ("toUnixTimestamp64Milli(datetime_value)", ["datetime"]),
    "stringSet": ("arrayStringConcat(arraySort(string_set), ',')", ["stringSet"]),
    "fileRef": ("file_path", ["fileRef"]),
}
_SORT_SERIES = {"last": "last_value", "min": "min_value", "max": "max_value", "average": "mean_value",
                "variance": "if(finite_count > 0, sum_sq_dev / finite_count, nan)"}
SORTABLE_TYPES = frozenset(_SORT_ATTRIBUTE) | {"floatSeries"}
FEW_SEGMENTS = 8  # up to this many series segments are read one query each (in key order, stopping at the limit)
_VALUES = {"float": "p.value AS value", "string": "p.value AS value",
           "histogram": "p.kind AS kind, p.bin_edges AS bin_edges, p.bin_values AS bin_values",
           "file": "p.file_path AS file_path, p.file_size AS file_size, p.file_mime AS file_mime"}


@dataclass(frozen=True)
class NameFilter:
    """Attribute names to keep: any alternative matches (each: all of `must` match, none of `must_not`), and
    the type is one of `types` (empty: any). `exact` names, when given, replace the alternatives."""

    alternatives: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = ()
    types: tuple[str, ...] = ()
    exact: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Sort:
    path: str = "sys/creation_time"
    type: str = "datetime"
    aggregation: str = "last"
    descending: bool = True


@dataclass
class Segment:
    """Points of one request taken from one run of its lineage: lo < step <= hi."""

    request: str
    run_id: str
    path: str
    lo: float = NO_LOW
    hi: float = NO_HIGH
    before: float = NO_HIGH  # descending pages: step < before; ascending: step > after
    after: float = NO_LOW
    preview: bool = True
    limit: int = 0


def _names(nf: NameFilter, params: SqlParams) -> str:
    """SQL true for the `path`/`type` rows the filter keeps."""
    parts: list[str] = []
    if nf.exact is not None:
        parts.append(f"path IN {params.add(list(nf.exact), 'Array(String)')}")
    elif nf.alternatives:
        options = []
        for must, must_not in nf.alternatives:
            tests = [f"match(path, {params.add(r, 'String')})" for r in must]
            tests += [f"NOT match(path, {params.add(r, 'String')})" for r in must_not]
            options.append("(" + (" AND ".join(tests) or "1") + ")")
        parts.append("(" + " OR ".join(options) + ")")
    if nf.types:
        parts.append(f"type IN {params.add(list(nf.types), 'Array(String)')}")
    return " AND ".join(parts) or "1"


class TrackReadStore:
    def __init__(self, db: AnalyticsDB) -> None:
        self._db = db

    # -- runs ---------------------------------------------------------------------------------------------------
    def runs(self, project_id: str, *, run_ids: Sequence[str] = (), short_ids: Sequence[str] = ()
             ) -> list[dict[str, Any]]:
        """The runs with these ids or short ids (run_id, short_id, experiment_name, created_ms, fork parent)."""
        if not run_ids and not short_ids:
            return []
        return self._db.query(
            f"SELECT {_RUN_COLUMNS} FROM track_runs FINAL WHERE project_id = {{project:String}} "
            "AND (run_id IN {ids:Array(String)} OR short_id IN {shorts:Array(String)})",
            tag="track.read.runs", params={"project": project_id, "ids": list(run_ids), "shorts": list(short_ids)})

    def search(self, project_id: str, *, where: str | None, where_params: dict[str, Any], leaders: bool,
               sort: Sort, offset: int, limit: int) -> tuple[int, list[dict[str, Any]]]:
        """(how many runs match, the page of them in order). `where` is compiled NQL over `run_id` whose
        parameters are `where_params` (it binds `{project:String}`); `leaders` keeps each experiment's newest run."""
        params = SqlParams(dict(where_params), prefix="r")
        params.values["project"] = project_id
        conditions = ["project_id = {project:String}"]
        if where:
            conditions.append(where)
        if leaders:
            conditions.append("run_id IN (SELECT argMax(run_id, (created_at, run_id)) FROM track_runs FINAL "
                              "WHERE project_id = {project:String} AND experiment_name != '' "
                              "GROUP BY experiment_name)")
        matching = (f"SELECT {_RUN_COLUMNS}, created_at FROM track_runs FINAL WHERE " + " AND ".join(conditions))
        total = self._db.query(f"SELECT count() AS n FROM ({matching})", tag="track.read.search_count",
                               params=params.values)[0]["n"]
        if offset >= total or limit <= 0:
            return int(total), []
        path = params.add(sort.path, "String")
        if sort.type == "floatSeries":
            value = _SORT_SERIES[sort.aggregation]
            keyed = (f"SELECT run_id, 1 AS has, {value} AS v FROM track_series FINAL WHERE project_id = "
                     f"{{project:String}} AND path = {path} AND type = 'floatSeries'")
        else:
            value, types = _SORT_ATTRIBUTE[sort.type]
            keyed = (f"SELECT run_id, 1 AS has, {value} AS v FROM track_attributes FINAL WHERE project_id = "
                     f"{{project:String}} AND path = {path} AND type IN {params.add(types, 'Array(String)')}")
        direction = "DESC" if sort.descending else "ASC"
        rows = self._db.query(
            f"SELECT r.run_id AS run_id, r.short_id AS short_id, r.experiment_name AS experiment_name, "
            f"r.created_ms AS created_ms, r.fork_parent_run_id AS fork_parent_run_id, r.fork_step AS fork_step "
            f"FROM ({matching}) AS r LEFT JOIN ({keyed}) AS s ON s.run_id = r.run_id "
            f"ORDER BY s.has DESC, s.v {direction}, r.created_at {direction}, r.run_id {direction} "
            f"LIMIT {params.add(limit, 'UInt64')} OFFSET {params.add(offset, 'UInt64')}",
            tag="track.read.search", params=params.values)
        return int(total), rows

    # -- attributes -----------------------------------------------------------------------------------------------
    def attribute_rows(self, project_id: str, run_ids: Sequence[str], names: NameFilter) -> list[dict[str, Any]]:
        """Single-value attributes of these runs that the filter keeps."""
        params = SqlParams({"project": project_id, "runs": list(run_ids)}, prefix="r")
        return self._db.query(
            f"SELECT {_ATTRIBUTE_COLUMNS} FROM track_attributes FINAL WHERE project_id = {{project:String}} "
            f"AND run_id IN {{runs:Array(String)}} AND {_names(names, params)}",
            tag="track.read.attributes", params=params.values)

    def series_rows(self, project_id: str, run_ids: Sequence[str], names: NameFilter) -> list[dict[str, Any]]:
        """Series summaries of these runs that the filter keeps."""
        params = SqlParams({"project": project_id, "runs": list(run_ids)}, prefix="r")
        return self._db.query(
            f"SELECT {_SERIES_COLUMNS} FROM track_series FINAL WHERE project_id = {{project:String}} "
            f"AND run_id IN {{runs:Array(String)}} AND {_names(names, params)}",
            tag="track.read.series", params=params.values)

    def last_values(self, kind: str, project_id: str, run_ids: Sequence[str], paths: Sequence[str]
                    ) -> dict[tuple[str, str], dict[str, Any]]:
        """The last point (highest step) of these string, histogram or file series: (run, path) → row."""
        if not run_ids or not paths:
            return {}
        value = {"string": "value", "histogram": "kind, bin_edges, bin_values",
                 "file": "file_path, file_size, file_mime"}[kind]
        rows = self._db.query(
            f"SELECT run_id, path, step, {value} FROM {POINT_TABLES[kind]} FINAL WHERE project_id = "
            "{project:String} AND run_id IN {runs:Array(String)} AND path IN {paths:Array(String)} "
            "ORDER BY step DESC LIMIT 1 BY run_id, path",
            tag=f"track.read.last_{kind}", params={"project": project_id, "runs": list(run_ids),
                                                   "paths": list(paths)})
        return {(r["run_id"], r["path"]): r for r in rows}

    def definitions(self, project_id: str, run_ids: Sequence[str] | None, names: NameFilter,
                    after: tuple[str, str] | None, limit: int) -> list[tuple[str, str]]:
        """Distinct (path, type) of the project's (or these runs') attributes and series, in order, after `after`."""
        params = SqlParams({"project": project_id}, prefix="r")
        runs = f" AND run_id IN {params.add(list(run_ids), 'Array(String)')}" if run_ids is not None else ""
        conditions = [_names(names, params)]
        if after is not None:
            conditions.append(f"(path, type) > ({params.add(after[0], 'String')}, {params.add(after[1], 'String')})")
        rows = self._db.query(
            "SELECT path, type FROM ("
            f"SELECT path, toString(type) AS type FROM track_attributes FINAL WHERE project_id = {{project:String}}"
            f"{runs} UNION ALL "
            f"SELECT path, toString(type) AS type FROM track_series FINAL WHERE project_id = {{project:String}}"
            f"{runs}) WHERE {' AND '.join(conditions)} GROUP BY path, type ORDER BY path, type "
            f"LIMIT {params.add(limit, 'UInt64')}",
            tag="track.read.definitions", params=params.values)
        return [(r["path"], r["type"]) for r in rows]

    def series_types(self, project_id: str, run_ids: Sequence[str], paths: Sequence[str]
                     ) -> dict[tuple[str, str], str]:
        """(run, path) → series type, for the series of these runs at these paths."""
        if not run_ids or not paths:
            return {}
        rows = self._db.query(
            "SELECT run_id, path, type FROM track_series FINAL WHERE project_id = {project:String} "
            "AND run_id IN {runs:Array(String)} AND path IN {paths:Array(String)}",
            tag="track.read.series_types", params={"project": project_id, "runs": list(run_ids),
                                                   "paths": list(paths)})
        return {(r["run_id"], r["path"]): r["type"] for r in rows}

    # -- points ---------------------------------------------------------------------------------------------------
    def points(self, kind: str, project_id: str, segments: Sequence[Segment], *, step_from: float | None,
               step_to: float | None, descending: bool) -> pa.Table:
        """Points of every segment, as columns `request, step, time_ms, preview, ratio` and the kind's value
        columns, ordered by request then step (descending or not), at most `segment.limit` per request (the
        segments of one request share the limit and come in lineage order: the run's own first)."""
        if not segments:
            return pa.table({})
        if len(segments) > FEW_SEGMENTS:
            return self._many_points(kind, project_id, segments, step_from=step_from, step_to=step_to,
                                     descending=descending)
        # Few series: one query each, which reads in the sort key's order and stops at the limit.
        by_request: dict[str, list[Segment]] = {}
        for segment in segments:
            by_request.setdefault(segment.request, []).append(segment)
        parts = []
        for chain in by_request.values():
            remaining = chain[0].limit
            for segment in (chain if descending else chain[::-1]):
                if remaining <= 0:
                    break
                part = self._segment_points(kind, project_id, segment, remaining, step_from=step_from,
                                            step_to=step_to, descending=descending)
                parts.append(part)
                remaining -= part.num_rows
        return pa.concat_tables(parts)

    def _segment_points(self, kind: str, project_id: str, segment: Segment, limit: int, *,
                        step_from: float | None, step_to: float | None, descending: bool) -> pa.Table:
        params = SqlParams({"project": project_id}, prefix="r")
        conditions = _segment_conditions(segment, params, step_from, step_to)
        return self._db.query_arrow(
            f"SELECT {params.add(segment.request, 'String')} AS request, p.step AS step, "
            f"toUnixTimestamp64Milli(p.time) AS time_ms, p.preview AS preview, p.ratio AS ratio, {_VALUES[kind]} "
            f"FROM {POINT_TABLES[kind]} AS p FINAL WHERE project_id = {{project:String}} AND "
            + " AND ".join(conditions)
            + f" ORDER BY step {'DESC' if descending else 'ASC'} LIMIT {params.add(limit, 'UInt64')}",
            tag=f"track.read.points_{kind}", params=params.values)

    def _many_points(self, kind: str, project_id: str, segments: Sequence[Segment], *, step_from: float | None,
                     step_to: float | None, descending: bool) -> pa.Table:
        """Many series in one query: the segments joined as an array, `limit` per request by a window."""
        params = SqlParams({"project": project_id}, prefix="r")
        join = _segment_join(kind, segments, params)
        bounds = ""
        if step_from is not None:
            bounds += f" AND p.step >= {params.add(step_from, 'Float64')}"
        if step_to is not None:
            bounds += f" AND p.step <= {params.add(step_to, 'Float64')}"
        direction = "DESC" if descending else "ASC"
        return self._db.query_arrow(
            f"SELECT request, step, time_ms, preview, ratio, * EXCEPT (request, step, time_ms, preview, ratio, "
            f"lim, rn) FROM (SELECT seg.request AS request, p.step AS step, toUnixTimestamp64Milli(p.time) AS "
            f"time_ms, p.preview AS preview, p.ratio AS ratio, {_VALUES[kind]}, seg.lim AS lim, row_number() "
            f"OVER (PARTITION BY seg.request ORDER BY p.step {direction}) AS rn "
            f"{join}{bounds}) WHERE rn <= lim ORDER BY request, step {direction}",
            tag=f"track.read.many_points_{kind}", params=params.values)

    def buckets(self, project_id: str, segments: Sequence[Segment], *, x_from: float | None, x_to: float | None,
                buckets: int) -> tuple[float, float, list[dict[str, Any]]]:
        """Float points of the segments in `buckets` buckets over steps [a, b] (given, else the points' own
        range over every segment): bucket 0 is (-inf, a], bucket i is (a + (i-1)w, a + iw] with
        w = (b - a) / (buckets - 1). Per (request, bucket): the first and last finite points, min, max, sum
        and count of finite values, and counts of NaN, +Inf and -Inf. Answers (a, b, rows)."""
        if not segments:
            return 0.0, 0.0, []
        params = SqlParams({"project": project_id}, prefix="r")
        source = _float_source(segments, params, x_from, x_to)
        found = self._db.query(f"SELECT count() AS n, min(step) AS lo, max(step) AS hi FROM {source}",
                               tag="track.read.bucket_range", params=params.values)[0]
        if not found["n"]:
            return x_from or 0.0, x_to or 0.0, []
        a = x_from if x_from is not None else found["lo"]
        b = x_to if x_to is not None else found["hi"]
        width = (b - a) / (buckets - 1) if buckets > 1 and b > a else 0.0
        a_param, w_param = params.add(a, "Float64"), params.add(width, "Float64")
        last = params.add(max(buckets - 1, 0), "UInt64")
        index = (f"if(step <= {a_param} OR {w_param} = 0, 0, "
                 f"least({last}, toUInt64(ceil((step - {a_param}) / {w_param}))))")
        finite = "isFinite(value)"
        rows = self._db.query(
            f"SELECT request, {index} AS bucket, countIf({finite}) AS finite_count, "
            f"minIf(step, {finite}) AS first_x, argMinIf(value, step, {finite}) AS first_y, "
            f"maxIf(step, {finite}) AS last_x, argMaxIf(value, step, {finite}) AS last_y, "
            f"minIf(value, {finite}) AS local_min, maxIf(value, {finite}) AS local_max, "
            f"sumIf(value, {finite}) AS local_sum, countIf(isNaN(value)) AS nan_count, "
            f"countIf(value = inf) AS posinf_count, countIf(value = -inf) AS neginf_count "
            f"FROM {source} GROUP BY request, bucket ORDER BY request, bucket",
            tag="track.read.buckets", params=params.values)
        return a, b, rows


def _segment_conditions(segment: Segment, params: SqlParams, step_from: float | None,
                        step_to: float | None) -> list[str]:
    """WHERE conditions (besides the project) of one segment's points: its run and path, its step bounds and
    page bounds, the step range, previews only when asked."""
    conditions = [f"run_id = {params.add(segment.run_id, 'String')}", f"path = {params.add(segment.path, 'String')}"]
    for op, bound in ((">", segment.lo), ("<=", segment.hi), ("<", segment.before), (">", segment.after),
                      (">=", step_from), ("<=", step_to)):
        if bound is not None and NO_LOW < bound < NO_HIGH:
            conditions.append(f"step {op} {params.add(bound, 'Float64')}")
    if not segment.preview:
        conditions.append("NOT preview")
    return conditions


def _float_source(segments: Sequence[Segment], params: SqlParams, x_from: float | None, x_to: float | None) -> str:
    """A subquery of the segments' float points as (request, step, value): few segments as a UNION ALL of one
    key-range read each, many as one join with the segments."""
    bounds = [("step", ">=", x_from), ("step", "<=", x_to)]
    if len(segments) > FEW_SEGMENTS:
        where = "".join(f" AND p.{c} {op} {params.add(v, 'Float64')}" for c, op, v in bounds if v is not None)
        return (f"(SELECT seg.request AS request, p.step AS step, p.value AS value "
                f"{_segment_join('float', segments, params)}{where})")
    parts = []
    for segment in segments:
        conditions = _segment_conditions(segment, params, x_from, x_to)
        parts.append(f"SELECT {params.add(segment.request, 'String')} AS request, step, value FROM "
                     f"track_float_points FINAL WHERE project_id = {{project:String}} AND " + " AND ".join(conditions))
    return "(" + " UNION ALL ".join(parts) + ")"


def _segment_join(kind: str, segments: Sequence[Segment], params: SqlParams) -> str:
    """`FROM <points> AS p FINAL INNER JOIN <segments> AS seg … WHERE …`: the points of every segment
    (its run and path, lo < step <= hi, the page bounds, previews only when asked)."""
    columns = ", ".join(params.add(values, sql_type) for values, sql_type in (
        ([s.request for s in segments], "Array(String)"), ([s.run_id for s in segments], "Array(String)"),
        ([s.path for s in segments], "Array(String)"), ([s.lo for s in segments], "Array(Float64)"),
        ([s.hi for s in segments], "Array(Float64)"), ([s.before for s in segments], "Array(Float64)"),
        ([s.after for s in segments], "Array(Float64)"), ([int(s.preview) for s in segments], "Array(UInt8)"),
        ([s.limit for s in segments], "Array(UInt64)")))
    names = ("request", "run_id", "path", "lo", "hi", "before", "after", "with_preview", "lim")
    unpacked = ", ".join(f"t.{i + 1} AS {name}" for i, name in enumerate(names))
    runs = params.add(sorted({s.run_id for s in segments}), "Array(String)")
    paths = params.add(sorted({s.path for s in segments}), "Array(String)")
    return (f"FROM {POINT_TABLES[kind]} AS p FINAL INNER JOIN (SELECT {unpacked} FROM (SELECT arrayJoin("
            f"arrayZip({columns})) AS t)) AS seg ON p.run_id = seg.run_id AND p.path = seg.path "
            f"WHERE p.project_id = {{project:String}} AND p.run_id IN {runs} AND p.path IN {paths} "
            f"AND p.step > seg.lo AND p.step <= seg.hi AND p.step < seg.before AND p.step > seg.after "
            f"AND (NOT p.preview OR seg.with_preview = 1)")
