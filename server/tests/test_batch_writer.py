"""The batch writer's group commit: batches of `max_batch_rows`, larger ones while it is behind; what it writes."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import pyarrow as pa
import pytest

from neon_server.ingest import decode_pool
from neon_server.ingest.otlp import decode_protobuf
from neon_server.ingest.semconv import Limits
from neon_server.ingest.wal import LoggedRequest
from neon_server.ingest.writer import BatchWriter, WrittenBatch
from neon_server.storage.analytics import AnalyticsDB
from neon_server.storage.analytics import spans as spans_module
from neon_server.storage.analytics.spans import SpanStore

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from workload import make_request


def test_a_writer_behind_writes_larger_batches_and_small_ones_once_it_keeps_up(analytics: AnalyticsDB) -> None:
    rng = random.Random(5)
    requests = [decode_protobuf(make_request(rng, traces=1, spans_per_trace=5).SerializeToString(), "behind",
                                Limits()).columns.to_arrow(f"request-{i}") for i in range(12)]
    written: list[int] = []

    def count(batch: WrittenBatch) -> None:
        written.append(batch.spans.num_rows)

    writer = BatchWriter(SpanStore(analytics).write, max_batch_rows=10, behind_batch_rows=40,
                         max_delay_seconds=0.01, on_written=count)
    futures = [writer.submit(spans, payloads) for spans, payloads in requests]  # 60 spans wait before it starts
    writer.start()
    try:
        for future in futures:
            future.result(60)
    finally:
        writer.stop()
    # 60 waiting (more than two batches): one batch of 40; then 20 (two batches): batches of 10 again
    assert written == [40, 10, 10]
    rows = analytics.query("SELECT count() AS n FROM spans FINAL WHERE project_id = 'behind'", tag="tests.behind")
    assert rows[0]["n"] == 60


def test_payloads_are_inserted_in_slices_and_none_is_lost(analytics: AnalyticsDB,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(spans_module, "PAYLOAD_SLICE_ROWS", 7)
    body = make_request(random.Random(6), traces=2, spans_per_trace=25, payload_bytes=100).SerializeToString()
    spans, payloads = decode_protobuf(body, "sliced", Limits()).columns.to_arrow("request")
    assert payloads.num_rows > 3 * 7
    SpanStore(analytics).write(spans, payloads)
    rows = analytics.query("SELECT span_id, input, output FROM span_payloads FINAL WHERE project_id = 'sliced' "
                           "ORDER BY span_id", tag="tests.sliced")
    expected = sorted(zip(payloads.column("span_id").to_pylist(), payloads.column("input").to_pylist(),
                          payloads.column("output").to_pylist(), strict=True))
    assert [(r["span_id"], r["input"], r["output"]) for r in rows] == expected


def test_a_batch_of_logged_requests_maps_to_each_request_s_rows_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    """The writer maps requests in chunks of about CHUNK_SPANS rows, each one chunk of the tables (fewer for the
    engine to read): the rows are each request's, in order, with its project and digest."""
    monkeypatch.setattr(decode_pool, "CHUNK_SPANS", 50)
    rng = random.Random(7)
    requests = [LoggedRequest(f"project-{i % 3}", f"digest-{i}", 1, 7 * (1 + i % 3),
                              make_request(rng, traces=1 + i % 3, spans_per_trace=7).SerializeToString())
                for i in range(12)]
    spans, payloads = decode_pool.decode_logged(requests, Limits())
    one_by_one = [decode_protobuf(r.body, r.project_id, Limits()).columns.to_arrow(r.digest) for r in requests]
    assert spans.to_pylist() == pa.concat_tables([s for s, _ in one_by_one]).to_pylist()
    assert payloads.to_pylist() == pa.concat_tables([p for _, p in one_by_one]).to_pylist()
    assert 1 < spans.column("span_id").num_chunks < len(requests)
