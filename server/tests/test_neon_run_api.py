"""NeonRunAPI, the workers' client, against a live server: blobs, spans (retries recognised), stream events."""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from neon.execute.neon_api import NeonAPIError, NeonRunAPI
from neon.execute.shared import Connection, blob_ref, span_id_for, trace_id_for
from neon.execute.spans import to_otlp_json
from neon_server.runtime import Services
from neon_server.storage.analytics import AnalyticsDB
from neon_server.storage.metadata import MetadataStore
from server.tests.conftest import LiveServer, free_port, make_services
from server.tests.test_run_stream import Subscriber

BLOB_LIMIT = 4096


@pytest.fixture
def metadata_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'neon.db'}"


@pytest.fixture
def services(tmp_path: Path, analytics: AnalyticsDB, metadata: MetadataStore) -> Iterator[Services]:
    made = make_services(tmp_path, analytics, metadata, agent_blob_max_bytes=BLOB_LIMIT,
                         agent_blob_max_batch_bytes=2 * BLOB_LIMIT)
    yield made
    made.stop_scoring()
    made.stop_writers()


@pytest.fixture
def project(services: Services) -> dict[str, Any]:
    made = services.projects.create(f"p-{secrets.token_hex(4)}")
    _key, key = services.keys.create(made.id)
    return {"id": made.id, "key": key, "token": services.run_tokens.issue(made.id)}


def connect(server: LiveServer, project: dict[str, Any], **options: Any) -> NeonRunAPI:
    return NeonRunAPI(Connection(neon_url=server.url, run_token=project["token"]), **options)


def test_blobs_round_trip(live_server: LiveServer, project: dict[str, Any]) -> None:
    values: list[Any] = [{"role": "user", "content": "Wie spät ist es?"}, {"role": "tool", "content": [1, 2.5]}, "x"]

    async def scenario() -> None:
        async with connect(live_server, project) as neon:
            refs = await neon.put_blobs(values)
            assert refs == [blob_ref(v) for v in values]
            assert await neon.put_blobs(values) == refs  # again: nothing new, same refs
            assert await neon.get_blobs([refs[2], refs[0], refs[2]]) == [values[2], values[0], values[2]]
            assert await neon.put_blobs([]) == []
            assert await neon.get_blobs([]) == []
            missing = blob_ref("never stored")
            with pytest.raises(NeonAPIError) as err:
                await neon.get_blobs([refs[0], missing])
            assert err.value.status == 404
            assert not err.value.retryable
            assert f"Neon answered 404 to POST /api/agent-blobs/get: no agent blob {missing}" in str(err.value)

    asyncio.run(scenario())


def test_blobs_are_sent_and_fetched_within_the_servers_limits(live_server: LiveServer,
                                                             project: dict[str, Any]) -> None:
    values = [f"{i}:" + "v" * (BLOB_LIMIT - 10) for i in range(5)]  # together over the server's batch limit

    async def scenario() -> None:
        async with connect(live_server, project, max_batch_bytes=2 * BLOB_LIMIT) as neon:
            refs = await neon.put_blobs(values)
            assert refs == [blob_ref(v) for v in values]
            # One request for all five would be answered 413: the client asks for halves until they fit.
            assert await neon.get_blobs(refs) == values
            with pytest.raises(NeonAPIError) as err:
                await neon.put_blobs(["w" * BLOB_LIMIT])
            assert err.value.status == 413
            assert "NEON_AGENT_BLOB_MAX_BYTES" in str(err.value)

    asyncio.run(scenario())


def run_spans(run_id: str, *, end_ns: int) -> list[dict[str, Any]]:
    trace_id = trace_id_for(run_id)
    root = span_id_for(run_id, "run", "agent")
    start = end_ns - 3_000_000_000
    common = {"neon.agent_id": "support", "neon.agent_version": "v1"}
    return [
        {"trace_id": trace_id, "span_id": root, "parent_span_id": "", "name": "support", "start_ns": start,
         "end_ns": end_ns, "status": "ok", "status_message": "", "attributes": {**common, "neon.span_type": "agent"}},
        {"trace_id": trace_id, "span_id": span_id_for(run_id, "0.0", "llm"), "parent_span_id": root,
         "name": "llm gpt-4o", "start_ns": start + 1_000, "end_ns": start + 900_000_000, "status": "ok",
         "status_message": "", "attributes": {**common, "neon.span_type": "generation", "neon.model": "gpt-4o",
                                              "gen_ai.usage.input_tokens": 12, "gen_ai.usage.output_tokens": 3,
                                              "neon.output": '{"text": "calling lookup"}'}},
        {"trace_id": trace_id, "span_id": span_id_for(run_id, "0.1", "tool"), "parent_span_id": root,
         "name": "tool lookup", "start_ns": start + 1_000_000_000, "end_ns": start + 1_200_000_000,
         "status": "error", "status_message": "account locked",
         "attributes": {**common, "neon.span_type": "tool", "neon.tool.name": "lookup"}},
    ]


