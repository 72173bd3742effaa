"""The run stream: events published by workers reach that run's subscribers, in order, and a slow subscriber
loses events (and is told) without ever holding the publisher up."""

from __future__ import annotations

import asyncio
import json
import queue
import secrets
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from neon_server.runtime import Services
from neon_server.services.run_stream import RunStreamHub
from neon_server.storage.analytics import AnalyticsDB
from neon_server.storage.metadata import MetadataStore
from server.tests.conftest import LiveServer, make_services

QUEUE_SIZE = 8


@pytest.fixture
def metadata_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'neon.db'}"


@pytest.fixture
def services(tmp_path: Path, analytics: AnalyticsDB, metadata: MetadataStore) -> Iterator[Services]:
    made = make_services(tmp_path, analytics, metadata, run_stream_queue_size=QUEUE_SIZE)
    yield made
    made.stop_scoring()
    made.stop_writers()


def new_project(services: Services) -> dict[str, Any]:
    project = services.projects.create(f"p-{secrets.token_hex(4)}")
    _key, key = services.keys.create(project.id)
    return {"id": project.id, "key": {"Authorization": f"Bearer {key}"},
            "token": {"Authorization": f"Bearer {services.run_tokens.issue(project.id)}"}}


def delta(i: int, text: str = "", attempt: int = 1) -> dict[str, Any]:
    return {"type": "delta", "step_key": "0.1", "attempt": attempt, "text": text or f"t{i}", "data": {"i": i}}


class Subscriber:
    """An SSE client on its own thread; `gate` (when given) holds it before it reads past `: connected`."""

    def __init__(self, url: str, run_id: str, headers: dict[str, str], gate: threading.Event | None = None) -> None:
        self.events: queue.Queue[tuple[str, dict[str, Any]]] = queue.Queue()
        self.connected = threading.Event()
        self.stop = threading.Event()
        self.gate = gate
        self.thread = threading.Thread(target=self._run, args=(f"{url}/api/agent-runs/{run_id}/events", headers),
                                       daemon=True)
        self.thread.start()
        assert self.connected.wait(10), "the subscriber did not connect"

    def _run(self, url: str, headers: dict[str, str]) -> None:
        with httpx.stream("GET", url, headers=headers, timeout=httpx.Timeout(60, read=60)) as response:
            assert response.status_code == 200
            kind = ""
            for line in response.iter_lines():
                if line == ": connected":
                    self.connected.set()
                    if self.gate is not None:
                        self.gate.wait(60)
                elif line.startswith("event: "):
                    kind = line[len("event: "):]
                elif line.startswith("data: "):
                    self.events.put((kind, json.loads(line[len("data: "):])))
                if self.stop.is_set():
                    return

    def take(self, count: int, timeout: float = 10) -> list[tuple[str, dict[str, Any]]]:
        got = []
        deadline = time.monotonic() + timeout
        while len(got) < count and time.monotonic() < deadline:
            try:
                got.append(self.events.get(timeout=0.2))
            except queue.Empty:
                continue
        return got


def publish(server: LiveServer, run_id: str, headers: dict[str, str], events: list[dict[str, Any]]) -> httpx.Response:
    return httpx.post(f"{server.url}/api/agent-runs/{run_id}/stream", headers=headers, json=events, timeout=10)


def test_hub_drops_past_the_queue_and_says_how_many() -> None:
    async def scenario() -> None:
        hub = RunStreamHub(queue_size=4)
        sub = hub.subscribe("prj_a", "run_1")
        elsewhere = hub.subscribe("prj_b", "run_1")
        started = time.monotonic()
        assert hub.publish("prj_a", "run_1", [delta(i) for i in range(10)]) == 1
        assert time.monotonic() - started < 0.5  # nobody read: publishing still returned at once
        frames = [await sub.next(wait_seconds=1) for _ in range(5)]
        assert [f and json.loads(f.split("data: ")[1])["data"]["i"] for f in frames[:4]] == [0, 1, 2, 3]
        assert frames[4] is not None
        assert frames[4].startswith("event: dropped\n")
        assert json.loads(frames[4].split("data: ")[1]) == {"type": "dropped", "count": 6, "total_dropped": 6}
        assert await sub.next(wait_seconds=0.05) is None
        hub.publish("prj_a", "run_1", [delta(10)])
        later = await sub.next(wait_seconds=1)
        assert later is not None
        assert json.loads(later.split("data: ")[1])["data"]["i"] == 10
        assert await elsewhere.next(wait_seconds=0.05) is None  # another project's run of the same id
        hub.unsubscribe(sub)
        hub.unsubscribe(elsewhere)
        assert hub.publish("prj_a", "run_1", [delta(11)]) == 0
        assert hub.stats() == {"subscribers": 0, "published_events": 12, "dropped_events": 6}

    asyncio.run(scenario())


