"""Reading traces: one trace's rollup, its spans (light: no payloads), and one span's payload."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from neon_server.storage.analytics.executor import AnalyticsDB

STATUS = {0: "unset", 1: "ok", 2: "error"}
# Times come back as integer nanoseconds: turning 20,000 Arrow timestamps into Python objects costs more than
# the query itself on a 10,000-span trace.
SPAN_COLUMNS = ("trace_id, span_id, parent_span_id, name, span_type, component_type, service, "
                "toUnixTimestamp64Nano(start_time) AS start_ns, toUnixTimestamp64Nano(end_time) AS end_ns, "
                "duration_ns, toString(status) AS status, status_message, model, provider, input_tokens, "
                "output_tokens, cached_input_tokens, total_tokens, cost, tool_name, session_id, user_id, agent_id, "
                "agent_version, environment, tags, attributes, events, truncated")


class TraceStore:
    def __init__(self, db: AnalyticsDB) -> None:
        self._db = db

    def summary(self, project_id: str, trace_id: str) -> dict[str, Any] | None:
        rows = self._db.query(
            "SELECT trace_id, min(start_time) AS start_time, max(end_time) AS end_time, max(name) AS name, "
            "max(root_span_id) AS root_span_id, max(service) AS service, max(status) AS status, "
            "sum(span_count) AS span_count, sum(error_count) AS error_count, sum(llm_call_count) AS llm_call_count, "
            "sum(tool_call_count) AS tool_call_count, sum(input_tokens) AS input_tokens, "
            "sum(output_tokens) AS output_tokens, sum(total_tokens) AS total_tokens, sum(cost) AS cost, "
            "sum(priced_span_count) AS priced_span_count, sum(unpriced_llm_calls) AS unpriced_llm_calls, "
            "max(session_id) AS session_id, max(user_id) AS user_id, "
            "max(agent_id) AS agent_id, max(agent_version) AS agent_version, max(environment) AS environment, "
            "groupUniqArrayArray(tags) AS tags, groupUniqArrayArray(models) AS models, "
            "groupUniqArrayArray(tool_names) AS tool_names "
            "FROM traces WHERE project_id = {p:String} AND trace_id = {t:String} GROUP BY trace_id",
            tag="traces.summary", params={"p": project_id, "t": trace_id})
        if not rows:
            return None
        row = rows[0]
        row["status"] = STATUS.get(int(row["status"]), "unset")
        return row

    def spans(self, project_id: str, trace_id: str, start: datetime, end: datetime, *, limit: int,
              offset: int) -> list[dict[str, Any]]:
        """The trace's spans without payloads, in start order. `start`/`end` bound the days to read."""
        return self._db.query(
            f"SELECT {SPAN_COLUMNS} FROM spans FINAL WHERE project_id = {{p:String}} AND trace_id = {{t:String}} "
            "AND toDate(start_time) BETWEEN toDate({start:DateTime64(9, 'UTC')}) "
            "AND toDate({end:DateTime64(9, 'UTC')}) "
            "ORDER BY start_ns, span_id LIMIT {limit:UInt32} OFFSET {offset:UInt32}",
            tag="traces.spans", params={"p": project_id, "t": trace_id, "start": _ts(start), "end": _ts(end),
                                        "limit": limit, "offset": offset})

    def payload(self, project_id: str, trace_id: str, span_id: str) -> dict[str, Any] | None:
        rows = self._db.query(
            "SELECT input, output, attributes FROM span_payloads FINAL WHERE project_id = {p:String} "
            "AND trace_id = {t:String} AND span_id = {s:String} LIMIT 1",
            tag="traces.payload", params={"p": project_id, "t": trace_id, "s": span_id})
        return rows[0] if rows else None

    def payloads(self, project_id: str, spans: list[tuple[str, str]]) -> dict[tuple[str, str], dict[str, str]]:
        """Inputs and outputs of many spans at once, by (trace id, span id); spans without a payload are absent."""
        if not spans:
            return {}
        rows = self._db.query(
            "SELECT trace_id, span_id, input, output FROM span_payloads FINAL WHERE project_id = {p:String} "
            "AND trace_id IN {t:Array(String)} AND span_id IN {s:Array(String)}",
            tag="traces.payloads", params={"p": project_id, "t": [t for t, _ in spans], "s": [s for _, s in spans]})
        wanted = set(spans)  # the two IN lists also match other pairings of the ids: keep the asked-for pairs
        return {(r["trace_id"], r["span_id"]): {"input": r["input"], "output": r["output"]} for r in rows
                if (r["trace_id"], r["span_id"]) in wanted}


def _ts(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S.%f")
