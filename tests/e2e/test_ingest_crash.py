"""Acknowledged means durable: kill -9 the server under load, restart, and find every acknowledged span."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import NeonProcess, free_port

pytestmark = pytest.mark.slow
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from workload import make_request  # noqa: E402


def count_traces(home: Path, trace_ids: list[str]) -> int:
    """Open the stopped server's chDB folder in a fresh process and count the given traces' spans."""
    script = textwrap.dedent(f"""
        import json, sys
        from neon_server.storage.analytics import open_analytics
        db = open_analytics("chdb://{home / 'chdb'}")
        ids = json.load(sys.stdin)
        rows = db.query("SELECT count() AS n FROM spans FINAL WHERE has({{ids:Array(String)}}, trace_id)",
                        tag="tests.count", params={{"ids": ids}})
        print(rows[0]["n"])
        db.close()
    """)
    done = subprocess.run([sys.executable, "-c", script], input=json.dumps(trace_ids), capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return int(done.stdout.strip())


def test_every_acknowledged_span_survives_kill_9(spawn: type[NeonProcess], neon_home: Path) -> None:
    import random

    server = spawn(neon_home, free_port(), env={"NEON_INGEST_BATCH_DELAY_MS": "20"})
    server.wait_healthy()
    key = json.loads((neon_home / "credentials.json").read_text())["api_key"]
    acked: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def sender(seed: int) -> None:
        rng = random.Random(seed)
        with httpx.Client(timeout=10) as client:
            while not stop.is_set():
                request = make_request(rng, traces=4, spans_per_trace=25, payload_bytes=300)
                ids = sorted({span.trace_id.hex() for span in request.resource_spans[0].scope_spans[0].spans})
                try:
                    response = client.post(f"{server.url}/v1/traces", content=request.SerializeToString(),
                                           headers={"x-api-key": key, "content-type": "application/x-protobuf"})
                except httpx.TransportError:
                    return  # the server is gone
                if response.status_code == 200:
                    with lock:
                        acked.extend(ids)

    threads = [threading.Thread(target=sender, args=(seed,)) for seed in range(4)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 60
    while len(acked) < 400 and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(server.proc.pid, signal.SIGKILL)  # mid-load: requests are in flight and batches pending
    server.proc.wait()
    stop.set()
    for thread in threads:
        thread.join(30)
    assert len(acked) >= 400, "the load did not get going"

    restarted = spawn(neon_home, free_port())
    restarted.wait_healthy()  # starts cleanly on the killed server's folder
    assert restarted.stop() == 0
    with lock:
        expected = sorted(set(acked))
    assert count_traces(neon_home, expected) == len(expected) * 25