def test_events_reach_the_runs_subscribers_in_order(live_server: LiveServer) -> None:
    services = live_server.services
    mine, other = new_project(services), new_project(services)
    run_id = "run_01JDEXAMPLE0000000000000000"
    listener = Subscriber(live_server.url, run_id, mine["key"])
    other_listener = Subscriber(live_server.url, run_id, other["key"])
    try:
        assert publish(live_server, "run_other", mine["token"], [delta(99)]).json()["subscribers"] == 0
        assert publish(live_server, run_id, other["token"], [delta(98)]).json()["subscribers"] == 1
        sent = [delta(0, "Hel"), delta(1, "lo"), delta(2, "Hi", attempt=2)]
        answer = publish(live_server, run_id, mine["token"], sent[:2])
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"published": 2, "subscribers": 1}
        step = {"type": "step", "step_key": "0.1", "attempt": 2, "data": {"status": "ok", "kind": "llm"}}
        assert publish(live_server, run_id, mine["key"], [sent[2], step]).status_code == 200
        got = listener.take(4)
        assert [kind for kind, _ in got] == ["delta", "delta", "delta", "step"]
        assert [data for _, data in got[:3]] == sent
        assert got[3][1] == step  # absent fields are left out, not sent as null
        assert [data["data"]["i"] for _, data in other_listener.take(1)] == [98]
        assert listener.take(1, timeout=0.5) == []  # nothing of run_other, nothing of the other project
    finally:
        for sub in (listener, other_listener):
            sub.stop.set()
        publish(live_server, run_id, mine["token"], [delta(100)])  # wakes the listeners so they hang up
        publish(live_server, run_id, other["token"], [delta(100)])


@pytest.mark.parametrize(("events", "message"), [
    ([{"type": "delta", "step_key": "0.1", "text": "x"}], "[0].attempt: Field required"),
    ([{"type": "dropped", "step_key": "", "attempt": 1}], "cannot be published"),
    ([{"type": "Delta!", "step_key": "", "attempt": 1}], "[0].type: String should match pattern"),
    ([{"type": "delta", "step_key": "", "attempt": 0}], "[0].attempt: Input should be greater than or equal to 1"),
    ([{"type": "delta", "step_key": "", "attempt": 1, "secret": "x"}], "[0].secret: Extra inputs"),
    ({"type": "delta", "step_key": "", "attempt": 1}, "body: Input should be a valid array"),
])
def test_bad_events_are_422(client: TestClient, services: Services, events: object, message: str) -> None:
    project = new_project(services)
    response = client.post("/api/agent-runs/run_1/stream", headers=project["token"], json=events)
    assert response.status_code == 422
    assert message in response.json()["error"]["message"]


def test_stream_limits_and_auth(client: TestClient, services: Services) -> None:
    project = new_project(services)
    limit = services.settings.run_stream_max_body_bytes
    too_big = client.post("/api/agent-runs/run_1/stream", headers=project["token"],
                          json=[delta(0, "x" * limit)])
    assert too_big.status_code == 413
    assert "NEON_RUN_STREAM_MAX_BODY_BYTES" in too_big.json()["error"]["message"]
    assert client.post("/api/agent-runs/run%20x/stream", headers=project["token"], json=[]).status_code == 422
    assert client.post("/api/agent-runs/run_1/stream", json=[delta(0)]).status_code == 401
    subscribe = client.get("/api/agent-runs/run_1/events", headers=project["token"])
    assert subscribe.status_code == 403
    assert "needs an API key" in subscribe.json()["error"]["message"]


@pytest.mark.slow
def test_a_slow_subscriber_drops_and_never_holds_the_publisher(live_server: LiveServer) -> None:
    project = new_project(live_server.services)
    run_id = "run_slow"
    gate = threading.Event()
    slow = Subscriber(live_server.url, run_id, project["key"], gate=gate)  # connected, then not reading
    chunk = "x" * 65_536
    # Fewer events a post than the queue holds, so only a stalled reader makes it drop; 16 MiB in all: well
    # past what socket buffers hold for a reader that does not read.
    posts, per_post = 64, QUEUE_SIZE // 2
    started = time.monotonic()
    try:
        for p in range(posts):
            answer = publish(live_server, run_id, project["token"],
                             [delta(p * per_post + i, chunk) for i in range(per_post)])
            assert answer.status_code == 200, answer.text
        publishing = time.monotonic() - started
    finally:
        gate.set()
    total = posts * per_post
    received: list[int] = []
    dropped_total = 0
    gaps = 0
    pings = 0
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            kind, data = slow.events.get(timeout=0.2)
        except queue.Empty:
            pings += 1  # the queue may be full of old events: keep offering an end marker until one lands
            publish(live_server, run_id, project["token"], [{"type": "status", "step_key": "", "attempt": 1}])
            continue
        if kind == "status":
            break
        if kind == "dropped":
            gaps += 1
            assert data["count"] > 0
            dropped_total = data["total_dropped"]
        else:
            received.append(data["data"]["i"])
    slow.stop.set()
    publish(live_server, run_id, project["token"], [delta(-1)])  # wakes the subscriber so that it hangs up
    slow.thread.join(10)
    assert gaps >= 1, "the stalled subscriber never dropped anything"
    assert received == sorted(received)  # in order …
    assert len(set(received)) == len(received)  # … and none twice
    assert len(received) < total
    assert total <= len(received) + dropped_total <= total + pings
    assert publishing < 30, f"publishing took {publishing:.1f} s"
    assert live_server.services.run_stream.stats()["dropped_events"] >= dropped_total