def test_spans_land_once_however_often_sent(live_server: LiveServer, project: dict[str, Any]) -> None:
    run_id = "run_01JDEXAMPLE0000000000000001"
    spans = run_spans(run_id, end_ns=time.time_ns())
    trace_id = trace_id_for(run_id)
    writer = live_server.services.writer

    async def scenario() -> None:
        async with connect(live_server, project) as neon:
            await neon.ingest_spans(spans)
            written = writer.stats.spans
            # A retry rebuilds its input: other dicts, other key order — the same bytes on the wire.
            await neon.ingest_spans([dict(reversed(list(span.items()))) for span in spans])
            assert writer.stats.spans == written
            await neon.ingest_spans([])

    asyncio.run(scenario())
    assert to_otlp_json(spans) == to_otlp_json([dict(reversed(list(s.items()))) for s in spans])
    got = httpx.get(f"{live_server.url}/api/traces/{trace_id}", headers={"x-api-key": project["key"]}, timeout=10)
    assert got.status_code == 200, got.text
    detail = got.json()
    assert detail["trace"]["span_count"] == 3  # only the spans sent: no implicit root, and a retry counted once
    assert detail["trace"]["name"] == "support"
    assert detail["trace"]["root_span_id"] == span_id_for(run_id, "run", "agent")
    by_name = {span["name"]: span for span in detail["spans"]}
    assert set(by_name) == {"support", "llm gpt-4o", "tool lookup"}
    assert by_name["llm gpt-4o"]["parent_span_id"] == span_id_for(run_id, "run", "agent")
    assert by_name["tool lookup"]["status"] == "error"
    assert by_name["support"]["duration_ns"] == 3_000_000_000
    assert by_name["support"]["agent_id"] == by_name["tool lookup"]["agent_id"] == "support"


def test_published_events_reach_a_subscriber_in_order(live_server: LiveServer, project: dict[str, Any]) -> None:
    run_id = "run_01JDEXAMPLE0000000000000002"
    listener = Subscriber(live_server.url, run_id, {"x-api-key": project["key"]})
    events = [{"type": "delta", "step_key": "0.0", "attempt": 1, "text": piece} for piece in ("Hel", "lo", "!")]
    events.append({"type": "step", "step_key": "0.0", "attempt": 1, "data": {"status": "ok"}})

    async def scenario() -> None:
        async with connect(live_server, project) as neon:
            await neon.publish(run_id, events[:2])
            await neon.publish(run_id, events[2:])
            await neon.publish(run_id, [{"type": "dropped", "step_key": "", "attempt": 1}])  # refused: no raise
            await neon.publish(run_id, [])

    try:
        asyncio.run(scenario())
        got = listener.take(4)
        assert [data for _, data in got] == events
        assert listener.take(1, timeout=0.5) == []
    finally:
        listener.stop.set()
        httpx.post(f"{live_server.url}/api/agent-runs/{run_id}/stream", json=events[:1], timeout=10,
                   headers={"x-api-key": project["key"]})


def test_refusals_raise_with_status_and_message(live_server: LiveServer, project: dict[str, Any]) -> None:
    forged = {**project, "token": project["token"][:-3] + "abc"}

    async def scenario() -> None:
        async with connect(live_server, forged) as neon:
            started = time.monotonic()
            with pytest.raises(NeonAPIError) as err:
                await neon.put_blobs(["x"])
            assert time.monotonic() - started < 2  # a 401 is not retried
            assert err.value.status == 401
            assert "Neon answered 401 to POST /api/agent-blobs" in str(err.value)
            assert "invalid signature" in str(err.value)
            await neon.publish("run_1", [{"type": "delta", "step_key": "", "attempt": 1}])  # best effort

    asyncio.run(scenario())


def test_retries_until_neon_answers(services: Services, project: dict[str, Any]) -> None:
    server = LiveServer(services)  # not started yet: connections are refused
    timer = threading.Timer(0.8, server.__enter__)
    timer.start()
    try:
        async def scenario() -> list[str]:
            async with connect(server, project, backoff=0.2, max_backoff=0.5, max_attempts=20) as neon:
                return await neon.put_blobs(["after a restart"])

        assert asyncio.run(scenario()) == [blob_ref("after a restart")]
    finally:
        timer.join()
        server.__exit__()


def test_gives_up_and_says_where(project: dict[str, Any]) -> None:
    nowhere = Connection(neon_url=f"http://127.0.0.1:{free_port()}", run_token=project["token"])

    async def scenario() -> None:
        async with NeonRunAPI(nowhere, backoff=0.01, max_attempts=3, publish_timeout=0.5) as neon:
            with pytest.raises(NeonAPIError) as err:
                await neon.ingest_spans(run_spans("run_x", end_ns=time.time_ns()))
            assert err.value.status is None
            assert err.value.retryable
            assert "did not answer POST /v1/traces" in str(err.value)
            assert "(after 3 attempts)" in str(err.value)
            started = time.monotonic()
            await neon.publish("run_x", [{"type": "delta", "step_key": "", "attempt": 1}])
            assert time.monotonic() - started < 1.5

    asyncio.run(scenario())
