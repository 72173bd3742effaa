"""Track's tables: runs, attributes, series points and per-series summaries (migration 0005).

Writes take Arrow tables whose columns are the tables' columns. Reads take the newest row per key (the tables
are ReplacingMergeTrees: see the migration), so they are right whether or not a merge has run.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import pyarrow as pa

from neon_server.domain.track import SeriesSummary
from neon_server.storage.analytics.executor import AnalyticsDB
from neon_server.storage.analytics.track_query import compile_filter
from neon_server.track.nql import Node

POINT_TABLES: dict[str, str] = {"float": "track_float_points", "string": "track_string_points",
                "histogram": "track_histogram_points", "file": "track_file_points"}
_VALUE_COLUMNS = {"float": "value", "string": "value", "histogram": "kind, bin_edges, bin_values",
                  "file": "file_path, file_size, file_mime"}
POINT_TABLE_NAMES = frozenset(POINT_TABLES.values())
_SERIES_COLUMNS = ("type, count, finite_count, nan_count, posinf_count, neginf_count, first_step, last_step, "
                   "last_value, min_value, max_value, mean_value, sum_sq_dev, toFloat64(last_time) * 1000 AS last_ms, "
                   "toFloat64(first_time) * 1000 AS first_ms, rewritten")


def _summary(row: dict[str, Any]) -> SeriesSummary:
    return SeriesSummary(type=row["type"], count=row["count"], finite_count=row["finite_count"],
                         nan_count=row["nan_count"], posinf_count=row["posinf_count"],
                         neginf_count=row["neginf_count"], first_step=row["first_step"], last_step=row["last_step"],
                         last_value=row["last_value"], min_value=row["min_value"], max_value=row["max_value"],
                         mean_value=row["mean_value"], sum_sq_dev=row["sum_sq_dev"], last_time_ms=row["last_ms"],
                         first_time_ms=row["first_ms"], rewritten=bool(row["rewritten"]))


class TrackStore:
    def __init__(self, db: AnalyticsDB) -> None:
        self._db = db

    # -- writes -----------------------------------------------------------------------------------------------
    def insert(self, table: str, rows: pa.Table) -> None:
        """Insert into one of track's tables (`track_runs`, `track_attributes`, `track_series` or a point table).

        Point tables skip the replacing merge at insert (`optimize_on_insert = 0`: 40% less insert CPU). Two
        points of one series at one step in one insert stay two rows until a merge. That is safe, because every
        read of points uses FINAL, or the summary's `rewritten` flag, which such a batch always sets (its
        summary is recomputed)."""
        if rows.num_rows:
            settings = {"optimize_on_insert": 0} if table in POINT_TABLE_NAMES else None
            self._db.insert_arrow(table, rows, tag=f"track.write.{table.removeprefix('track_')}", settings=settings)

    # -- what the writer reads back -------------------------------------------------------------------------------
    def summaries(self, project_id: str, run_id: str, paths: Iterable[str]) -> dict[str, SeriesSummary]:
        """The stored summaries of these series of one run (absent paths are new series)."""
        wanted = sorted(set(paths))
        if not wanted:
            return {}
        rows = self._db.query(
            f"SELECT path, {_SERIES_COLUMNS} FROM track_series FINAL "
            "WHERE project_id = {project:String} AND run_id = {run:String} AND path IN {paths:Array(String)}",
            tag="track.summaries", params={"project": project_id, "run": run_id, "paths": wanted})
        return {r["path"]: _summary(r) for r in rows}

    def recompute_float(self, project_id: str, run_id: str, paths: Iterable[str]) -> dict[str, SeriesSummary]:
        """Float series summaries computed from their points (after a step was logged again)."""
        wanted = sorted(set(paths))
        rows = self._db.query(
            "SELECT path, 'floatSeries' AS type, count() AS count, countIf(isFinite(value)) AS finite_count, "
            "countIf(isNaN(value)) AS nan_count, countIf(value = inf) AS posinf_count, "
            "countIf(value = -inf) AS neginf_count, min(step) AS first_step, max(step) AS last_step, "
            "argMax(value, step) AS last_value, "
            "if(finite_count > 0, minIf(value, isFinite(value)), nan) AS min_value, "
            "if(finite_count > 0, maxIf(value, isFinite(value)), nan) AS max_value, "
            "if(finite_count > 0, avgIf(value, isFinite(value)), nan) AS mean_value, "
            "if(finite_count > 0, varPopIf(value, isFinite(value)) * finite_count, 0) AS sum_sq_dev, "
            "toFloat64(max(time)) * 1000 AS last_ms, toFloat64(min(time)) * 1000 AS first_ms, true AS rewritten "
            "FROM track_float_points FINAL "
            "WHERE project_id = {project:String} AND run_id = {run:String} AND path IN {paths:Array(String)} "
            "GROUP BY path",
            tag="track.recompute_float", params={"project": project_id, "run": run_id, "paths": wanted})
        return {r["path"]: _summary(r) for r in rows}

    def recompute_counts(self, kind: str, series_type: str, project_id: str, run_id: str,
                         paths: Iterable[str]) -> dict[str, SeriesSummary]:
        """Point counts and step range of string, histogram or file series, from their points."""
        table = POINT_TABLES[kind]
        wanted = sorted(set(paths))
        rows = self._db.query(
            f"SELECT path, count() AS count, min(step) AS first_step, max(step) AS last_step, "
            f"toFloat64(max(time)) * 1000 AS last_ms, toFloat64(min(time)) * 1000 AS first_ms FROM {table} FINAL "
            "WHERE project_id = {project:String} AND run_id = {run:String} AND path IN {paths:Array(String)} "
            "GROUP BY path",
            tag="track.recompute_counts", params={"project": project_id, "run": run_id, "paths": wanted})
        return {r["path"]: SeriesSummary(type=series_type, count=r["count"], first_step=r["first_step"],
                                         last_step=r["last_step"], last_time_ms=r["last_ms"],
                                         first_time_ms=r["first_ms"], rewritten=True) for r in rows}

    def string_sets(self, project_id: str, run_id: str, paths: Iterable[str]) -> dict[str, list[str]]:
        """The current values of these string-set attributes of one run."""
        wanted = sorted(set(paths))
        if not wanted:
            return {}
        rows = self._db.query(
            "SELECT path, string_set FROM track_attributes FINAL WHERE project_id = {project:String} "
            "AND run_id = {run:String} AND path IN {paths:Array(String)} AND type = 'stringSet'",
            tag="track.string_sets", params={"project": project_id, "run": run_id, "paths": wanted})
        return {r["path"]: list(r["string_set"]) for r in rows}

    def has_run(self, project_id: str, run_id: str) -> bool:
        rows = self._db.query("SELECT count() AS n FROM track_runs WHERE project_id = {project:String} "
                              "AND run_id = {run:String}", tag="track.has_run",
                              params={"project": project_id, "run": run_id})
        return bool(rows[0]["n"])

    def matching_runs(self, project_id: str, query: Node) -> set[str]:
        """The ids of the project's runs an NQL query matches (NQLError for a value that does not fit)."""
        where, params = compile_filter(query)
        rows = self._db.query(f"SELECT run_id FROM track_runs FINAL WHERE project_id = {{project:String}} AND {where}",
                              tag="track.nql", params={**params, "project": project_id})
        return {r["run_id"] for r in rows}

    # -- reads ------------------------------------------------------------------------------------------------
    def attributes(self, project_id: str, run_id: str) -> list[dict[str, Any]]:
        """A run's attributes, one row each (every type column; `type` says which holds the value)."""
        return self._db.query(
            "SELECT path, type, float_value, int_value, bool_value, string_value, "
            "toUnixTimestamp64Milli(datetime_value) AS datetime_ms, string_set, file_path, file_size, file_mime "
            "FROM track_attributes FINAL WHERE project_id = {project:String} AND run_id = {run:String} "
            "ORDER BY path", tag="track.attributes", params={"project": project_id, "run": run_id})

    def series(self, project_id: str, run_id: str) -> dict[str, SeriesSummary]:
        """Every series of a run with its summary."""
        rows = self._db.query(
            f"SELECT path, {_SERIES_COLUMNS} FROM track_series FINAL "
            "WHERE project_id = {project:String} AND run_id = {run:String} ORDER BY path",
            tag="track.series", params={"project": project_id, "run": run_id})
        return {r["path"]: _summary(r) for r in rows}

    def run_points(self, kind: str, project_id: str, run_id: str, paths: Iterable[str]) -> pa.Table:
        """Several series of one kind of a run in one read, by path then step: path, step, time (epoch ms),
        preview, ratio and the kind's value columns (what an export streams)."""
        return self._db.query_arrow(
            f"SELECT path, step, toUnixTimestamp64Milli(time) AS time_ms, {_VALUE_COLUMNS[kind]}, preview, ratio "
            f"FROM {POINT_TABLES[kind]} FINAL WHERE project_id = {{project:String}} AND run_id = {{run:String}} "
            "AND path IN {paths:Array(String)} ORDER BY path, step",
            tag=f"track.run_points.{kind}", params={"project": project_id, "run": run_id, "paths": sorted(paths)})

    def holds_file(self, project_id: str, run_ids: Sequence[str], key: str) -> bool:
        """Whether one of the runs refers to the file `key`, as a file attribute or in a file series."""
        params = {"project": project_id, "runs": list(run_ids), "key": key}
        where = "project_id = {project:String} AND run_id IN {runs:Array(String)} AND file_path = {key:String}"
        rows = self._db.query(
            f"SELECT (SELECT count() FROM (SELECT 1 FROM track_attributes WHERE {where} LIMIT 1)) "
            f"+ (SELECT count() FROM (SELECT 1 FROM track_file_points WHERE {where} LIMIT 1)) AS found",
            tag="track.holds_file", params=params)
        return bool(rows[0]["found"])

    def points(self, kind: str, project_id: str, run_id: str, path: str) -> pa.Table:
        """A series' points in step order: step, time (epoch ms), preview, ratio and the kind's value columns."""
        value = _VALUE_COLUMNS[kind]
        return self._db.query_arrow(
            f"SELECT step, toUnixTimestamp64Milli(time) AS time_ms, {value}, preview, ratio "
            f"FROM {POINT_TABLES[kind]} FINAL WHERE project_id = {{project:String}} AND run_id = {{run:String}} "
            "AND path = {path:String} ORDER BY step",
            tag=f"track.points.{kind}", params={"project": project_id, "run": run_id, "path": path})
