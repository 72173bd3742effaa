"""Temporal through a real `neon up`: the embedded dev server, the in-process worker, `neon worker` beside it,
health when Temporal is unreachable, and no dev server left behind however Neon stops."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.client import Client, WorkflowExecutionStatus

from tests.e2e.conftest import NEON, NeonProcess, free_port
from tests.e2e.temporal_app import FACTORY

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
APP_ENV = {"NEON_AGENT_WORKER_FACTORY": FACTORY, "PYTHONPATH": str(ROOT)}  # the spawned processes import the app


def health(server: NeonProcess) -> dict[str, Any]:
    report: dict[str, Any] = httpx.get(f"{server.url}/api/health", timeout=10).json()
    return report


def wait_health(server: NeonProcess, ready: Callable[[dict[str, Any]], bool], timeout: float = 90) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        assert server.proc.poll() is None, f"neon up exited:\n{server.stdout}\n{server.stderr}"
        try:
            report = health(server)
            if ready(report):
                return report
        except httpx.TransportError:
            report = {}
        assert time.monotonic() < deadline, f"health never ready: {report}\n{server.stderr}"
        time.sleep(0.1)


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def wait_dead(pid: int, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while alive(pid):
        assert time.monotonic() < deadline, f"process {pid} still alive"
        time.sleep(0.02)


def echo(address: str, text: str, task_queue: str) -> dict[str, Any]:
    async def go() -> dict[str, Any]:
        client = await Client.connect(address)
        result: dict[str, Any] = await client.execute_workflow(
            "neon-test.echo", text, id=f"echo-{text}", task_queue=task_queue, result_type=dict,
            execution_timeout=timedelta(seconds=60))
        return result

    return asyncio.run(go())


def worker_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEON_")}
    return {**env, "NEON_HOME": str(home), "PYTHONPATH": str(ROOT)}


def test_workflows_run_in_neon_up_and_in_neon_worker(spawn: type[NeonProcess], neon_home: Path,
                                                     tmp_path: Path) -> None:
    server = spawn(neon_home, free_port(), env=APP_ENV)
    report = wait_health(server, lambda h: h["status"] == "ok" and h["workers"]["status"] == "ok")
    temporal = report["dependencies"]["temporal"]
    address = (neon_home / "temporal" / "address").read_text().strip()
    assert temporal["status"] == "ok"
    assert temporal["embedded"] is True
    assert temporal["address"] == address
    assert temporal["namespace"] == "default"
    assert temporal["restarts"] == 0
    assert report["workers"]["task_queue"] == "neon-agents"
    assert f"Temporal: embedded dev server at {address}, namespace default, db {neon_home}/temporal/temporal.db" \
        in server.stdout

    setup = subprocess.run([NEON, "worker", "--setup"], env=worker_env(neon_home), capture_output=True, text=True,
                           timeout=60)
    assert setup.returncode == 0, setup.stderr
    assert "search attributes on namespace default: all present" in setup.stdout

    # The in-process worker, built by the factory with Neon's URL and the agents folder.
    assert echo(address, "inside", "neon-agents") == {
        "echo": "inside", "task_queue": "neon-agents", "agents_path": str(neon_home / "agents"),
        "neon_url": server.url}

    # `neon worker` finds the dev server through NEON_HOME and Neon through the saved credentials.
    out = tmp_path / "worker.out"
    with out.open("wb") as sink:
        worker = subprocess.Popen([NEON, "worker", "--factory", FACTORY, "--task-queue", "side"],
                                  env=worker_env(neon_home), stdout=sink, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while "polling task queue side" not in out.read_text():
            assert worker.poll() is None, out.read_text()
            assert time.monotonic() < deadline, out.read_text()
            time.sleep(0.05)
        assert echo(address, "beside", "side")["neon_url"] == server.url
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=30) == 0, out.read_text()
    finally:
        worker.kill()

    # Stopping Neon stops the dev server; its database keeps the runs for the next start.
    dev_pid = temporal["pid"]
    assert server.stop(signal.SIGTERM) == 0, server.stderr
    assert not alive(dev_pid)
    assert not (neon_home / "temporal" / "address").exists()

    again = spawn(neon_home, free_port(), env=APP_ENV)
    report = wait_health(again, lambda h: h["dependencies"].get("temporal", {}).get("status") == "ok")

    async def status() -> WorkflowExecutionStatus | None:
        client = await Client.connect(report["dependencies"]["temporal"]["address"])
        return (await client.get_workflow_handle("echo-inside").describe()).status

    assert asyncio.run(status()) == WorkflowExecutionStatus.COMPLETED

    # kill -9 of `neon up` takes the dev server with it.
    dev_pid = report["dependencies"]["temporal"]["pid"]
    again.stop(signal.SIGKILL)
    wait_dead(dev_pid)


def test_unreachable_cluster_degrades_health_and_neon_keeps_serving(spawn: type[NeonProcess],
                                                                    neon_home: Path) -> None:
    address = f"127.0.0.1:{free_port()}"  # nothing listens there
    server = spawn(neon_home, free_port(), env={"NEON_TEMPORAL_ADDRESS": address, **APP_ENV})
    report = wait_health(server, lambda h: bool(h["dependencies"].get("temporal", {}).get("error")))
    temporal = report["dependencies"]["temporal"]
    assert report["status"] == "degraded"
    assert temporal["status"] == "down"
    assert temporal["embedded"] is False
    assert f"cannot connect to the Temporal cluster at {address}" in temporal["error"]
    assert report["workers"]["status"] == "starting"  # waiting for Temporal
    assert httpx.get(f"{server.url}/api/health").status_code == 503
    assert f"Temporal: cluster at {address}" in server.stdout

    key = json.loads((neon_home / "credentials.json").read_text())["api_key"]
    answer = httpx.get(f"{server.url}/api/project", headers={"Authorization": f"Bearer {key}"})
    assert answer.status_code == 200
    assert not (neon_home / "temporal").exists()  # no dev server in cluster mode
    assert server.stop(signal.SIGTERM) == 0, server.stderr


def test_neon_worker_without_neon_up_fails_clearly(neon_home: Path) -> None:
    def worker() -> subprocess.CompletedProcess[str]:
        return subprocess.run([NEON, "worker", "--factory", FACTORY], env=worker_env(neon_home),
                              capture_output=True, text=True, timeout=60)

    missing = worker()
    assert missing.returncode == 1
    assert "no embedded Temporal dev server is running" in missing.stderr
    assert "start `neon up` with the same NEON_HOME" in missing.stderr

    # The address a `neon up` killed by SIGKILL left behind.
    stale = f"127.0.0.1:{free_port()}"
    (neon_home / "temporal").mkdir()
    (neon_home / "temporal" / "address").write_text(stale)
    refused = worker()
    assert refused.returncode == 1
    assert f"cannot connect to the embedded dev server at {stale}" in refused.stderr
    assert "is `neon up` running" in refused.stderr
