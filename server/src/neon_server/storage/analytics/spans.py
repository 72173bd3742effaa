"""Span writes and the reads ingestion needs."""

from __future__ import annotations

import pyarrow as pa

from neon_server.storage.analytics.executor import AnalyticsDB
from neon_server.storage.analytics.trace_rows import TraceRowStore


class SpanStore:
    def __init__(self, db: AnalyticsDB) -> None:
        self._db = db
        self._trace_rows = TraceRowStore(db)

    def write(self, spans: pa.Table, payloads: pa.Table) -> None:
        """Payloads first, spans last: a span row is the commit marker of its request (see IngestService)."""
        if payloads.num_rows:
            self._db.insert_arrow("span_payloads", payloads, tag="ingest.payloads")
        if spans.num_rows:
            self._db.insert_arrow("spans", spans, tag="ingest.spans")
            self._trace_rows.refresh_written(spans)  # the trace list's complete rows (trace_rows.py)

    def recent_requests(self, window_seconds: int) -> list[tuple[str, str]]:
        """(project_id, ingest_request) of spans written in the last `window_seconds`."""
        rows = self._db.query(
            "SELECT DISTINCT project_id, ingest_request FROM spans "
            "WHERE ingested_at >= now64(3) - toIntervalSecond({window:UInt32}) AND ingest_request != ''",
            tag="ingest.recent_requests", params={"window": window_seconds})
        return [(r["project_id"], r["ingest_request"]) for r in rows]
