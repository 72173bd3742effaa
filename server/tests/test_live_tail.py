"""The live tail over SSE: new traces arrive on the stream, filtered, and only the caller's project's."""

from __future__ import annotations

import json
import queue
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from server.tests.conftest import LiveServer


@pytest.fixture
def metadata_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'neon.db'}"


def listen(url: str, key: str, params: dict[str, str], received: queue.Queue[tuple[str, Any]],
           ready: threading.Event, stop: threading.Event) -> None:
    with httpx.stream("GET", f"{url}/api/live/traces", params=params, headers={"x-api-key": key},
                      timeout=httpx.Timeout(30, read=30)) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        event = ""
        for line in response.iter_lines():
            if line.startswith(": connected"):
                ready.set()
            elif line.startswith("event: "):
                event = line[len("event: "):]
            elif line.startswith("data: "):
                received.put((event, json.loads(line[len("data: "):])))
            if stop.is_set():
                return


def test_new_traces_stream_in_filtered(live_server: LiveServer, project_key: tuple[str, str]) -> None:
    url, key = live_server.url, project_key[1]
    received: queue.Queue[tuple[str, Any]] = queue.Queue()
    ready, stop = threading.Event(), threading.Event()
    thread = threading.Thread(target=listen, args=(url, key, {"environment": "prod"}, received, ready, stop),
                              daemon=True)
    thread.start()
    assert ready.wait(10)
    other = live_server.services.projects.create("other")
    _k, other_key = live_server.services.keys.create(other.id)
    for env, secret, trace_id in (("staging", key, "a" * 32), ("prod", other_key, "b" * 32), ("prod", key, "c" * 32)):
        body = {"trace_id": trace_id, "name": f"run-{env}", "environment": env, "status": "ok",
                "spans": [{"span_id": "x", "name": "step"}]}
        assert httpx.post(f"{url}/api/traces/ingest", json=body, headers={"x-api-key": secret}).status_code == 200
    deadline = time.monotonic() + 10
    traces: list[dict[str, Any]] = []
    updates: list[str] = []
    while time.monotonic() < deadline and not traces:
        try:
            kind, data = received.get(timeout=1)
        except queue.Empty:
            continue
        if kind == "trace":
            traces.append(data)
        else:
            updates.extend(data["trace_ids"])
    stop.set()
    nudge = {"trace_id": "d" * 32, "name": "nudge", "spans": []}  # one more event lets the listener hang up
    assert httpx.post(f"{url}/api/traces/ingest", json=nudge, headers={"x-api-key": key}).status_code == 200
    thread.join(10)
    assert not thread.is_alive()
    assert [t["trace_id"] for t in traces] == ["c" * 32]  # staging filtered out, other project never seen
    assert traces[0]["name"] == "run-prod"
    assert traces[0]["environment"] == "prod"
    assert "b" * 32 not in updates
    assert "a" * 32 in updates  # span updates are unfiltered within the project


def test_live_tail_needs_a_key(live_server: LiveServer) -> None:
    assert httpx.get(f"{live_server.url}/api/live/traces").status_code == 401
