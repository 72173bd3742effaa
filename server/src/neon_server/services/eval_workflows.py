"""Eval runs as Temporal workflows: start one, read its live progress, pause, resume or cancel it.

The metadata eval run stays the record (results, counts, summary); the workflow `neon.eval_run` fills it
through the API with a run token and closes it (sdk/src/neon/execute/evals). The run records its workflow
id in its metadata (`workflow_id`), which is how the progress and control calls find the workflow; a run
`neon eval` fills has none, so it can be read but not paused. Temporal is reached through the agent-run
service's lazily connected client.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowQueryFailedError
from temporalio.service import RPCError

from neon.evaluate.results import summarize
from neon.execute.evals import shared as e
from neon.execute.shared import Connection
from neon_server.domain.evaluation import OPEN_STATUSES, EvalRun
from neon_server.services.errors import Conflict, InvalidInput, Unavailable
from neon_server.services.evals import WORKFLOW_ID, EvalRunService, check_label
from neon_server.services.workflow_calls import steer

ACTIONS = ("pause", "resume", "cancel")


def require_evals_folder(folder: Path | None) -> Path:
    """The server's evals folder, or a Conflict saying how to set it."""
    if folder is None:
        raise Conflict("this server has no evals folder, so it cannot start runs: set NEON_EVALS_PATH (or "
                       "evals_path in neon.toml) to the folder holding your eval_*.py files")
    if not folder.exists():
        raise Conflict(f"the server's evals folder {str(folder)!r} (NEON_EVALS_PATH) does not exist")
    return folder


class EvalWorkflowService:
    def __init__(self, runs: EvalRunService, *, client: Callable[[], Awaitable[Client]], available: Callable[[], bool],
                 issue_token: Callable[[str], str], neon_url: Callable[[], str], task_queue: str,
                 evals_path: Path | None) -> None:
        self._runs = runs
        self._client = client
        self._available = available
        self._issue_token = issue_token
        self._neon_url = neon_url
        self._task_queue = task_queue
        self._evals_path = evals_path

    @property
    def available(self) -> bool:
        """Whether this process runs Temporal (`neon up`); without it, runs start as `neon eval` subprocesses."""
        return self._available()

    async def temporal(self) -> Client:
        return await self._client()

    def connection(self, project_id: str) -> Connection:
        """How a workflow's activities reach Neon for this project (URL and a run token)."""
        return Connection(self._neon_url(), self._issue_token(project_id))

    def evals_folder(self) -> Path:
        return require_evals_folder(self._evals_path)

    @property
    def task_queue(self) -> str:
        return self._task_queue

    async def start(self, project_id: str, *, suite: str, version: str, concurrency: int | None) -> EvalRun:
        """Open a queued run and start the workflow that fills it; returns the run at once."""
        check_label(suite, "suite")
        check_label(version, "version")
        if concurrency is not None and concurrency < 1:
            raise InvalidInput("concurrency must be at least 1")
        folder = require_evals_folder(self._evals_path)
        run = await asyncio.to_thread(lambda: self._runs.create(project_id, suite=suite, version=version,
                                                                origin="api", status="queued"))
        workflow_input = e.EvalRunInput(
            project_id=project_id, eval_run_id=run.id, suite=e.SuiteRef(str(folder.resolve()), suite),
            version=version, connection=Connection(self._neon_url(), self._issue_token(project_id)),
            concurrency=concurrency or e.DEFAULT_CONCURRENCY)
        try:
            client = await self._client()
            await client.start_workflow(e.EVAL_RUN, workflow_input, id=run.id, task_queue=self._task_queue)
        except Exception as exc:
            await asyncio.to_thread(self._runs.fail_if_open, run.id, f"the eval workflow did not start: {exc}")
            raise Unavailable(f"the eval workflow did not start: {exc}") from exc
        return await asyncio.to_thread(self._runs.record_workflow, run.id, run.id)

    async def progress(self, project_id: str, run_id: str) -> dict[str, Any]:
        """Live counts from the workflow while it runs; the stored counts once the run is closed (or for a
        run without a workflow)."""
        run = await asyncio.to_thread(self._runs.run, project_id, run_id)
        workflow_id = run.metadata.get(WORKFLOW_ID)
        if workflow_id and run.status in OPEN_STATUSES:
            try:
                client = await self._client()
                live = await client.get_workflow_handle(workflow_id).query(e.PROGRESS, result_type=e.EvalProgress)
            except (RPCError, WorkflowQueryFailedError, Unavailable):
                pass  # closed between the read and the query, or Temporal is away: the stored counts
            else:
                return {"run_id": run.id, "live": True, "workflow_id": workflow_id, **asdict(live)}
        return await asyncio.to_thread(self._stored, run, workflow_id)

    def _stored(self, run: EvalRun, workflow_id: str | None) -> dict[str, Any]:
        if run.status in OPEN_STATUSES:
            counts = summarize(r.to_dict() for r in self._runs.stored_results(run.id))
            done = int(counts["total"])
            total = max(run.case_count or 0, done)
        else:
            counts = {"passed": run.passed, "failed": run.failed, "errored": run.errored}
            total = done = run.total
        return {"run_id": run.id, "live": False, "workflow_id": workflow_id, "status": run.status, "total": total,
                "done": done, "passed": int(counts["passed"]), "failed": int(counts["failed"]),
                "errored": int(counts["errored"]), "running": 0, "paused": False}

    async def control(self, project_id: str, run_id: str, action: str) -> dict[str, Any]:
        """Pause (no new case starts), resume, or cancel (running cases are cancelled, the run closes as
        cancelled). Conflict when the run has no workflow or has ended."""
        if action not in ACTIONS:
            raise InvalidInput(f"unknown action {action!r}; one of {', '.join(ACTIONS)}")
        run = await asyncio.to_thread(self._runs.run, project_id, run_id)
        workflow_id = run.metadata.get(WORKFLOW_ID)
        if not workflow_id:
            raise Conflict(f"eval run {run.id} is not a workflow run (`neon eval` fills it), so it cannot be "
                           f"{_past(action)}")
        if run.status not in OPEN_STATUSES:
            raise Conflict(f"eval run {run.id} has ended ({run.status})")
        client = await self._client()
        handle = client.get_workflow_handle(workflow_id)
        await steer(handle, action, ended=f"eval run {run.id} has ended")
        return {"run_id": run.id, "action": action, "workflow_id": workflow_id}


def _past(action: str) -> str:
    return {"pause": "paused", "resume": "resumed", "cancel": "cancelled"}[action]
