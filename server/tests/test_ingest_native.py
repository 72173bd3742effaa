"""Native JSON ingest, overload answers, live announcements, price overrides, and a fuzz of bad bodies."""

from __future__ import annotations

import asyncio
import gzip
import importlib.metadata
import json
import random
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from neon_server.runtime import Services
from neon_server.storage.analytics import AnalyticsDB
from neon_server.storage.metadata import MetadataStore
from server.tests.conftest import LiveServer, make_services
from server.tests.test_ingest_otlp import raw_request, spans_of


@pytest.fixture
def metadata_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'neon.db'}"


def native(server: LiveServer, secret: str, body: Any) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.post(f"{server.url}/api/traces/ingest", content=content, timeout=30,
                      headers={"Authorization": f"Bearer {secret}", "content-type": "application/json"})


def test_native_trace_shape(live_server: LiveServer, project_key: tuple[str, str], analytics: AnalyticsDB) -> None:
    trace_id = "0af7651916cd43dd8448eb211c80319c"
    response = native(live_server, project_key[1], {
        "trace_id": trace_id, "name": "my-agent", "status": "ok", "session_id": "s-7", "user_id": "u-1",
        "agent_id": "planner", "agent_version": "2", "tags": ["nightly"], "input": {"question": "2+2?"},
        "output": "4",
        "spans": [
            {"span_id": "plan", "name": "plan", "type": "generation", "model": "gpt-4o-mini", "provider": "openai",
             "input_tokens": 1000, "output_tokens": 100, "start_time": "2026-11-20T12:00:00Z",
             "duration_ms": 250, "input": [{"role": "user", "content": "2+2?"}], "output": "use calc",
             "component_type": "planning"},
            {"span_id": "calc", "parent_span_id": "plan", "name": "calculator", "type": "tool",
             "tool_name": "calculator", "start_time": 1795176000.3, "end_time": 1795176000.4, "status": "error",
             "status_message": "division by zero", "attributes": {"attempt": 2}},
        ]})
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer == {"accepted_spans": 3, "rejected_spans": 0, "errors": "", "duplicate": False,
                      "trace_ids": [trace_id]}
    spans = spans_of(analytics, trace_id)
    root, plan, calc = spans["my-agent"], spans["plan"], spans["calculator"]
    assert (root["parent_span_id"], root["span_type"], root["status"]) == ("", "agent", 1)
    assert json.loads(root["input"]) == {"question": "2+2?"}
    assert plan["parent_span_id"] == root["span_id"]
    assert calc["parent_span_id"] == plan["span_id"]
    assert (plan["span_type"], plan["model"], plan["component_type"], plan["session_id"]) == (
        "generation", "gpt-4o-mini", "planning", "s-7")
    assert plan["cost"] == pytest.approx((1000 * 0.15 + 100 * 0.6) / 1e6)
    assert plan["duration_ns"] == 250_000_000
    assert (calc["status"], calc["status_message"], dict(calc["attributes"])["attempt"]) == (
        2, "division by zero", "2")
    assert root["start_time"].value == plan["start_time"].value  # root spans its children
    assert root["agent_id"] == "planner"


def test_native_rejections_are_named(live_server: LiveServer, project_key: tuple[str, str]) -> None:
    response = native(live_server, project_key[1], {"traces": [
        {"trace_id": "not-hex", "name": "x", "spans": [{"span_id": "a"}]},
        {"name": "ok", "spans": [{"span_id": "a", "start_time": "tomorrow-ish"}, {"name": "no id"}, 7,
                                 {"span_id": "b", "start_time": "2026-11-20T12:00:00Z"}]},
    ]})
    assert response.status_code == 200
    answer = response.json()
    assert answer["accepted_spans"] == 2  # span b and the generated root of the second trace
    assert answer["rejected_spans"] == 5
    assert "traces[0].trace_id must be 32 hex characters or a UUID" in answer["errors"]
    assert "traces[1].spans[0]: unparseable time" in answer["errors"]
    assert len(answer["trace_ids"][1]) == 32  # generated
    nothing = native(live_server, project_key[1], {"trace_id": "bad"})
    assert nothing.status_code == 400
    assert native(live_server, project_key[1], b"[").status_code == 400
    wrong_type = httpx.post(f"{live_server.url}/api/traces/ingest", content=b"{}",
                            headers={"x-api-key": project_key[1], "content-type": "text/csv"})
    assert wrong_type.status_code == 415


