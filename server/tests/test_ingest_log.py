"""The ingest log: OTLP protobuf requests are answered once synced to disk, written in bulk, and written again
after a crash; a request whose spans reached the store before the crash is not written twice."""

from __future__ import annotations

import dataclasses
import hashlib
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from neon_server.app import create_app
from neon_server.ingest.wal import IngestLog, LoggedRequest, encode
from neon_server.runtime import Services
from neon_server.storage.analytics import AnalyticsDB
from neon_server.storage.metadata.repositories import MetadataStore
from server.tests.conftest import make_services

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from workload import make_request

PROTOBUF = {"content-type": "application/x-protobuf"}


@pytest.fixture
def metadata_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'neon.db'}"


def wait_for(check: Callable[[], Any], what: str, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def raw_span_rows(analytics: AnalyticsDB, trace_ids: list[str]) -> int:
    """Rows as inserted (no FINAL): a request written twice would show twice until parts merge."""
    rows = analytics.query("SELECT count() AS n FROM spans WHERE has({t:Array(String)}, trace_id)",
                           tag="tests.raw", params={"t": trace_ids})
    return int(rows[0]["n"])


def trace_ids_of(body: Any) -> list[str]:
    return sorted({s.trace_id.hex() for rs in body.resource_spans for ss in rs.scope_spans for s in ss.spans})


def test_records_survive_reopening_and_a_torn_tail_is_dropped(tmp_path: Path) -> None:
    log = IngestLog(tmp_path / "log")
    first = LoggedRequest("p1", "d1", 1, 3, b"\x0a\x00body-one")
    second = LoggedRequest("p2", "d2", 2, 5, b"body-two" * 1000)
    logged = log.append(first)
    segment = logged.segment
    assert (logged.body, log.load(logged)) == (b"", dataclasses.replace(first, segment=segment, offset=0,
                                                                         size=logged.size))
    log.append(second)
    (tmp_path / "log" / f"{segment:012d}.log").open("ab").write(encode(first)[:-3])  # a crash mid-append
    reopened = IngestLog(tmp_path / "log")
    found = reopened.recovered()
    assert [(r.project_id, r.digest, r.received_ns, r.spans, r.body) for r in found] == [
        ("p1", "d1", 1, 3, first.body), ("p2", "d2", 2, 5, second.body)]
    reopened.done([r.segment for r in found])
    assert not (tmp_path / "log" / f"{segment:012d}.log").exists(), "a done segment is deleted"
    reopened.close()
    assert list((tmp_path / "log").glob("*.log")) == [], "an empty active segment is removed on close"


def test_segments_roll_and_go_once_their_records_are_done(tmp_path: Path) -> None:
    log = IngestLog(tmp_path / "log", segment_bytes=10_000, roll_bytes=10_000)
    record = LoggedRequest("p", "d", 1, 1, b"x" * 4_000)
    segments = [log.append(record).segment for _ in range(5)]
    assert len(set(segments)) == 3, "a segment holds what fits in its size"
    assert len(list((tmp_path / "log").glob("*.log"))) == 3
    log.done(segments[:4])
    assert len(list((tmp_path / "log").glob("*.log"))) == 1, "closed segments with nothing outstanding go"
    assert log.pending_records() == 1
    log.close()
    assert len(list((tmp_path / "log").glob("*.log"))) == 1, "a segment with an unwritten record is kept"


def post(client: TestClient, secret: str, body: bytes) -> ExportTraceServiceResponse:
    answer = client.post("/v1/traces", content=body, headers={**PROTOBUF, "x-api-key": secret})
    assert answer.status_code == 200, answer.text
    return ExportTraceServiceResponse.FromString(answer.content)


def test_an_answered_request_is_written_and_its_rejections_named(client: TestClient, services: Services,
                                                                 project_key: tuple[str, str],
                                                                 analytics: AnalyticsDB) -> None:
    body = make_request(random.Random(3), traces=2, spans_per_trace=10, payload_bytes=100)
    spans = body.resource_spans[0].scope_spans[0].spans
    bad = spans.add()
    bad.CopyFrom(spans[0])
    bad.trace_id = b"\x00" * 16
    response = post(client, project_key[1], body.SerializeToString())
    assert response.partial_success.rejected_spans == 1
    assert "invalid trace_id" in response.partial_success.error_message
    ids = [t for t in trace_ids_of(body) if t != "0" * 32]
    wait_for(lambda: raw_span_rows(analytics, ids) == 20, "the 20 good spans in the store")
    assert services.ingest_log is not None
    wait_for(lambda: services.ingest_log.pending_records() == 0, "the log's records done")
    assert services.health()["ingest"]["queryable_p99_ms"] is not None


def test_requests_logged_before_a_crash_are_written_at_start_once(tmp_path: Path, analytics: AnalyticsDB,
                                                                   metadata: MetadataStore) -> None:
    rng = random.Random(5)
    stored, lost = (make_request(rng, traces=2, spans_per_trace=5, payload_bytes=50) for _ in range(2))
    stored_body, lost_body = stored.SerializeToString(), lost.SerializeToString()
    # A first process writes one request the slow way (answered after its insert) ...
    first = make_services(tmp_path / "first", analytics, metadata, ingest_log=False)
    project = first.projects.create("crash")
    _key, secret = first.keys.create(project.id)
    with TestClient(create_app(first)) as client:
        post(client, secret, stored_body)
    first.stop_scoring()
    first.stop_writers()
    assert raw_span_rows(analytics, trace_ids_of(stored)) == 10
    # ... and the log a crash left holds both requests: one stored, one never written.
    home = tmp_path / "second"
    crashed = IngestLog(home / "ingest-log")
    for body in (stored_body, lost_body):
        crashed.append(LoggedRequest(project.id, hashlib.blake2b(body, digest_size=16).hexdigest(),
                                     time.time_ns(), 10, body))
    # no close(): the process died
    second = make_services(home, analytics, metadata)
    try:
        assert raw_span_rows(analytics, trace_ids_of(lost)) == 10, "written before the server serves"
        assert raw_span_rows(analytics, trace_ids_of(stored)) == 10, "not written twice"
        with TestClient(create_app(second)) as client:
            post(client, secret, lost_body)  # the exporter's retry after the crash
        assert second.ingest_log is not None
        wait_for(lambda: second.ingest_log.pending_records() == 0, "the log's records done")
        assert raw_span_rows(analytics, trace_ids_of(lost)) == 10, "the retry is recognised"
        assert list((home / "ingest-log").glob("*.log")) != [], "the active segment"
        assert len(list((home / "ingest-log").glob("*.log"))) == 1, "the crashed process's segment is gone"
    finally:
        second.stop_scoring()
        second.stop_writers()


def test_decode_workers_store_what_the_writer_thread_stores(tmp_path: Path, analytics: AnalyticsDB,
                                                            metadata: MetadataStore,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    """Two requests in one batch, split between two worker processes, land as the writer's thread maps them."""
    rng = random.Random(12)
    bodies = [make_request(rng, traces=2, spans_per_trace=10, payload_bytes=100).SerializeToString()
              for _ in range(2)]
    stored = []
    for processes in (0, 2):
        services = make_services(tmp_path / str(processes), analytics, metadata, ingest_decode_processes=processes,
                                 ingest_batch_delay_ms=500)
        project = services.projects.create(f"workers-{processes}")
        _key, secret = services.keys.create(project.id)
        try:
            with TestClient(create_app(services)) as client:
                for body in bodies:
                    post(client, secret, body)
            assert services.writer.settle(60)
            assert services.writer.stats.batches == 1, "both requests in one batch"
        finally:
            services.stop_scoring()
            services.stop_writers()
        stored.append(analytics.query(
            "SELECT s.* EXCEPT (project_id, ingested_at), p.input AS input, p.output AS output "
            "FROM spans AS s LEFT JOIN span_payloads AS p USING (project_id, trace_id, span_id) "
            "WHERE s.project_id = {p:String} ORDER BY s.trace_id, s.span_id",
            tag="tests.workers", params={"p": project.id}))
    assert len(stored[0]) == 40
    assert stored[0] == stored[1]
    assert "decode worker died" not in caplog.text


def test_every_decoder_stores_what_the_python_decoder_stores(tmp_path: Path, analytics: AnalyticsDB,
                                                                   metadata: MetadataStore,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    """`ingest_decoder=native` reads logged bodies with the C walker, `engine` maps them in the analytics engine;
    the stored spans are the same as through protobuf's Python objects."""
    body = make_request(random.Random(11), traces=2, spans_per_trace=10, payload_bytes=200).SerializeToString()
    stored = []
    for decoder in ("python", "native", "engine"):
        services = make_services(tmp_path / decoder, analytics, metadata, ingest_decoder=decoder)
        project = services.projects.create(f"decoder-{decoder}")
        _key, secret = services.keys.create(project.id)
        try:
            with TestClient(create_app(services)) as client:
                post(client, secret, body)
            assert services.writer.settle(60)
        finally:
            services.stop_scoring()
            services.stop_writers()
        rows = analytics.query(
            "SELECT s.* EXCEPT (project_id, ingested_at), p.input AS input, p.output AS output "
            "FROM spans AS s LEFT JOIN span_payloads AS p USING (project_id, trace_id, span_id) "
            "WHERE s.project_id = {p:String} ORDER BY s.trace_id, s.span_id",
            tag="tests.decoders", params={"p": project.id})
        assert len(rows) == 20
        stored.append(rows)
    assert stored[0] == stored[1] == stored[2]
    assert "could not map" not in caplog.text, "the engine mapped the batch itself, without the fallback"


def test_answered_requests_are_written_once_the_store_can_write_again(
        client: TestClient, services: Services, project_key: tuple[str, str], analytics: AnalyticsDB) -> None:
    body = make_request(random.Random(13), traces=2, spans_per_trace=5, payload_bytes=50)
    analytics.command("RENAME TABLE span_payloads TO span_payloads_away", tag="tests.break")
    try:
        post(client, project_key[1], body.SerializeToString())  # answered: it is in the log
        wait_for(lambda: services.writer.stats.failures >= 2, "the writer failing and trying again")
        assert raw_span_rows(analytics, trace_ids_of(body)) == 0
    finally:
        analytics.command("RENAME TABLE span_payloads_away TO span_payloads", tag="tests.mend")
    assert services.writer.settle(60), "written once the table is back"
    assert raw_span_rows(analytics, trace_ids_of(body)) == 10
    assert services.ingest_log is not None
    wait_for(lambda: services.ingest_log.pending_records() == 0, "the log's records done")


def rollup_spans(analytics: AnalyticsDB, trace_ids: list[str]) -> dict[str, int]:
    """Spans of these traces as the rollups count them (they count what is inserted: a batch written twice
    counts twice), and the trace list's newest row for each."""
    params = {"t": trace_ids}
    traces = analytics.query("SELECT sum(span_count) AS n FROM traces WHERE has({t:Array(String)}, trace_id)",
                             tag="tests.rollup", params=params)
    rows = analytics.query("SELECT trace_id, max(span_count) AS n FROM trace_rows "
                           "WHERE has({t:Array(String)}, trace_id) GROUP BY trace_id", tag="tests.rows", params=params)
    return {"traces": int(traces[0]["n"]), "trace_rows": sum(int(r["n"]) for r in rows), "listed": len(rows)}


def test_a_failed_trace_list_refresh_does_not_write_the_spans_twice(
        client: TestClient, services: Services, project_key: tuple[str, str], analytics: AnalyticsDB,
        caplog: pytest.LogCaptureFixture) -> None:
    """Once a batch's spans are in the store it is written; if the trace list's rows then cannot be rewritten,
    the batch is not written again (its spans and rollups would count twice): the rows are rewritten with the
    next batch."""
    first = make_request(random.Random(17), traces=2, spans_per_trace=5, payload_bytes=50)
    analytics.command("RENAME TABLE trace_rows TO trace_rows_away", tag="tests.break")
    try:
        post(client, project_key[1], first.SerializeToString())
        assert services.writer.settle(60), "written although the trace list's rows could not be"
        assert services.writer.stats.failures == 0
    finally:
        analytics.command("RENAME TABLE trace_rows_away TO trace_rows", tag="tests.mend")
    assert "trace list rows of 2 traces could not be rewritten" in caplog.text
    assert rollup_spans(analytics, trace_ids_of(first)) == {"traces": 10, "trace_rows": 0, "listed": 0}
    second = make_request(random.Random(19), traces=1, spans_per_trace=5, payload_bytes=50)
    post(client, project_key[1], second.SerializeToString())
    assert services.writer.settle(60)
    assert raw_span_rows(analytics, trace_ids_of(first)) == 10
    assert rollup_spans(analytics, trace_ids_of(first)) == {"traces": 10, "trace_rows": 10, "listed": 2}
    assert rollup_spans(analytics, trace_ids_of(second)) == {"traces": 5, "trace_rows": 5, "listed": 1}


def test_a_waiting_request_is_read_back_from_the_log_and_a_damaged_one_is_named(
        services: Services, caplog: pytest.LogCaptureFixture) -> None:
    """Requests waiting to be written are held as places in the ingest log, not as bodies in memory; one whose
    record no longer reads back as written is left out with an error naming it, and the others are mapped."""
    ingest_log = services.ingest_log
    assert ingest_log is not None
    bodies = [make_request(random.Random(seed), traces=1, spans_per_trace=4).SerializeToString() for seed in (1, 2)]
    logged = [ingest_log.append(LoggedRequest("p", f"digest-{i}", 1, 4, body)) for i, body in enumerate(bodies)]
    assert [r.body for r in logged] == [b"", b""]
    damaged = logged[1]
    with (ingest_log._path(damaged.segment)).open("r+b") as segment:  # a byte of its body changes on disk
        segment.seek(damaged.offset + damaged.size - 10)
        byte = segment.read(1)
        segment.seek(-1, 1)
        segment.write(bytes([byte[0] ^ 0xFF]))
    spans, _payloads = services.ingest.materialize(logged)
    assert set(spans.column("ingest_request").to_pylist()) == {"digest-0"}
    assert spans.num_rows == 4
    assert "logged request digest-1 (project p) could not be read back from the ingest log" in caplog.text
    services.ingest.written(logged)
    assert ingest_log.pending_records() == 0
