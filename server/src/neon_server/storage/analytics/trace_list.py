"""The trace list: filters compiled into parameterised SQL over the `traces` rollup, keyset pagination.

Every value reaches SQL as a bound parameter; column names and sort keys come from fixed tables below, never
from the request. Spans of one trace arrive in several batches and the rollup holds one partial row per
batch until parts merge, so the query groups by trace first and filters the aggregated values (HAVING).
Rows are pre-selected by time with a slack of one day (`TRACE_SLACK_SECONDS`): a trace longer than that
which straddles the window's start may show incomplete totals.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from neon_server.storage.analytics.executor import AnalyticsDB

TRACE_SLACK_SECONDS = 86_400
# Sorted by time, the list aggregates only traces near the page's edge, widening up to this many rollup rows
# before it aggregates the whole window (see TraceListStore._newest_first).
CANDIDATE_CAP = 250_000
STATUS_CODES = {"unset": 0, "ok": 1, "error": 2}
STATUS_NAMES = {v: k for k, v in STATUS_CODES.items()}
Rows = list[dict[str, Any]]

AGGREGATES = {
    "start_time": "min(start_time)", "end_time": "max(end_time)", "name": "max(name)",
    "root_span_id": "max(root_span_id)", "service": "max(service)", "status": "max(status)",
    "span_count": "sum(span_count)", "error_count": "sum(error_count)", "llm_call_count": "sum(llm_call_count)",
    "tool_call_count": "sum(tool_call_count)", "input_tokens": "sum(input_tokens)",
    "output_tokens": "sum(output_tokens)", "total_tokens": "sum(total_tokens)", "cost": "sum(cost)",
    "priced_span_count": "sum(priced_span_count)", "unpriced_llm_calls": "sum(unpriced_llm_calls)",
    "session_id": "max(session_id)", "user_id": "max(user_id)",
    "agent_id": "max(agent_id)", "agent_version": "max(agent_version)", "environment": "max(environment)",
    "tags": "groupUniqArrayArray(tags)", "models": "groupUniqArrayArray(models)",
    "tool_names": "groupUniqArrayArray(tool_names)",
}
AGGREGATES["duration_ns"] = "toInt64(dateDiff('nanosecond', min(start_time), max(end_time)))"
# The aggregated columns are named agg_* inside the query: a plain alias like `min(start_time) AS start_time`
# would shadow the column in WHERE.
SORT_KEYS = {"time": "agg_start_time", "duration": "agg_duration_ns", "cost": "agg_cost",
             "tokens": "agg_total_tokens"}
SORT_TYPES = {"time": "DateTime64(9, 'UTC')", "duration": "Int64", "cost": "Float64", "tokens": "UInt64"}
EXACT_FIELDS = ("name", "service", "session_id", "user_id", "agent_id", "agent_version", "environment")


@dataclass
class TraceFilter:
    start: datetime
    end: datetime
    status: str | None = None
    name_contains: str | None = None
    exact: dict[str, str] = field(default_factory=dict)  # keys from EXACT_FIELDS
    model: str | None = None
    tool: str | None = None
    tags: list[str] = field(default_factory=list)
    attributes: dict[str, str] = field(default_factory=dict)
    min_duration_ms: float | None = None
    min_tokens: int | None = None
    max_tokens: int | None = None
    min_cost: float | None = None
    max_cost: float | None = None
    score_name: str | None = None
    score_min: float | None = None
    score_max: float | None = None
    search: str | None = None


RANGES = (("min_tokens", "total_tokens", ">=", "UInt64"), ("max_tokens", "total_tokens", "<=", "UInt64"),
          ("min_cost", "cost", ">=", "Float64"), ("max_cost", "cost", "<=", "Float64"))


def range_conditions(flt: Any, column_prefix: str, params: dict[str, Any]) -> list[str]:
    """Token and cost bounds of a trace or span filter, as conditions on `{prefix}total_tokens` / `cost`."""
    conditions = []
    for bound, column, op, kind in RANGES:
        value = getattr(flt, bound)
        if value is not None:
            conditions.append(f"{column_prefix}{column} {op} {{{bound}:{kind}}}")
            params[bound] = value
    return conditions


@dataclass
class Page:
    sort: str = "time"
    descending: bool = True
    limit: int = 50
    after_value: Any = None  # keyset cursor: the last row's sort value and trace id
    after_id: str | None = None


class TraceListStore:
    def __init__(self, db: AnalyticsDB) -> None:
        self._db = db

    def list(self, project_id: str, flt: TraceFilter, page: Page) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"p": project_id, "start": _ts(flt.start), "end": _ts(flt.end),
                                  "slack": TRACE_SLACK_SECONDS, "limit": page.limit}
        having = ["agg_start_time >= {start:DateTime64(9, 'UTC')}", "agg_start_time < {end:DateTime64(9, 'UTC')}"]
        where = ["project_id = {p:String}",
                 "start_time >= {start:DateTime64(9, 'UTC')} - toIntervalSecond({slack:UInt32})",
                 "start_time < {end:DateTime64(9, 'UTC')} + toIntervalSecond({slack:UInt32})"]
        _compile_filters(flt, where, having, params)
        sort = SORT_KEYS[page.sort]
        direction = "DESC" if page.descending else "ASC"
        if page.after_id is not None:
            op = "<" if page.descending else ">"
            having.append(f"({sort}, trace_id) {op} ({{after_value:{SORT_TYPES[page.sort]}}}, {{after_id:String}})")
            params["after_value"] = page.after_value
            params["after_id"] = page.after_id
        inner = ", ".join(f"{expr} AS agg_{name}" for name, expr in AGGREGATES.items())
        outer = ", ".join(f"agg_{name} AS {name}" for name in AGGREGATES)

        def run(restrict: str = "", bound: str = "", tag: str = "traces.list") -> list[dict[str, Any]]:
            return self._db.query(
                f"{restrict}SELECT trace_id, {outer}, {sort} AS sort_value FROM ("
                f"SELECT trace_id, {inner} FROM traces WHERE {' AND '.join(where)} "
                f"{'AND trace_id IN (SELECT trace_id FROM candidates) ' if restrict else ''}GROUP BY trace_id"
                f") WHERE {' AND '.join(having + ([bound] if bound else []))} "
                f"ORDER BY {sort} {direction}, trace_id {direction} LIMIT {{limit:UInt32}}",
                tag=tag, params=params)

        rows = self._newest_first(run, page, params) if page.sort == "time" else None
        if rows is None:
            rows = run()
        for row in rows:
            row["status"] = STATUS_NAMES.get(int(row["status"]), "unset")
        return rows

    def _newest_first(self, run: Callable[[str, str, str], Rows], page: Page,
                      params: dict[str, Any]) -> Rows | None:
        """Sorted by time, only the traces that start near the page's edge need aggregating.

        A trace's start is its earliest rollup row's start. So among the M rows nearest the edge (the newest,
        or the oldest for ascending order; after the cursor), every trace that starts strictly before the M-th
        row's time has its earliest row there: aggregating just those traces and keeping the ones beyond that
        bound gives exactly the traces a full aggregation would rank first. If filters leave too few, widen M;
        past CANDIDATE_CAP, give up (None) and let the caller aggregate the whole window.
        """
        direction, op = ("DESC", ">") if page.descending else ("ASC", "<")
        edge = ""
        if page.after_id is not None:
            edge = f"AND start_time {'<=' if page.descending else '>='} {{after_value:DateTime64(9, 'UTC')}} "
        edge_fn = "min" if page.descending else "max"
        candidates = 8 * page.limit
        while candidates <= CANDIDATE_CAP:
            params["m"] = candidates
            chosen = ("SELECT trace_id, start_time FROM traces WHERE project_id = {p:String} "
                      "AND start_time >= {start:DateTime64(9, 'UTC')} AND start_time < {end:DateTime64(9, 'UTC')} "
                      f"{edge}ORDER BY start_time {direction} LIMIT {{m:UInt32}}")
            bound = (f"(agg_start_time {op} (SELECT {edge_fn}(start_time) FROM candidates) "
                     "OR (SELECT count() FROM candidates) < {m:UInt32})")
            rows = run(f"WITH candidates AS ({chosen}) ", bound, "traces.list.newest")
            if len(rows) >= page.limit:
                return rows
            found = self._db.query(f"SELECT count() AS n FROM ({chosen})", tag="traces.list.candidates",
                                   params=params)
            if found[0]["n"] < candidates:  # every row of the window was a candidate: the answer is complete
                return rows
            candidates *= 8
        return None

    def score_averages(self, project_id: str, trace_ids: Sequence[str]) -> dict[str, dict[str, float]]:
        """Per trace, the average of each numeric or boolean score given to it (or to its spans)."""
        if not trace_ids:
            return {}
        rows = self._db.query(
            "SELECT trace_id, toString(name) AS score_name, avg(value) AS average FROM scores FINAL "
            "WHERE project_id = {p:String} AND trace_id IN {ids:Array(String)} AND value IS NOT NULL "
            "GROUP BY trace_id, score_name ORDER BY score_name",
            tag="traces.list.scores", params={"p": project_id, "ids": list(trace_ids)})
        found: dict[str, dict[str, float]] = {}
        for row in rows:
            found.setdefault(row["trace_id"], {})[row["score_name"]] = row["average"]
        return found


def _compile_filters(flt: TraceFilter, where: list[str], having: list[str], params: dict[str, Any]) -> None:
    """The filter's conditions: on rollup rows (`where`) and on the aggregated traces (`having`)."""
    if flt.status is not None:
        having.append("agg_status = {status:UInt8}")
        params["status"] = STATUS_CODES[flt.status]
    for i, (name, value) in enumerate(sorted(flt.exact.items())):
        having.append(f"agg_{name} = {{exact{i}:String}}")
        params[f"exact{i}"] = value
    if flt.name_contains:
        having.append("positionCaseInsensitiveUTF8(agg_name, {name_contains:String}) > 0")
        params["name_contains"] = flt.name_contains
    if flt.model:
        having.append("has(agg_models, {model:String})")
        params["model"] = flt.model
    if flt.tool:
        having.append("has(agg_tool_names, {tool:String})")
        params["tool"] = flt.tool
    if flt.tags:
        having.append("hasAll(agg_tags, {tags:Array(String)})")
        params["tags"] = flt.tags
    if flt.min_duration_ms is not None:
        having.append("agg_duration_ns >= {min_duration:Int64}")
        params["min_duration"] = int(flt.min_duration_ms * 1_000_000)
    having += range_conditions(flt, "agg_", params)
    for i, (key, value) in enumerate(sorted(flt.attributes.items())):
        where.append(
            "trace_id IN (SELECT trace_id FROM spans WHERE project_id = {p:String} "
            "AND start_time >= {start:DateTime64(9, 'UTC')} - toIntervalSecond({slack:UInt32}) "
            "AND start_time < {end:DateTime64(9, 'UTC')} + toIntervalSecond({slack:UInt32}) "
            f"AND (attributes[{{ak{i}:String}}] = {{av{i}:String}} "
            f"OR resource_attributes[{{ak{i}:String}}] = {{av{i}:String}}))")
        params[f"ak{i}"], params[f"av{i}"] = key, value
    if flt.score_name:
        where.append("trace_id IN (SELECT trace_id FROM scores FINAL WHERE project_id = {p:String} "
                     "AND name = {score_name:String} AND (value >= {score_min:Float64}) "
                     "AND (value <= {score_max:Float64}))")
        params.update(score_name=flt.score_name, score_min=flt.score_min if flt.score_min is not None else -1e308,
                      score_max=flt.score_max if flt.score_max is not None else 1e308)
    if flt.search:
        where.append("trace_id IN (SELECT trace_id FROM span_payloads WHERE project_id = {p:String} "
                     "AND start_time >= {start:DateTime64(9, 'UTC')} - toIntervalSecond({slack:UInt32}) "
                     "AND start_time < {end:DateTime64(9, 'UTC')} + toIntervalSecond({slack:UInt32}) "
                     "AND (positionCaseInsensitiveUTF8(input, {search:String}) > 0 "
                     "OR positionCaseInsensitiveUTF8(output, {search:String}) > 0))")
        params["search"] = flt.search


def _ts(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S.%f")
