"""Reading a trace: its summary and span tree (light), and a span's payload on demand."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from neon_server.services.errors import InvalidInput, NotFound
from neon_server.storage.analytics.span_list import SpanFilter, SpanListStore
from neon_server.storage.analytics.trace_list import Page, TraceFilter, TraceListStore
from neon_server.storage.analytics.traces import TraceStore

if TYPE_CHECKING:
    from neon_server.services.logs import LogService

Rows = list[dict[str, Any]]
HEX32 = re.compile(r"^[0-9a-f]{32}$")
HEX16 = re.compile(r"^[0-9a-f]{16}$")
SETTLE_SECONDS = 10.0


class TraceService:
    def __init__(self, store: TraceStore, logs: LogService | None = None,
                 settle: Callable[[float], bool] | None = None) -> None:
        """`settle(timeout)` waits until the spans of every request answered so far are written: a trace asked
        for right after its export was answered is read after its spans land, not reported missing."""
        self._store = store
        self._logs = logs  # fills an empty input/output from the span's GenAI log events
        self._settle = settle

    def _summary(self, project_id: str, trace_id: str) -> dict[str, Any] | None:
        summary = self._store.summary(project_id, trace_id)
        if summary is None and self._settle is not None and self._settle(SETTLE_SECONDS):
            summary = self._store.summary(project_id, trace_id)
        return summary

    def get(self, project_id: str, trace_id: str, *, limit: int = 5000, offset: int = 0) -> dict[str, Any]:
        """The trace's rollup and a page of its spans (start order); `next_offset` when more remain."""
        trace_id = _trace_id(trace_id)
        summary = self._summary(project_id, trace_id)
        if summary is None:
            raise NotFound(f"no trace {trace_id} in this project")
        # The rollup's time range bounds the days to read (a day of slack for clocks at midnight).
        spans = self._store.spans(project_id, trace_id, summary["start_time"] - timedelta(days=1),
                                  summary["end_time"] + timedelta(days=1), limit=limit + 1, offset=offset)
        more = len(spans) > limit
        spans = spans[:limit]
        for span in spans:
            span["start_time"] = ns_to_iso(span.pop("start_ns"))
            span["end_time"] = ns_to_iso(span.pop("end_ns"))
            span["attributes"] = dict(span["attributes"])
            span["events"] = json.loads(span["events"]) if span["events"] else []
            span["truncated"] = bool(span["truncated"])
        for key in ("start_time", "end_time"):
            summary[key] = ns_to_iso(int(summary[key].value))
        unknown_cost_is_null(summary)
        return {"trace": summary, "spans": spans, "next_offset": offset + limit if more else None}

    def payload(self, project_id: str, trace_id: str, span_id: str) -> dict[str, Any]:
        trace_id = _trace_id(trace_id)
        span_id = span_id.lower()
        if not HEX16.match(span_id):
            raise InvalidInput("span_id must be 16 hex characters")
        found = self._store.payload(project_id, trace_id, span_id)
        if found is None and self._settle is not None and self._settle(SETTLE_SECONDS):
            found = self._store.payload(project_id, trace_id, span_id)
        payload: dict[str, Any] = {"input": "", "output": "", "attributes": {}} if found is None else {
            "input": found["input"], "output": found["output"], "attributes": dict(found["attributes"])}
        if self._logs is not None:
            self._logs.fill_payloads(project_id, {(trace_id, span_id): payload})
        return payload

    def root_payloads(self, project_id: str, roots: list[tuple[str, str]]) -> dict[tuple[str, str], dict[str, str]]:
        """Inputs and outputs of the given (trace id, root span id) pairs, read in one query (spans with neither
        are absent)."""
        found = self._store.payloads(project_id, roots)
        if self._logs is None:
            return found
        payloads: dict[tuple[str, str], dict[str, Any]] = {
            key: dict(found.get(key) or {"input": "", "output": ""}) for key in roots}
        self._logs.fill_payloads(project_id, payloads)
        return {key: p for key, p in payloads.items() if key in found or p["input"] or p["output"]}


def unknown_cost_is_null(trace: dict[str, Any]) -> dict[str, Any]:
    """A trace none of whose spans has a price has no known cost: null, not the rollup's sum of nothing (0)."""
    if not trace["priced_span_count"]:
        trace["cost"] = None
    return trace


def _trace_id(value: str) -> str:
    trace_id = value.lower().replace("-", "")
    if not HEX32.match(trace_id):
        raise InvalidInput("trace_id must be 32 hex characters")
    return trace_id


# ---------------------------------------------------------------- the trace list
def encode_cursor(sort: str, value: Any, trace_id: str) -> str:
    if sort == "time":
        value = int(value.value) if hasattr(value, "value") else int(value)
    raw = json.dumps({"s": sort, "v": value, "id": trace_id}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, sort: str) -> tuple[Any, str]:
    value, trace_id = _decode_any_cursor(cursor, sort)
    if not HEX32.match(trace_id):
        raise InvalidInput("cursor is not valid: use the next_cursor of a previous page")
    return (ns_to_param(int(value)) if sort == "time" else value), trace_id


