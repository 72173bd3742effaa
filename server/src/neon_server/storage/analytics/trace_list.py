"""The trace list: filters compiled into parameterised SQL over complete per-trace rows, keyset pagination.

Every value reaches SQL as a bound parameter; column names and sort keys come from fixed tables below, never
from the request. `trace_rows` (migration 0010) holds one whole row per trace, rewritten after each batch that
touches the trace, with one projection per sort order: a page is `WHERE … ORDER BY <key> LIMIT n`, read in key
order, so it costs about a page whatever the sort. A trace rewritten since the last merge still has older rows;
each candidate is checked against its trace's newest row (highest span count) and older ones are dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from neon_server.storage.analytics.executor import AnalyticsDB

# Filters on spans, payloads and scores look at spans this far around the window (a trace's spans start
# after the trace does, and a long trace's spans may start after the window's end).
TRACE_SLACK_SECONDS = 86_400
STATUS_CODES = {"unset": 0, "ok": 1, "error": 2}
STATUS_NAMES = {v: k for k, v in STATUS_CODES.items()}
Rows = list[dict[str, Any]]

COLUMNS = ("start_time", "end_time", "name", "root_span_id", "service", "status", "span_count", "error_count",
           "llm_call_count", "tool_call_count", "input_tokens", "output_tokens", "total_tokens", "cost",
           "priced_span_count", "unpriced_llm_calls", "session_id", "user_id", "agent_id", "agent_version",
           "environment", "tags", "models", "tool_names", "duration_ns")
SORT_KEYS = {"time": "start_time", "duration": "duration_ns", "cost": "cost", "tokens": "total_tokens"}
SORT_TYPES = {"time": "DateTime64(9, 'UTC')", "duration": "Int64", "cost": "Float64", "tokens": "UInt64"}
# Candidates read for a page of n: 2n + 16, room for older rows of traces rewritten since the last merge; widened
# 4× at a time when older rows still crowd the page out.
CANDIDATE_SLACK = 16
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
                                  "slack": TRACE_SLACK_SECONDS}
        where = ["project_id = {p:String}", "start_time >= {start:DateTime64(9, 'UTC')}",
                 "start_time < {end:DateTime64(9, 'UTC')}"]
        _compile_filters(flt, where, params)
        sort = SORT_KEYS[page.sort]
        direction = "DESC" if page.descending else "ASC"
        if page.after_id is not None:
            # Written so the key's bound alone (`<=` / `>=`) narrows the read; the id breaks ties.
            op = "<" if page.descending else ">"
            value = f"{{after_value:{SORT_TYPES[page.sort]}}}"
            where.append(f"{sort} {op}= {value} AND ({sort} {op} {value} OR trace_id {op} {{after_id:String}})")
            params["after_value"] = page.after_value
            params["after_id"] = page.after_id
        # Floats sort NaN last both ways; NULLS FIRST on a descending float makes the order the exact reverse of
        # the projection's, so it can be read backwards (there is never a NaN cost).
        nulls = " NULLS FIRST" if page.descending and page.sort == "cost" else ""
        columns = ", ".join(COLUMNS)
        wanted = 2 * page.limit + CANDIDATE_SLACK
        while True:
            params["m"] = wanted
            candidates = self._db.query(
                f"SELECT trace_id, {columns}, {sort} AS sort_value FROM trace_rows WHERE {' AND '.join(where)} "
                f"ORDER BY {sort} {direction}{nulls}, trace_id {direction} LIMIT {{m:UInt32}}",
                tag=f"traces.list.{page.sort}", params=params)
            rows = self._newest(project_id, candidates)
            if len(rows) >= page.limit or len(candidates) < wanted:
                break
            wanted *= 4
        for row in rows:
            row["status"] = STATUS_NAMES.get(int(row["status"]), "unset")
        return rows[:page.limit]

    def _newest(self, project_id: str, candidates: Rows) -> Rows:
        """The candidates that are their trace's newest row, once each, in their order."""
        if not candidates:
            return []
        ids = list({row["trace_id"] for row in candidates})
        latest = {r["trace_id"]: r["span_count"] for r in self._db.query(
            "SELECT trace_id, max(span_count) AS span_count FROM trace_rows WHERE project_id = {p:String} "
            "AND trace_id IN {ids:Array(String)} GROUP BY trace_id",
            tag="traces.list.newest", params={"p": project_id, "ids": ids})}
        seen: set[str] = set()
        rows = []
        for row in candidates:
            trace_id = row["trace_id"]
            if row["span_count"] == latest.get(trace_id) and trace_id not in seen:
                seen.add(trace_id)
                rows.append(row)
        return rows

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


def _compile_filters(flt: TraceFilter, where: list[str], params: dict[str, Any]) -> None:
    """The filter's conditions on the trace's row."""
    if flt.status is not None:
        where.append("status = {status:UInt8}")
        params["status"] = STATUS_CODES[flt.status]
    for i, (name, value) in enumerate(sorted(flt.exact.items())):
        where.append(f"{name} = {{exact{i}:String}}")
        params[f"exact{i}"] = value
    if flt.name_contains:
        where.append("positionCaseInsensitiveUTF8(name, {name_contains:String}) > 0")
        params["name_contains"] = flt.name_contains
    if flt.model:
        where.append("has(models, {model:String})")
        params["model"] = flt.model
    if flt.tool:
        where.append("has(tool_names, {tool:String})")
        params["tool"] = flt.tool
    if flt.tags:
        where.append("hasAll(tags, {tags:Array(String)})")
        params["tags"] = flt.tags
    if flt.min_duration_ms is not None:
        where.append("duration_ns >= {min_duration:Int64}")
        params["min_duration"] = int(flt.min_duration_ms * 1_000_000)
    where += range_conditions(flt, "", params)
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
