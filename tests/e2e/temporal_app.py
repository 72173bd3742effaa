"""A small Temporal app for the runtime tests: workflows, an activity, and a factory shaped like
`neon.execute.worker.create_worker`, which `neon up` (NEON_AGENT_WORKER_FACTORY) and `neon worker --factory`
load by name. Temporal's sandbox re-imports this module, so it imports nothing but temporalio."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.common import SearchAttributeKey
from temporalio.worker import Worker

FACTORY = "tests.e2e.temporal_app:create_worker"
NEON_PROJECT = SearchAttributeKey.for_keyword("NeonProject")


@workflow.defn(name="neon-test.echo")
class Echo:
    """Returns its input with what the worker was built with (from an activity)."""

    @workflow.run
    async def run(self, text: str) -> dict[str, Any]:
        info: dict[str, Any] = await workflow.execute_activity(
            "neon-test.worker_info", start_to_close_timeout=timedelta(seconds=30))
        return {"echo": text, **info}


@workflow.defn(name="neon-test.wait")
class WaitThenFinish:
    """Waits on a durable timer, then for a `go` signal: both must survive a restart of the server."""

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


@workflow.defn(name="neon-test.tag")
class TagProject:
    """Upserts the NeonProject search attribute, as agent runs do."""

    @workflow.run
    async def run(self, project: str) -> str:
        workflow.upsert_search_attributes([NEON_PROJECT.value_set(project)])
        return project


def create_worker(client: Client, *, task_queue: str, agents_path: Path, neon_url: str) -> Worker:
    """The factory: the same keyword arguments the agent worker's factory gets."""

    @activity.defn(name="neon-test.worker_info")
    async def worker_info() -> dict[str, Any]:
        return {"task_queue": task_queue, "agents_path": str(agents_path), "neon_url": neon_url}

    # An explicit build id: without one temporalio hashes the code of every loaded module, seconds in `neon up`.
    return Worker(client, task_queue=task_queue, workflows=[Echo, WaitThenFinish, TagProject],
                  activities=[worker_info], graceful_shutdown_timeout=timedelta(seconds=2), build_id="neon-tests")