def one_page(rows: list[dict[str, Any]], requested: int,
             cursor_of: Callable[[dict[str, Any]], str]) -> tuple[list[dict[str, Any]], str | None]:
    """Rows were fetched with one extra: keep `requested`, and a cursor after the last one if more remain."""
    if len(rows) <= requested:
        return rows, None
    rows = rows[:requested]
    return rows, cursor_of(rows[-1])


def ns_to_iso(ns: int) -> str:
    seconds, nanos = divmod(int(ns), 1_000_000_000)
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{nanos:09d}Z"


def iso_times(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Write every timestamp of the rows as `…T…(9 digits)Z`, the one format the API uses for times."""
    for row in rows:
        for key, value in row.items():
            if isinstance(value, datetime):
                # pandas Timestamps carry nanoseconds in `.value`; plain datetimes have microseconds
                ns = getattr(value, "value", None)
                row[key] = ns_to_iso(ns if isinstance(ns, int) else round(_utc_seconds(value) * 1e6) * 1000)
    return rows


def _utc_seconds(value: datetime) -> float:
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()


def ns_to_param(ns: int) -> str:
    seconds, nanos = divmod(ns, 1_000_000_000)
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M:%S") + f".{nanos:09d}"


class TraceListService:
    def __init__(self, store: TraceListStore) -> None:
        self._store = store

    def list(self, project_id: str, flt: TraceFilter, page: Page, cursor: str | None) -> dict[str, Any]:
        if flt.end <= flt.start:
            raise InvalidInput("the time range is empty: 'from' must be before 'to'")
        if cursor:
            page.after_value, page.after_id = decode_cursor(cursor, page.sort)
        requested = page.limit
        page.limit = requested + 1
        rows, next_cursor = one_page(self._store.list(project_id, flt, page), requested,
                                     lambda last: encode_cursor(page.sort, last["sort_value"], last["trace_id"]))
        scores = self._store.score_averages(project_id, [row["trace_id"] for row in rows])
        for row in rows:
            row.pop("sort_value", None)
            row["scores"] = scores.get(row["trace_id"], {})
            unknown_cost_is_null(row)
        return {"traces": iso_times(rows), "next_cursor": next_cursor}


    def matching(self, project_id: str, flt: TraceFilter, limit: int, page_size: int = 500) -> Rows:
        """Up to `limit` traces matching the filter, newest first, read page by page."""
        found: Rows = []
        cursor = None
        while len(found) < limit:
            page = Page(sort="time", descending=True, limit=min(page_size, limit - len(found)))
            result = self.list(project_id, flt, page, cursor)
            found += result["traces"]
            cursor = result["next_cursor"]
            if not cursor:
                break
        return found


class SpanListService:
    """Span search and sessions, with the same cursor scheme as the trace list."""

    def __init__(self, store: SpanListStore) -> None:
        self._store = store

    def spans(self, project_id: str, flt: SpanFilter, page: Page, cursor: str | None) -> dict[str, Any]:
        if flt.end <= flt.start:
            raise InvalidInput("the time range is empty: 'from' must be before 'to'")
        if cursor:
            page.after_value, page.after_id = _decode_span_cursor(cursor, page.sort)
        requested = page.limit
        page.limit = requested + 1
        rows, next_cursor = one_page(
            self._store.search(project_id, flt, page), requested,
            lambda last: encode_cursor(page.sort, last["sort_value"], f"{last['trace_id']}:{last['span_id']}"))
        for row in rows:
            row.pop("sort_value", None)
        return {"spans": iso_times(rows), "next_cursor": next_cursor}

    def sessions(self, project_id: str, start: datetime, end: datetime, *, exact: dict[str, str], limit: int,
                 cursor: str | None) -> dict[str, Any]:
        if end <= start:
            raise InvalidInput("the time range is empty: 'from' must be before 'to'")
        after = None
        if cursor:
            value, session = _decode_any_cursor(cursor, "sessions")
            after = (ns_to_param(int(value)), session)
        rows, next_cursor = one_page(
            self._store.sessions(project_id, start, end, exact=exact, limit=limit + 1, after=after), limit,
            lambda last: encode_cursor("sessions", int(last["last_end"].value), last["session_id"]))
        return {"sessions": iso_times(rows), "next_cursor": next_cursor}


def _decode_any_cursor(cursor: str, sort: str) -> tuple[Any, str]:
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if data["s"] != sort:
            raise InvalidInput("cursor belongs to another listing or a different sort order; start again without it")
        if not isinstance(data["v"], int | float) or not isinstance(data["id"], str):
            raise ValueError("bad cursor")
        return data["v"], data["id"]
    except InvalidInput:
        raise
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise InvalidInput("cursor is not valid: use the next_cursor of a previous page") from None


def _decode_span_cursor(cursor: str, sort: str) -> tuple[Any, str]:
    value, ident = _decode_any_cursor(cursor, sort)
    trace_id, _, span_id = ident.partition(":")
    if not HEX32.match(trace_id) or not HEX16.match(span_id):
        raise InvalidInput("cursor is not valid: use the next_cursor of a previous page")
    return (ns_to_param(int(value)) if sort == "time" else value), ident
