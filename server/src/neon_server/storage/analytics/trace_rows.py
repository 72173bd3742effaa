"""Complete per-trace rows (`trace_rows`, migration 0010), kept whole at write time for the trace list.

After spans land, the traces they belong to are re-aggregated from the `traces` rollup (a lookup on its
(project_id, trace_id) key) and written again in full, with their span count as the version. Whoever refreshes
a trace last has seen every batch inserted before its lookup, so its row holds the most spans and wins.
"""

from __future__ import annotations

import logging

import pyarrow as pa

from neon_server.storage.analytics.executor import AnalyticsDB, AnalyticsError

log = logging.getLogger(__name__)

# The same aggregation as migration 0010's backfill.
ROW_SELECT = (
    "SELECT project_id, trace_id, min(start_time) AS first_start, max(end_time) AS last_end, "
    "toInt64(dateDiff('nanosecond', first_start, last_end)) AS duration_ns, max(name) AS name, "
    "max(root_span_id) AS root_span_id, max(service) AS service, max(status) AS status, "
    "sum(span_count) AS span_count, sum(error_count) AS error_count, sum(llm_call_count) AS llm_call_count, "
    "sum(tool_call_count) AS tool_call_count, sum(input_tokens) AS input_tokens, "
    "sum(output_tokens) AS output_tokens, sum(total_tokens) AS total_tokens, sum(cost) AS cost, "
    "sum(priced_span_count) AS priced_span_count, sum(unpriced_llm_calls) AS unpriced_llm_calls, "
    "max(session_id) AS session_id, max(user_id) AS user_id, max(agent_id) AS agent_id, "
    "max(agent_version) AS agent_version, max(environment) AS environment, groupUniqArrayArray(tags) AS tags, "
    "groupUniqArrayArray(models) AS models, groupUniqArrayArray(tool_names) AS tool_names FROM traces ")


# Traces whose rewrite failed, kept for the next batch; beyond this many (the table unwritable for long),
# dropped with an error rather than held without bound.
MAX_DUE_TRACES = 100_000


class TraceRowStore:
    def __init__(self, db: AnalyticsDB) -> None:
        self._db = db
        self._due: dict[str, set[str]] = {}  # project -> traces whose rows are still to be rewritten

    def refresh_written(self, spans: pa.Table) -> None:
        """Rewrite the full rows of the traces these (just inserted) spans belong to, and of those whose rewrite
        failed before. A failure is logged and its traces kept for the next call, not raised: the spans are
        written by then, and a batch failed after its spans were inserted would be written again (and counted
        twice by the rollups)."""
        keys = spans.select(["project_id", "trace_id"]).group_by(["project_id", "trace_id"]).aggregate([])
        for project, trace in zip(keys.column("project_id").to_pylist(), keys.column("trace_id").to_pylist(),
                                  strict=True):
            self._due.setdefault(str(project), set()).add(str(trace))
        due = sum(len(traces) for traces in self._due.values())
        if due > MAX_DUE_TRACES:
            log.error("trace list rows of %d traces could not be rewritten for a long time; no longer trying "
                      "(their spans and trace pages are stored, the list may show them out of date)", due)
            self._due.clear()
        for project in list(self._due):
            traces = list(self._due[project])
            try:
                self.refresh(project, traces)
            except AnalyticsError:
                log.exception("trace list rows of %d traces could not be rewritten (project %s); tried again with "
                              "the next batch", len(traces), project)
                continue
            del self._due[project]

    def refresh(self, project_id: str, trace_ids: list[str]) -> None:
        self._db.command(
            f"INSERT INTO trace_rows {ROW_SELECT}WHERE project_id = {{p:String}} AND trace_id IN {{t:Array(String)}} "
            "GROUP BY project_id, trace_id", tag="ingest.trace_rows", params={"p": project_id, "t": trace_ids})

    def backfill(self) -> None:
        """Rows for every trace of the rollup that has none (what migration 0010 does once, for data written
        straight into `spans` by other means, such as the benchmarks' generators)."""
        self._db.command(
            f"INSERT INTO trace_rows {ROW_SELECT}WHERE (project_id, trace_id) NOT IN "
            "(SELECT project_id, trace_id FROM trace_rows) GROUP BY project_id, trace_id",
            tag="trace_rows.backfill")

    def refresh_last(self, seconds: int) -> None:
        """Traces with spans written in the last `seconds` before the newest write. Batches are written one at
        a time, so after a stop only the last ones can have landed without their rows rewritten (and their
        retries are recognised as written already, so they will not come again)."""
        self._db.command(
            f"INSERT INTO trace_rows {ROW_SELECT}WHERE (project_id, trace_id) IN (SELECT project_id, trace_id "
            "FROM spans WHERE ingested_at >= (SELECT max(ingested_at) FROM spans) - toIntervalSecond({s:UInt32})) "
            "GROUP BY project_id, trace_id", tag="trace_rows.refresh_last", params={"s": seconds})
