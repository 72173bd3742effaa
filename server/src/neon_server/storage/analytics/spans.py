"""Span writes and the reads ingestion needs."""

from __future__ import annotations

import pyarrow as pa

from neon_server.ingest.semconv import Limits
from neon_server.storage.analytics.executor import AnalyticsDB
from neon_server.storage.analytics.otlp_decode import OtlpRequest, decode_otlp
from neon_server.storage.analytics.trace_rows import TraceRowStore

# Settings of the ingest path's inserts (measured in bench/ingest_write_bench.py, 5k-span batches):
# - parallel_view_processing: the four rollup views of `spans` are computed side by side rather than one after
#   the other (the batch writer waits on the insert, so this is its wall time);
# - optimize_on_insert = 0: a ReplacingMergeTree would otherwise collapse duplicate keys inside each inserted
#   block, a sort-and-merge pass per insert; a batch has no duplicates but a retry written under another body,
#   and those are collapsed by merges and by readers' dedupe like a retry in another batch.
INSERT_SETTINGS = {"parallel_view_processing": 1, "optimize_on_insert": 0}
# Payloads (most of a batch's bytes, and no views) are inserted in slices: the engine holds about four times an
# insert's Arrow size while it converts and sorts it, and a payload insert's fixed cost is small.
PAYLOAD_SLICE_ROWS = 5_000


class SpanStore:
    def __init__(self, db: AnalyticsDB) -> None:
        self._db = db
        self._trace_rows = TraceRowStore(db)

    def write(self, spans: pa.Table, payloads: pa.Table) -> None:
        """Payloads first, spans last: a span row is the commit marker of its request (see IngestService)."""
        self.insert_payloads(payloads)
        if spans.num_rows:
            self.insert_spans(spans)
            self._trace_rows.refresh_written(spans)  # the trace list's complete rows (trace_rows.py)

    def insert_payloads(self, payloads: pa.Table, settings: dict[str, int] = INSERT_SETTINGS) -> None:
        """The payload rows, in slices of PAYLOAD_SLICE_ROWS (`write`'s first step)."""
        for start in range(0, payloads.num_rows, PAYLOAD_SLICE_ROWS):
            self._db.insert_arrow("span_payloads", payloads.slice(start, PAYLOAD_SLICE_ROWS), tag="ingest.payloads",
                                  settings=settings)

    def insert_spans(self, spans: pa.Table, settings: dict[str, int] = INSERT_SETTINGS) -> None:
        """The span rows, which feed the rollup views (`write`'s second step; the trace rows' refresh follows)."""
        self._db.insert_arrow("spans", spans, tag="ingest.spans", settings=settings)

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
