"""Pacing: while answered spans wait unwritten beyond NEON_INGEST_LAG_ROWS, new requests wait for the writer."""

from __future__ import annotations

import asyncio
from pathlib import Path

from neon_server.runtime import Services
from neon_server.storage.analytics import AnalyticsDB
from neon_server.storage.metadata import MetadataStore
from server.tests.conftest import make_services
from server.tests.test_ingest_otlp import raw_request, spans_of

FIRST, SECOND, THIRD = "a1" * 16, "b2" * 16, "c3" * 16


def body(trace_id: str) -> bytes:
    return raw_request(bytes.fromhex(trace_id), b"\x01" * 8, trace_id[:2]).SerializeToString()


def paced_services(tmp_path: Path, analytics: AnalyticsDB, metadata: MetadataStore, pace_ms: int) -> Services:
    # One span unwritten is the limit, and a batch is written 2 s after its first span arrives: the first
    # request is answered at once (logged) and its span stays unwritten while the second request comes.
    return make_services(tmp_path, analytics, metadata, ingest_lag_rows=1, ingest_batch_rows=1000,
                         ingest_batch_delay_ms=2000, ingest_pace_ms=pace_ms)


def test_a_request_behind_unwritten_spans_is_answered_after_they_are_written(
        tmp_path: Path, analytics: AnalyticsDB, metadata: MetadataStore) -> None:
    services = paced_services(tmp_path, analytics, metadata, pace_ms=60_000)
    project = services.projects.create("paced")
    try:
        async def scenario() -> None:
            first = await services.ingest.otlp(project.id, body(FIRST), json_body=False)
            assert (first.accepted, services.ingest.pacer.stats.paced_requests) == (1, 0)
            second = await services.ingest.otlp(project.id, body(SECOND), json_body=False)
            assert second.accepted == 1
            # The answer came only once the spans answered before it were in the store.
            assert list(spans_of(analytics, FIRST)) == ["a1"]
            assert services.ingest.pacer.stats.paced_requests == 1
            assert services.ingest.pacer.stats.waits_timed_out == 0

        asyncio.run(scenario())
        assert services.health()["ingest"]["paced_requests"] == 1
    finally:
        services.stop_writers()
    assert list(spans_of(analytics, SECOND)) == ["b2"]


def test_a_paced_request_is_taken_after_the_longest_wait(tmp_path: Path, analytics: AnalyticsDB,
                                                         metadata: MetadataStore) -> None:
    """A stuck or slow store does not hold senders longer than NEON_INGEST_PACE_MS: the request is logged and
    answered, and written with the rest."""
    services = paced_services(tmp_path, analytics, metadata, pace_ms=100)
    project = services.projects.create("slow-store")
    try:
        async def scenario() -> None:
            await services.ingest.otlp(project.id, body(FIRST), json_body=False)
            second = await services.ingest.otlp(project.id, body(SECOND), json_body=False)
            assert second.accepted == 1
            assert services.ingest.pacer.stats.waits_timed_out == 1
            assert services.writer.unwritten_rows == 2  # both answered; neither written yet

        asyncio.run(scenario())
        # Another event loop (a server restarted in the same process) paces the same way.
        third = asyncio.run(services.ingest.otlp(project.id, body(THIRD), json_body=False))
        assert (third.accepted, services.ingest.pacer.stats.waits_timed_out) == (1, 2)
    finally:
        services.stop_writers()  # writes what is pending
    assert list(spans_of(analytics, FIRST)) == ["a1"]
    assert list(spans_of(analytics, SECOND)) == ["b2"]
    assert list(spans_of(analytics, THIRD)) == ["c3"]
