"""Log records: writes, the GenAI events of spans (to fold into their input/output), and the log search.

Reads use FINAL: a request written twice (a retry after a crash, before its digest was remembered) has the same
record ids, and its rows collapse here; the reads are narrow (a trace, a span, a page), so the merge is cheap.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pyarrow as pa

from neon_server.storage.analytics.executor import AnalyticsDB

LOG_FIELDS = ("trace_id, span_id, toUnixTimestamp64Nano(time) AS time_ns, "
              "toUnixTimestamp64Nano(observed_time) AS observed_ns, record_id, severity_number, severity_text, "
              "body, body_type, event_name, attributes, resource_attributes, service, scope, truncated")
TS = "DateTime64(9, 'UTC')"


@dataclass
class LogFilter:
    start: datetime | None = None
    end: datetime | None = None
    trace_id: str | None = None
    span_id: str | None = None
    text: str | None = None          # in the body or an attribute value, case-insensitive
    min_severity: int | None = None  # severity_number at least this (9 INFO, 13 WARN, 17 ERROR)
    severity_text: str | None = None
    event_name: str | None = None
    limit: int = 100
    descending: bool = True
    after: tuple[int, str] | None = None  # keyset: (time ns, record id) of the last row of the previous page


class LogStore:
    def __init__(self, db: AnalyticsDB) -> None:
        self._db = db

    def write(self, rows: pa.Table) -> None:
        if rows.num_rows:
            self._db.insert_arrow("logs", rows, tag="ingest.logs")

    def recent_requests(self, window_seconds: int) -> list[tuple[str, str]]:
        """(project_id, ingest_request) of log records written in the last `window_seconds`."""
        rows = self._db.query(
            "SELECT DISTINCT project_id, ingest_request FROM logs "
            "WHERE ingested_at >= now64(3) - toIntervalSecond({window:UInt32}) AND ingest_request != ''",
            tag="logs.recent_requests", params={"window": window_seconds})
        return [(r["project_id"], r["ingest_request"]) for r in rows]

    def events_of_spans(self, project_id: str, spans: list[tuple[str, str]],
                        names: tuple[str, ...]) -> list[dict[str, Any]]:
        """The records named `names` (event names) of the given (trace id, span id) pairs, in time order."""
        if not spans:
            return []
        rows = self._db.query(
            "SELECT trace_id, span_id, record_id, event_name, body, body_type, attributes FROM logs "
            "WHERE project_id = {p:String} AND trace_id IN {t:Array(String)} AND span_id IN {s:Array(String)} "
            "AND event_name IN {n:Array(String)} ORDER BY time, observed_time, ingested_at, seq",
            tag="logs.span_events",
            params={"p": project_id, "t": sorted({t for t, _ in spans}), "s": sorted({s for _, s in spans}),
                    "n": list(names)})
        wanted = set(spans)
        seen: set[str] = set()  # without FINAL (a merge per read): a record written twice is skipped here
        found = []
        for row in rows:
            if (row["trace_id"], row["span_id"]) in wanted and row["record_id"] not in seen:
                seen.add(row["record_id"])
                found.append(row)
        return found

    def search(self, project_id: str, flt: LogFilter) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"p": project_id, "limit": flt.limit}
        where = ["project_id = {p:String}"]
        if flt.start is not None:
            where.append(f"time >= {{start:{TS}}}")
            params["start"] = _ts(flt.start)
        if flt.end is not None:
            where.append(f"time < {{end:{TS}}}")
            params["end"] = _ts(flt.end)
        for name in ("trace_id", "span_id", "severity_text", "event_name"):
            value = getattr(flt, name)
            if value is not None:
                where.append(f"{name} = {{{name}:String}}")
                params[name] = value
        if flt.min_severity is not None:
            where.append("severity_number >= {sev:UInt8}")
            params["sev"] = flt.min_severity
        if flt.text:
            where.append("(positionCaseInsensitiveUTF8(body, {q:String}) > 0 "
                         "OR arrayExists(v -> positionCaseInsensitiveUTF8(v, {q:String}) > 0, mapValues(attributes)))")
            params["q"] = flt.text
        order = "DESC" if flt.descending else "ASC"
        if flt.after is not None:
            where.append(f"(toUnixTimestamp64Nano(time), record_id) {'<' if flt.descending else '>'} "
                         "({after_ns:Int64}, {after_id:String})")
            params["after_ns"], params["after_id"] = flt.after
        return self._db.query(
            f"SELECT {LOG_FIELDS} FROM logs FINAL WHERE {' AND '.join(where)} "
            f"ORDER BY time {order}, record_id {order} LIMIT {{limit:UInt32}}",
            tag="logs.search", params=params)


def _ts(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S.%f")