def test_full_buffer_answers_429_with_retry_after(tmp_path: Path, analytics: AnalyticsDB,
                                                  metadata: MetadataStore) -> None:
    services = make_services(tmp_path, analytics, metadata, ingest_buffer_rows=3, ingest_batch_rows=1000,
                             ingest_batch_delay_ms=1500)
    project = services.projects.create("busy")
    _key, secret = services.keys.create(project.id)
    try:
        with LiveServer(services) as server:
            def body(n: int, seed: int) -> bytes:
                request = raw_request(bytes([seed]) * 16, b"\x01" * 8)
                spans = request.resource_spans[0].scope_spans[0].spans
                for i in range(2, n + 1):
                    spans.append(raw_request(bytes([seed]) * 16, bytes([i]) * 8).resource_spans[0]
                                 .scope_spans[0].spans[0])
                return request.SerializeToString()

            async def scenario() -> list[httpx.Response]:
                async with httpx.AsyncClient(timeout=30) as client:
                    headers = {"x-api-key": secret, "content-type": "application/x-protobuf"}
                    first = asyncio.create_task(client.post(f"{server.url}/v1/traces", content=body(2, 1),
                                                            headers=headers))
                    while services.writer.pending_rows < 2:  # the first request's spans wait in the buffer
                        assert not first.done(), (await first).text
                        await asyncio.sleep(0.01)
                    second = await client.post(f"{server.url}/v1/traces", content=body(2, 2), headers=headers)
                    return [await first, second]

            first, second = asyncio.run(scenario())
            assert first.status_code == 200
            assert second.status_code == 429
            assert second.headers["retry-after"] == "1"
            assert services.writer.stats.rejected_overload == 1
    finally:
        services.stop_writers()


def test_written_spans_are_announced_live(services: Services, project_key: tuple[str, str]) -> None:
    project_id, _secret = project_key

    async def scenario() -> dict[str, Any]:
        subscription = services.live.subscribe(project_id)
        other = services.live.subscribe("someone-else")
        request = raw_request(bytes.fromhex("44" * 16), b"\x01" * 8, "live root")
        result = await services.ingest.otlp(project_id, request.SerializeToString(), json_body=False)
        assert result.accepted == 1
        event = await asyncio.wait_for(subscription.queue.get(), 5)
        assert other.queue.empty()
        services.live.unsubscribe(subscription)
        services.live.unsubscribe(other)
        return event

    event = asyncio.run(scenario())
    assert event["trace_ids"] == ["44" * 16]
    assert event["root_spans"][0]["name"] == "live root"
    assert event["span_count"] == 1


def test_project_price_overrides(live_server: LiveServer, project_key: tuple[str, str],
                                 analytics: AnalyticsDB) -> None:
    headers = {"x-api-key": project_key[1]}
    url = f"{live_server.url}/api/model-prices"
    table = httpx.get(url, headers=headers, params={"model": "gpt-4o-2024-08-06"}).json()
    assert table["default_source"]["name"] == "genai-prices"
    assert table["default_source"]["version"] == importlib.metadata.version("genai-prices")
    assert table["default_source"]["models"] > 500
    assert table["lookup"] == {"model": "gpt-4o-2024-08-06", "provider": "", "source": "genai-prices",
                               "matched_provider": "openai", "matched_model": "gpt-4o", "tiered": False,
                               "price": {"input": 2.5, "output": 10.0, "cached_input": 1.25}}
    assert httpx.put(f"{url}/my-finetune", headers=headers, json={"input": 1, "output": 2}).status_code == 200
    mine = httpx.get(url, headers=headers, params={"model": "my-finetune-2026-01-31"}).json()["lookup"]
    assert (mine["source"], mine["price"]) == ("override", {"input": 1.0, "output": 2.0, "cached_input": 1.0})
    unknown = httpx.get(url, headers=headers, params={"model": "nobody-knows-me"}).json()["lookup"]
    assert (unknown["source"], unknown["price"]) == (None, None)
    bad = httpx.put(f"{url}/x", headers=headers, json={"input": -1, "output": 2})
    assert bad.status_code == 422
    trace_id = "55" * 16
    native(live_server, project_key[1], {"trace_id": trace_id, "name": "t", "spans": [
        {"span_id": "a", "name": "ft", "model": "My-Finetune", "input_tokens": 1_000_000, "output_tokens": 500_000},
        {"span_id": "b", "name": "mystery", "model": "nobody-knows-me", "input_tokens": 10}]})
    spans = spans_of(analytics, trace_id)
    assert spans["ft"]["cost"] == pytest.approx(2.0)
    assert spans["mystery"]["cost"] is None
    assert httpx.get(url, headers=headers).json()["overrides"] == {
        "my-finetune": {"input": 1.0, "output": 2.0, "cached_input": None}}
    assert httpx.delete(f"{url}/my-finetune", headers=headers).status_code == 204
    assert httpx.delete(f"{url}/my-finetune", headers=headers).status_code == 404


