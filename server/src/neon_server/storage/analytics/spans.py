"""Span writes and the reads ingestion needs."""

from __future__ import annotations

import pyarrow as pa

from neon_server.ingest.semconv import Limits
from neon_server.storage.analytics.executor import AnalyticsDB
from neon_server.storage.analytics.otlp_decode import OtlpRequest, decode_otlp
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

    def decode_otlp(self, requests: list[OtlpRequest], limits: Limits) -> tuple[pa.Table, pa.Table]:
        """Span and payload tables of OTLP protobuf bodies, mapped by the engine (see otlp_decode)."""
        return decode_otlp(self._db, requests, limits)

    def recent_requests(self, window_seconds: int) -> list[tuple[str, str]]:
        """(project_id, ingest_request) of spans written in the last `window_seconds`."""
        rows = self._db.query(
            "SELECT DISTINCT project_id, ingest_request FROM spans "
            "WHERE ingested_at >= now64(3) - toIntervalSecond({window:UInt32}) AND ingest_request != ''",
            tag="ingest.recent_requests", params={"window": window_seconds})
        return [(r["project_id"], r["ingest_request"]) for r in rows]

    def written_requests(self, digests: list[str], since_ns: int) -> list[tuple[str, str]]:
        """(project_id, ingest_request) of those requests whose spans are stored, among spans ingested since
        `since_ns` (a request's spans are ingested after it arrived)."""
        rows = self._db.query(
            "SELECT DISTINCT project_id, ingest_request FROM spans "
            "WHERE ingested_at >= fromUnixTimestamp64Nano({since:Int64}) - toIntervalSecond(60) "
            "AND has({digests:Array(String)}, ingest_request)",
            tag="ingest.written_requests", params={"since": since_ns, "digests": digests})
        return [(r["project_id"], r["ingest_request"]) for r in rows]
