"""Span search (GET /api/spans) and session rollups (GET /api/sessions), as parameterised SQL.

Spans are read without FINAL: the ingest path keeps retried requests out, so duplicates are rare, and FINAL
would cost a merge on every list.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from neon_server.storage.analytics.executor import AnalyticsDB
from neon_server.storage.analytics.trace_list import (
    STATUS_CODES,
    STATUS_NAMES,
    TRACE_SLACK_SECONDS,
    Page,
    range_conditions,
)

SPAN_FIELDS = ("trace_id", "span_id", "parent_span_id", "name", "span_type", "component_type", "service",
               "start_time", "end_time", "duration_ns", "model", "provider", "input_tokens", "output_tokens",
               "cached_input_tokens", "total_tokens", "cost", "tool_name", "session_id", "user_id", "agent_id",
               "agent_version", "environment", "tags", "status_message")
SPAN_EXACT = ("trace_id", "name", "span_type", "component_type", "service", "model", "provider", "tool_name",
              "session_id", "user_id", "agent_id", "agent_version", "environment")
SPAN_SORT = {"time": ("start_time", "DateTime64(9, 'UTC')"), "duration": ("duration_ns", "UInt64"),
             "cost": ("ifNull(cost, 0)", "Float64"), "tokens": ("total_tokens", "UInt32")}


@dataclass
class SpanFilter:
    start: datetime
    end: datetime
    status: str | None = None
    exact: dict[str, str] = field(default_factory=dict)  # keys from SPAN_EXACT
    name_contains: str | None = None
    tags: list[str] = field(default_factory=list)
    attributes: dict[str, str] = field(default_factory=dict)
    min_duration_ms: float | None = None
    min_tokens: int | None = None
    max_tokens: int | None = None
    min_cost: float | None = None
    max_cost: float | None = None


class SpanListStore:
    def __init__(self, db: AnalyticsDB) -> None:
        self._db = db

    def search(self, project_id: str, flt: SpanFilter, page: Page) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"p": project_id, "start": _ts(flt.start), "end": _ts(flt.end),
                                  "limit": page.limit}
        where = ["project_id = {p:String}", "start_time >= {start:DateTime64(9, 'UTC')}",
                 "start_time < {end:DateTime64(9, 'UTC')}"]
        if flt.status is not None:
            where.append("toUInt8(status) = {status:UInt8}")
            params["status"] = STATUS_CODES[flt.status]
        for i, (name, value) in enumerate(sorted(flt.exact.items())):
            where.append(f"{name} = {{exact{i}:String}}")
            params[f"exact{i}"] = value
        if flt.name_contains:
            where.append("positionCaseInsensitiveUTF8(name, {name_contains:String}) > 0")
            params["name_contains"] = flt.name_contains
        if flt.tags:
            where.append("hasAll(tags, {tags:Array(String)})")
            params["tags"] = flt.tags
        for i, (key, value) in enumerate(sorted(flt.attributes.items())):
            where.append(f"(attributes[{{ak{i}:String}}] = {{av{i}:String}} "
                         f"OR resource_attributes[{{ak{i}:String}}] = {{av{i}:String}})")
            params[f"ak{i}"], params[f"av{i}"] = key, value
        if flt.min_duration_ms is not None:
            where.append("duration_ns >= {min_duration:UInt64}")
            params["min_duration"] = int(flt.min_duration_ms * 1_000_000)
        where += range_conditions(flt, "", params)
        sort, kind = SPAN_SORT[page.sort]
        direction = "DESC" if page.descending else "ASC"
        if page.after_id is not None:
            trace_id, _, span_id = page.after_id.partition(":")
            op = "<" if page.descending else ">"
            where.append(f"({sort}, trace_id, span_id) {op} ({{after_value:{kind}}}, {{after_trace:String}}, "
                         "{after_span:String})")
            params.update(after_value=page.after_value, after_trace=trace_id, after_span=span_id)
        rows = self._db.query(
            f"SELECT {', '.join(SPAN_FIELDS)}, toUInt8(status) AS status_code, {sort} AS sort_value FROM spans "
            f"WHERE {' AND '.join(where)} ORDER BY sort_value {direction}, trace_id {direction}, "
            f"span_id {direction} LIMIT {{limit:UInt32}}", tag="spans.list", params=params)
        for row in rows:
            row["status"] = STATUS_NAMES.get(int(row.pop("status_code")), "unset")
        return rows

    def sessions(self, project_id: str, start: datetime, end: datetime, *, exact: dict[str, str],
                 limit: int, after: tuple[str, str] | None) -> list[dict[str, Any]]:
        """Sessions with activity in [start, end), most recently active first; `after` = (last_activity, id)."""
        params: dict[str, Any] = {"p": project_id, "start": _ts(start), "end": _ts(end),
                                  "slack": TRACE_SLACK_SECONDS, "limit": limit}
        outer = ["t_session != ''", "first_start < {end:DateTime64(9, 'UTC')}",
                 "last_end >= {start:DateTime64(9, 'UTC')}"]
        for i, (name, value) in enumerate(sorted(exact.items())):
            outer.append(f"has({name}s, {{exact{i}:String}})")
            params[f"exact{i}"] = value
        if after is not None:
            outer.append("(last_end, t_session) < ({after_value:DateTime64(9, 'UTC')}, {after_id:String})")
            params["after_value"], params["after_id"] = after
        return self._db.query(
            "SELECT t_session AS session_id, count() AS trace_count, min(t_start) AS first_start, "
            "max(t_end) AS last_end, "
            "toInt64(dateDiff('nanosecond', min(t_start), max(t_end))) AS duration_ns, "
            "sum(t_spans) AS span_count, "
            "sum(t_errors) AS error_count, sum(t_tokens) AS total_tokens, sum(t_cost) AS cost, "
            "groupUniqArray(t_user) AS user_ids, groupUniqArray(t_agent) AS agent_ids, "
            "groupUniqArray(t_env) AS environments, argMin(t_name, t_start) AS first_trace_name "
            "FROM (SELECT trace_id, max(session_id) AS t_session, min(start_time) AS t_start, "
            "max(end_time) AS t_end, sum(span_count) AS t_spans, sum(error_count) AS t_errors, "
            "sum(total_tokens) AS t_tokens, sum(cost) AS t_cost, max(user_id) AS t_user, max(agent_id) AS t_agent, "
            "max(environment) AS t_env, max(name) AS t_name FROM traces WHERE project_id = {p:String} "
            "AND start_time >= {start:DateTime64(9, 'UTC')} - toIntervalSecond({slack:UInt32}) "
            "AND start_time < {end:DateTime64(9, 'UTC')} + toIntervalSecond({slack:UInt32}) GROUP BY trace_id) "
            "GROUP BY t_session HAVING " + " AND ".join(outer) +
            " ORDER BY last_end DESC, t_session DESC LIMIT {limit:UInt32}",
            tag="sessions.list", params=params)


def _ts(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S.%f")