def mutations(rng: random.Random, valid: bytes) -> list[tuple[str, bytes]]:
    cases: list[tuple[str, bytes]] = []
    for _ in range(60):
        data = bytearray(valid)
        for _ in range(rng.randrange(1, 8)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        cases.append(("application/x-protobuf", bytes(data)))
        cases.append(("application/x-protobuf", valid[: rng.randrange(len(valid))]))
        cases.append(("application/x-protobuf", rng.randbytes(rng.randrange(1, 400))))
    json_bodies: list[Any] = [None, 1, "x", [], {"resourceSpans": 5}, {"resourceSpans": [None]},
                              {"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": 5}]}]}]},
                              {"resourceSpans": [{"resource": {"attributes": [{"key": 1, "value": {"intValue": "x"}}]},
                                                  "scopeSpans": []}]},
                              {"traces": [{"spans": [{"span_id": {"a": 1}, "start_time": [], "duration_ms": "x"}]}]},
                              {"trace_id": None, "spans": "no"}, {"spans": [{"span_id": 1, "end_time": -5}]}]
    for body in json_bodies:
        cases.append(("application/json", json.dumps(body).encode()))
    for _ in range(40):
        text = json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [
            {"traceId": "ab" * 16, "spanId": "cd" * 8, "startTimeUnixNano": "1", "name": "n"}]}]}]}).encode()
        data = bytearray(text)
        for _ in range(rng.randrange(1, 5)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        cases.append(("application/json", bytes(data)))
    cases.append(("application/x-protobuf", gzip.compress(b"\x00" * 1000)[:-3]))
    return cases


@pytest.mark.slow
def test_fuzzed_bodies_never_break_the_server(live_server: LiveServer, project_key: tuple[str, str],
                                              analytics: AnalyticsDB) -> None:
    rng = random.Random(20261123)
    valid = raw_request(bytes.fromhex("66" * 16), b"\x01" * 8, "valid").SerializeToString()
    headers = {"x-api-key": project_key[1]}
    statuses: dict[int, int] = {}
    with httpx.Client(timeout=30) as client:
        for content_type, body in mutations(rng, valid):
            for path in ("/v1/traces", "/api/traces/ingest"):
                extra = {"content-encoding": "gzip"} if body[:2] == b"\x1f\x8b" else {}
                response = client.post(f"{live_server.url}{path}", content=body,
                                       headers={**headers, "content-type": content_type, **extra})
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
                assert response.status_code in (200, 400, 413, 415), (path, body[:80], response.text)
        assert client.get(f"{live_server.url}/api/health").json()["status"] == "ok"
        fresh = raw_request(bytes.fromhex("77" * 16), b"\x01" * 8, "after fuzz").SerializeToString()
        response = client.post(f"{live_server.url}/v1/traces", content=fresh,
                               headers={**headers, "content-type": "application/x-protobuf"})
        assert response.status_code == 200
    live_server.settle()
    assert set(spans_of(analytics, "77" * 16)) == {"after fuzz"}
    assert statuses.get(400, 0) > 50  # the fuzz did reach the decoders
    time.sleep(0)
