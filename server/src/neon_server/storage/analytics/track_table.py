"""The runs table over Track's tables: filter, sort and page the runs of a project by any attribute or series
aggregate, pivot the page's columns, group runs by attribute values, and search attribute names.

Shape of a page: the filter and the sort read only the sort columns (from the by-path copies of the attribute and
series tables, one key range per column), keyset-paged (no OFFSET); the other columns are read for the page's
runs only (one key range per run). Every value from a request is a bound parameter.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from neon_server.domain.track_table import Column, GroupKey, GroupStats, SortKey, SortPosition
from neon_server.storage.analytics.executor import AnalyticsDB, SqlParams

_NUMBER = "if(type = 'int', toFloat64(int_value), float_value)"
# (value expression, stored types that qualify) of an attribute column, by the column's type
_ATTRIBUTE_VALUE: dict[str, tuple[str, list[str]]] = {
    "float": (_NUMBER, ["float", "int"]),
    "int": (_NUMBER, ["float", "int"]),
    "bool": ("toFloat64(bool_value)", ["bool"]),
    "datetime": ("toFloat64(toUnixTimestamp64Milli(datetime_value))", ["datetime"]),
    "string": ("string_value", ["string"]),
    "stringSet": ("arrayStringConcat(arraySort(string_set), ',')", ["stringSet"]),
    "fileRef": ("file_path", ["fileRef"]),
}
_SERIES_VALUE = {"last": "last_value", "min": "min_value", "max": "max_value", "average": "mean_value",
                 "variance": "if(finite_count > 0, sum_sq_dev / finite_count, nan)", "count": "toFloat64(count)",
                 "last_step": "last_step"}
# An attribute's value as text, for group keys (the stored type travels beside it)
_KEY_TEXT = ("multiIf(type = 'string', string_value, type = 'float', toString(float_value), type = 'int', "
             "toString(int_value), type = 'bool', if(bool_value, 'true', 'false'), type = 'datetime', "
             "toString(toUnixTimestamp64Milli(datetime_value)), type = 'stringSet', "
             "toJSONString(arraySort(string_set)), file_path)")
_KEY_NUMERIC = "('float', 'int', 'datetime', 'bool')"
_ATTRIBUTE_VALUES = (("type", "toString(type)"), ("float_value", "float_value"), ("int_value", "int_value"),
                     ("bool_value", "bool_value"), ("string_value", "string_value"),
                     ("datetime_ms", "toUnixTimestamp64Milli(datetime_value)"), ("string_set", "string_set"),
                     ("file_path", "file_path"), ("file_size", "file_size"), ("file_mime", "file_mime"))
_SUMMARY_VALUES = (("type", "toString(type)"), ("count", "count"), ("last_step", "last_step"),
                   ("last_value", "last_value"), ("min_value", "min_value"), ("max_value", "max_value"),
                   ("mean_value", "mean_value"),
                   ("variance", "if(finite_count > 0, sum_sq_dev / finite_count, nan)"))


def _newest(table: str, values: Sequence[tuple[str, str]]) -> str:
    """The newest row (highest version) per run and path of these runs and paths, as `run_id, path, <values>`.
    argMax over the key reads what FINAL reads, in half the time for a few rows spread over a table."""
    unpacked = ", ".join(f"t.{i + 1} AS {name}" for i, (name, _) in enumerate(values))
    return (f"SELECT run_id, path, {unpacked} FROM (SELECT run_id, path, argMax(tuple("
            f"{', '.join(expr for _, expr in values)}), version) AS t FROM {table} "
            "WHERE project_id = {project:String} AND run_id IN {runs:Array(String)} "
            "AND path IN {paths:Array(String)} GROUP BY run_id, path)")


def column_source(column: Column, params: SqlParams, alias: str, *, nullable: bool = False) -> str:
    """(run id AS `alias`, value AS v) of every run of the project that has the column; `nullable`: the value
    as Nullable, so that a run without it joins as NULL."""
    path = params.add(column.path, "String")
    if column.is_series:
        value = _SERIES_VALUE[column.aggregate or "count"]
        value = f"toNullable({value})" if nullable else value
        return (f"SELECT run_id AS {alias}, {value} AS v FROM track_series_by_path FINAL "
                f"WHERE project_id = {{project:String}} AND path = {path} "
                f"AND type = {params.add(column.type, 'String')}")
    value, types = _ATTRIBUTE_VALUE[column.type or "string"]
    value = f"toNullable({value})" if nullable else value
    return (f"SELECT run_id AS {alias}, {value} AS v FROM track_attributes_by_path FINAL "
            f"WHERE project_id = {{project:String}} AND path = {path} AND type IN {params.add(types, 'Array(String)')}")


def runs_condition(run_ids: Sequence[str], params: SqlParams) -> str:
    """SQL over `run_id`: true for these runs only."""
    return f"run_id IN {params.add(list(run_ids), 'Array(String)')}"


def group_condition(paths: Sequence[str], key: GroupKey, params: SqlParams) -> str:
    """SQL over `run_id`: true for the runs in the group with this key."""
    parts = []
    for path, part in zip(paths, key.parts, strict=True):
        p = params.add(path, "String")
        if part is None:
            parts.append(f"run_id NOT IN (SELECT run_id FROM track_attributes_by_path FINAL "
                         f"WHERE project_id = {{project:String}} AND path = {p})")
        else:
            parts.append(f"run_id IN (SELECT run_id FROM track_attributes_by_path FINAL WHERE project_id = "
                         f"{{project:String}} AND path = {p} AND type = {params.add(part[0], 'String')} "
                         f"AND {_KEY_TEXT} = {params.add(part[1], 'String')})")
    return " AND ".join(parts) or "1"


@dataclass
class Page:
    positions: list[SortPosition]
    short_ids: dict[str, str]
    total: int | None


class TrackTableStore:
    def __init__(self, db: AnalyticsDB) -> None:
        self._db = db

    def _matching(self, where: Sequence[str], columns: str = "run_id") -> str:
        return (f"SELECT {columns} FROM track_runs FINAL WHERE project_id = {{project:String}}"
                + "".join(f" AND {w}" for w in where))

    def count(self, params: SqlParams, where: Sequence[str]) -> int:
        """How many runs match (`params` holds `project` and the conditions' parameters)."""
        rows = self._db.query(f"SELECT count() AS n FROM ({self._matching(where)})", tag="track.table.count",
                              params=params.values)
        return int(rows[0]["n"])

    def page(self, params: SqlParams, where: Sequence[str], sort: Sequence[SortKey], after: SortPosition | None,
             limit: int) -> Page:
        """The matching runs in sort order (per key: values, then NaN, then missing; ties by run id), after
        `after`, at most `limit`; with their short ids, and how many runs match (counted in the same query, so
        unknown when the page is empty)."""
        joins, keys, order = [], [], []
        for i, key in enumerate(sort):
            joins.append(f"LEFT JOIN ({column_source(key.column, params, f'rid{i}')}) AS k{i} "
                         f"ON k{i}.rid{i} = r.run_id")
            if key.text:
                keys.append(f"if(k{i}.rid{i} = '', 2, 0) AS n{i}, if(n{i} = 0, k{i}.v, '') AS v{i}")
            else:
                keys.append(f"if(k{i}.rid{i} = '', 2, if(isNaN(k{i}.v), 1, 0)) AS n{i}, "
                            f"if(n{i} = 0, k{i}.v, 0) AS v{i}")
            order += [f"n{i} ASC", f"v{i} {'DESC' if key.descending else 'ASC'}"]
        selected = "".join(f", {k}" for k in keys)
        outer = ", ".join(f"n{i}, v{i}" for i in range(len(sort)))
        sql = (f"SELECT run_id, short_id, total{', ' + outer if outer else ''} FROM (SELECT r.run_id AS run_id, "
               f"r.short_id AS short_id, count() OVER () AS total{selected} "
               f"FROM ({self._matching(where, 'run_id, short_id')}) AS r {' '.join(joins)})"
               f"{' WHERE ' + _after(sort, after, params) if after else ''} "
               f"ORDER BY {', '.join([*order, 'run_id ASC'])} LIMIT {params.add(limit, 'UInt64')}")
        rows = self._db.query(sql, tag="track.table.page", params=params.values)
        return Page([SortPosition(tuple((int(r[f"n{i}"]), r[f"v{i}"]) for i in range(len(sort))), r["run_id"])
                     for r in rows], {r["run_id"]: r["short_id"] for r in rows},
                    int(rows[0]["total"]) if rows else None)

    def attribute_values(self, project_id: str, run_ids: Sequence[str], paths: Sequence[str]
                         ) -> list[dict[str, Any]]:
        """The attributes at these paths of these runs (every type column; `type` says which holds the value)."""
        if not run_ids or not paths:
            return []
        return self._db.query(_newest("track_attributes_by_path", _ATTRIBUTE_VALUES), tag="track.table.attributes",
                              params={"project": project_id, "runs": list(run_ids), "paths": sorted(set(paths))})

    def series_values(self, project_id: str, run_ids: Sequence[str], paths: Sequence[str]) -> list[dict[str, Any]]:
        """The summaries of the series at these paths of these runs."""
        if not run_ids or not paths:
            return []
        return self._db.query(_newest("track_series_by_path", _SUMMARY_VALUES), tag="track.table.series",
                              params={"project": project_id, "runs": list(run_ids), "paths": sorted(set(paths))})

    def path_types(self, project_id: str, paths: Sequence[str]) -> dict[str, list[str]]:
        """path → the types stored at it in the project."""
        rows = self._db.query(
            "SELECT path, groupUniqArray(toString(type)) AS types FROM track_paths WHERE project_id = "
            "{project:String} AND path IN {paths:Array(String)} GROUP BY path",
            tag="track.table.path_types", params={"project": project_id, "paths": sorted(set(paths))})
        return {r["path"]: list(r["types"]) for r in rows}

    def groups(self, params: SqlParams, where: Sequence[str], by: Sequence[str], columns: Sequence[Column], *,
               after: GroupKey | None, limit: int) -> list[GroupStats]:
        """Groups of the matching runs by the values of the `by` attributes (missing is a group of its own),
        ordered by key, after `after`, at most `limit`; per numeric column: count of runs with a finite value,
        mean, sample std, min, max."""
        keys = []
        for i, path in enumerate(by):
            p = params.add(path, "String")
            keys.append(f"anyIf(toString(type), path = {p}) AS t{i}, anyIf({_KEY_TEXT}, path = {p}) AS s{i}")
        by_paths = params.add(list(by), "Array(String)")
        joins = [f"LEFT JOIN (SELECT run_id AS gid, {', '.join(keys)} FROM track_attributes_by_path FINAL "
                 f"WHERE project_id = {{project:String}} AND path IN {by_paths} GROUP BY run_id) AS g "
                 "ON g.gid = r.run_id"]
        values = []
        for j, column in enumerate(columns):
            joins.append(f"LEFT JOIN ({column_source(column, params, f'cid{j}', nullable=True)}) AS c{j} "
                         f"ON c{j}.cid{j} = r.run_id")
            values.append(f"c{j}.v AS x{j}")
        inner = (f"SELECT r.run_id AS run_id, {', '.join(f'g.t{i} AS t{i}, g.s{i} AS s{i}' for i in range(len(by)))}"
                 f"{''.join(', ' + v for v in values)} FROM ({self._matching(where)}) AS r {' '.join(joins)}")
        aggregates = []
        for j in range(len(columns)):
            finite = f"isNotNull(x{j}) AND isFinite(assumeNotNull(x{j}))"
            aggregates.append(f"countIf({finite}) AS n{j}, avgIf(assumeNotNull(x{j}), {finite}) AS mean{j}, "
                              f"stddevSampIf(assumeNotNull(x{j}), {finite}) AS std{j}, "
                              f"minIf(assumeNotNull(x{j}), {finite}) AS min{j}, "
                              f"maxIf(assumeNotNull(x{j}), {finite}) AS max{j}")
        order_keys = []
        for i in range(len(by)):
            number = f"if(t{i} IN {_KEY_NUMERIC}, if(t{i} = 'bool', toFloat64(s{i} = 'true'), " \
                     f"toFloat64OrZero(s{i})), 0)"
            order_keys += [f"t{i} = ''", f"t{i}", f"isNaN({number})", f"if(isNaN({number}), 0, {number})", f"s{i}"]
        position = "tuple(" + ", ".join(order_keys) + ")"
        grouped = (f"SELECT {', '.join(f't{i}, s{i}' for i in range(len(by)))}, count() AS runs"
                   f"{''.join(', ' + a for a in aggregates)}, {position} AS position FROM ({inner}) "
                   f"GROUP BY {', '.join(f't{i}, s{i}' for i in range(len(by)))}")
        condition = ""
        if after is not None:
            cursor = []
            for part in after.parts:
                kind, text = part if part is not None else ("", "")
                key_number = _key_number(kind, text)
                cursor += [params.add(int(part is None), "UInt8"), params.add(kind, "String"),
                           params.add(int(math.isnan(key_number)), "UInt8"),
                           params.add(0.0 if math.isnan(key_number) else key_number, "Float64"),
                           params.add(text, "String")]
            condition = f" WHERE position > tuple({', '.join(cursor)})"
        rows = self._db.query(f"SELECT * FROM ({grouped}){condition} ORDER BY position "
                              f"LIMIT {params.add(limit, 'UInt64')}", tag="track.table.groups",
                              params=params.values)
        return [GroupStats(GroupKey(tuple((r[f"t{i}"], r[f"s{i}"]) if r[f"t{i}"] else None for i in range(len(by)))),
                           int(r["runs"]),
                           {j: _stats(r, j) for j in range(len(columns))})
                for r in rows]

    # -- attribute names --------------------------------------------------------------------------------------
    def check_regex(self, regex: str) -> None:
        """Raises AnalyticsError when the engine (RE2) refuses the regular expression."""
        self._db.query("SELECT match('', {r:String}) AS ok", tag="track.table.regex", params={"r": regex})

    def run_paths(self, project_id: str, run_ids: Sequence[str], regex: str, types: Sequence[str], *,
                  after: str | None, limit: int) -> list[tuple[str, int, list[tuple[str, int]]]]:
        """As `paths`, over these runs only, counted exactly: read from the run-ordered tables (one read of the
        runs' rows), not the project-wide catalogue."""
        params = SqlParams({"project": project_id}, prefix="a")
        runs = params.add(list(run_ids), "Array(String)")
        conditions = _name_conditions(params, regex, types, after)
        where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        held = " UNION ALL ".join(
            f"SELECT DISTINCT run_id, path, toString(type) AS type FROM {table} FINAL "
            f"WHERE project_id = {{project:String}} AND run_id IN {runs}"
            for table in ("track_attributes", "track_series"))
        rows = self._db.query(
            f"SELECT path, type, groupUniqArray(run_id) AS runs FROM ({held}){where} GROUP BY path, type "
            "ORDER BY path, type", tag="track.table.run_paths", params=params.values)
        found: dict[str, tuple[set[str], list[tuple[str, int]]]] = {}
        for r in rows:
            if r["path"] not in found:
                if len(found) == limit:
                    break
                found[r["path"]] = (set(), [])
            holders, kinds = found[r["path"]]
            holders.update(r["runs"])
            kinds.append((r["type"], len(r["runs"])))
        return [(path, len(holders), kinds) for path, (holders, kinds) in found.items()]

    def paths(self, project_id: str, regex: str, types: Sequence[str], after: str | None, limit: int
              ) -> list[tuple[str, int, list[tuple[str, int]]]]:
        """(path, runs having it, [(type, runs)]) of the project's attribute and series names matching the
        regular expression (and of one of `types`, when given), by path, after `after`, at most `limit`."""
        params = SqlParams({"project": project_id}, prefix="a")
        where = " AND ".join(["project_id = {project:String}", *_name_conditions(params, regex, types, after)])
        found = [r["path"] for r in self._db.query(
            f"SELECT DISTINCT path FROM track_paths WHERE {where} ORDER BY path LIMIT {params.add(limit, 'UInt64')}",
            tag="track.table.paths", params=params.values)]
        if not found:
            return []
        counts = SqlParams({"project": project_id, "paths": found}, prefix="a")
        typed = f" AND type IN {counts.add(list(types), 'Array(String)')}" if types else ""
        rows = self._db.query(
            "SELECT path, toString(type) AS type, uniqCombinedMerge(15)(runs) AS runs FROM track_paths "
            f"WHERE project_id = {{project:String}} AND path IN {{paths:Array(String)}}{typed} "
            "GROUP BY path, type ORDER BY path, type", tag="track.table.path_counts", params=counts.values)
        kinds: dict[str, list[tuple[str, int]]] = {p: [] for p in found}
        for r in rows:
            kinds[r["path"]].append((r["type"], int(r["runs"])))
        # a path stored with several types (rare): its runs are the union, counted apart
        mixed = [p for p, k in kinds.items() if len(k) > 1]
        union: dict[str, int] = {}
        if mixed:
            counts.values["paths"] = mixed
            union = {r["path"]: int(r["runs"]) for r in self._db.query(
                "SELECT path, uniqCombinedMerge(15)(runs) AS runs FROM track_paths WHERE project_id = {project:String} "
                f"AND path IN {{paths:Array(String)}}{typed} GROUP BY path", tag="track.table.path_union",
                params=counts.values)}
        return [(p, union.get(p, k[0][1] if k else 0), k) for p, k in kinds.items()]


def _name_conditions(params: SqlParams, regex: str, types: Sequence[str], after: str | None) -> list[str]:
    """The conditions of an attribute-name search on `path` and `type`: the regex, the types, after the cursor."""
    conditions = []
    if regex:
        conditions.append(f"match(path, {params.add(regex, 'String')})")
    if types:
        conditions.append(f"type IN {params.add(list(types), 'Array(String)')}")
    if after is not None:
        conditions.append(f"path > {params.add(after, 'String')}")
    return conditions


def _key_number(kind: str, text: str) -> float:
    if kind == "bool":
        return 1.0 if text == "true" else 0.0
    if kind in ("float", "int", "datetime"):
        try:
            value = float(text)
        except ValueError:
            return 0.0
        return value
    return 0.0


def _stats(row: dict[str, Any], j: int) -> tuple[int, float | None, float | None, float | None, float | None]:
    n = int(row[f"n{j}"])
    if not n:
        return 0, None, None, None, None
    return n, _finite(row[f"mean{j}"]), _finite(row[f"std{j}"]) if n > 1 else None, _finite(row[f"min{j}"]), \
        _finite(row[f"max{j}"])


def _finite(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _after(sort: Sequence[SortKey], after: SortPosition, params: SqlParams) -> str:
    """Rows strictly after the position in the order (keyset): the first key that differs decides."""
    options = []
    equal: list[str] = []
    for i, key in enumerate(sort):
        rank, value = after.keys[i]
        n = params.add(rank, "UInt8")
        v = params.add(value, "String" if key.text else "Float64")
        beyond = ">" if not key.descending else "<"
        options.append("(" + " AND ".join([*equal, f"(n{i} > {n} OR (n{i} = {n} AND v{i} {beyond} {v}))"]) + ")")
        equal += [f"n{i} = {n}", f"v{i} = {v}"]
    options.append("(" + " AND ".join([*equal, f"run_id > {params.add(after.run_id, 'String')}"]) + ")")
    return "(" + " OR ".join(options) + ")"
