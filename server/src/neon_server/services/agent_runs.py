"""Agent runs: start, list, read, steer and approve durable runs. Temporal is the one source of truth.

A run is a workflow whose id is the run id; its project, agent, version, status and pending approvals are
search attributes, so listing runs and the approvals inbox are visibility queries. Every call checks that
the run belongs to the caller's project (a run of another project is "not found", never "forbidden").

The Temporal client is connected lazily on the event loop that serves requests (a client is bound to the
loop it was made on; the in-process worker runs on its own).
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Any

from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes
from temporalio.service import RPCError

from neon.execute import shared as s
from neon.execute.errors import SpecError
from neon.execute.history import timeline_of
from neon.execute.replay import check_history
from neon.execute.spec import AgentSpec
from neon_server.services.agent_blobs import AgentBlobService
from neon_server.services.agent_forks import fork_lineage, fork_run
from neon_server.services.agent_replay import BlobReader, replay_answer
from neon_server.services.errors import Conflict, InvalidInput, NotFound, Unavailable
from neon_server.services.workflow_calls import project_handle

ClientFactory = Callable[[], Awaitable[Client]]
SpecSource = Callable[[str], AgentSpec | None]  # an agent's current spec by name (the agents folder)
VersionSource = Callable[[str, str], dict[str, dict[str, Any]]]  # (project, agent) → {version: spec}, newest first

PROJECT = SearchAttributeKey.for_keyword(s.SA_PROJECT)
AGENT = SearchAttributeKey.for_keyword(s.SA_AGENT)
VERSION = SearchAttributeKey.for_keyword(s.SA_VERSION)
STATUS = SearchAttributeKey.for_keyword(s.SA_STATUS)
PENDING = SearchAttributeKey.for_int(s.SA_PENDING)
FORK_OF = SearchAttributeKey.for_keyword(s.SA_FORK_OF)
RECENTLY_STARTED_SECONDS = 60.0  # far longer than Temporal's list takes to show a started run
CLOSED = {WorkflowExecutionStatus.COMPLETED: s.COMPLETED, WorkflowExecutionStatus.FAILED: s.FAILED,
          WorkflowExecutionStatus.CANCELED: s.CANCELLED, WorkflowExecutionStatus.TERMINATED: s.FAILED,
          WorkflowExecutionStatus.TIMED_OUT: s.FAILED}
_B32 = "abcdefghijklmnopqrstuvwxyz234567"


def new_run_id() -> str:
    return "run_" + "".join(secrets.choice(_B32) for _ in range(26))


def _quote(value: str) -> str:
    """A visibility-query string literal. Values are checked against a safe alphabet before they get here."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.:@")


def _safe(name: str, value: str) -> str:
    if not value or len(value) > 200 or not set(value) <= SAFE:
        raise InvalidInput(f"{name} must be 1–200 letters, digits or _-.:@ (got {value!r})")
    return value


class AgentRunService:
    def __init__(self, connect: ClientFactory, *, specs: SpecSource, record_version: Callable[[str, AgentSpec], str],
                 issue_token: Callable[[str], str], neon_url: Callable[[], str], task_queue: str,
                 versions: VersionSource | None = None) -> None:
        self._connect = connect
        self._client: Client | None = None
        self._lock = asyncio.Lock()
        self._specs = specs
        self._record_version = record_version
        self.versions: VersionSource = versions or (lambda project_id, agent: {})
        self._issue_token = issue_token
        self._neon_url = neon_url
        self.task_queue = task_queue
        # (project, run id, monotonic start) of the runs this process started lately: Temporal's list is
        # eventually consistent, so the first page adds those it does not list yet (see list_runs).
        self._started: deque[tuple[str, str, float]] = deque(maxlen=1000)

    async def client(self) -> Client:
        if self._client is None:
            async with self._lock:
                if self._client is None:
                    try:
                        self._client = await self._connect()
                    except Exception as exc:
                        raise Unavailable(f"Temporal is not reachable: {exc}") from exc
        return self._client

    # ------------------------------------------------------------------ start
    async def start(self, project_id: str, agent: str, text: str, *, variables: dict[str, str] | None = None,
                    spec: dict[str, Any] | None = None, stream: bool = True, multi_turn: bool = True,
                    idle_timeout_seconds: float = 86_400.0) -> dict[str, Any]:
        """Start a run of `agent` (its current spec file) or of an explicit `spec`; returns the run's summary."""
        if not text.strip():
            raise InvalidInput("input is empty: give the agent's first message")
        if spec is not None:
            try:
                chosen = AgentSpec.from_dict(spec)
            except SpecError as exc:
                raise InvalidInput(f"invalid agent spec: {exc}") from exc
            if chosen.name != agent:
                raise InvalidInput(f"the spec is of agent {chosen.name!r}, not {agent!r}")
        else:
            found = self._specs(_safe("agent", agent))
            if found is None:
                raise NotFound(f"no agent {agent!r} in the agents folder")
            chosen = found
        try:
            chosen.render_system_prompt(variables or {})
        except SpecError as exc:
            raise InvalidInput(str(exc)) from exc
        version = self._record_version(project_id, chosen)
        run_id = new_run_id()
        run = s.RunInput(project_id=project_id, run_id=run_id, agent=chosen.name, version=version,
                         spec=chosen.to_dict(),
                    connection=s.Connection(self._neon_url(), self._issue_token(project_id)),
                         input=text, variables=dict(variables or {}), stream=stream, multi_turn=multi_turn,
                         idle_timeout_seconds=idle_timeout_seconds)
        await self.start_input(run)
        return {"run_id": run_id, "trace_id": s.trace_id_for(run_id), "agent": chosen.name, "version": version,
                "status": s.RUNNING}

    # ------------------------------------------------------------------ read
    async def list_runs(self, project_id: str, *, agent: str | None = None, version: str | None = None,
                   status: str | None = None, fork_of: str | None = None, limit: int = 50,
                   page_token: bytes | None = None) -> tuple[list[dict[str, Any]], bytes | None]:
        """The project's runs, newest first. Temporal's list is eventually consistent (a run started a moment ago
        may be missing from it), so the first page also describes the runs this process started in the last
        minute that the list lacks, and adds those matching the filters: a run is listed once its start was
        answered."""
        filters = {AGENT: agent, VERSION: version, STATUS: status, FORK_OF: fork_of}
        query = [f"{s.SA_PROJECT} = {_quote(project_id)}", f"WorkflowType = {_quote(s.WORKFLOW)}"]
        for key, value in filters.items():
            if value:
                query.append(f"{key.name} = {_quote(_safe(key.name, value))}")
        client = await self.client()
        pages = client.list_workflows(" AND ".join(query), page_size=limit, next_page_token=page_token)
        try:
            await pages.fetch_next_page(page_size=limit)
        except RPCError as exc:
            if page_token is not None:  # Temporal cannot read a token it did not make
                raise InvalidInput("page_token is not one this API gave out") from exc
            raise Unavailable(f"Temporal: {exc.message}") from exc
        executions: list[Any] = list(pages.current_page or [])
        if page_token is None:
            executions += await self._started_unlisted(client, project_id, {e.id for e in executions}, filters)
            executions.sort(key=lambda e: e.start_time.timestamp() if e.start_time else 0.0, reverse=True)
            executions = executions[:limit]
        return ([{**self._summary(execution), "fork": await fork_lineage(execution)} for execution in executions],
                pages.next_page_token or None)

    async def _started_unlisted(self, client: Client, project_id: str, listed: set[str],
                                filters: dict[SearchAttributeKey[str], str | None]) -> list[Any]:
        """Descriptions of the runs this process started in the last minute that are not in `listed` and match
        `filters` (search attribute → wanted value)."""
        since = time.monotonic() - RECENTLY_STARTED_SECONDS
        found = []
        for project, run_id, started in list(self._started):
            if project != project_id or started < since or run_id in listed:
                continue
            try:
                description = await client.get_workflow_handle(run_id).describe()
            except RPCError:
                continue  # gone (or Temporal is down: the list above would have said so)
            attributes = description.typed_search_attributes
            if all(not wanted or attributes.get(key) == wanted for key, wanted in filters.items()):
                found.append(description)
        return found

    async def approvals(self, project_id: str) -> list[dict[str, Any]]:
        """Every call waiting for a decision in the project, oldest first."""
        client = await self.client()
        query = f"{s.SA_PROJECT} = {_quote(project_id)} AND {s.SA_PENDING} > 0 AND ExecutionStatus = 'Running'"
        pending: list[dict[str, Any]] = []
        async for execution in client.list_workflows(query, limit=1000):
            try:
                progress = await client.get_workflow_handle(execution.id).query(s.PROGRESS, result_type=s.Progress)
            except RPCError:
                continue  # closed between the listing and the query
            pending.extend({"run_id": execution.id, "agent": progress.agent, "version": progress.version,
                            **asdict(a)} for a in progress.approvals if a.decision is None)
        return sorted(pending, key=lambda a: a["requested_ns"])

    async def get(self, project_id: str, run_id: str) -> dict[str, Any]:
        handle = await self._handle(project_id, run_id)
        description = await handle.describe()
        progress = await handle.query(s.PROGRESS, result_type=s.Progress)
        summary = {**self._summary(description), "fork": await fork_lineage(description)}
        closed = CLOSED.get(description.status) if description.status else None
        status = progress.status if closed is None or progress.status in (s.STOPPED, s.FAILED) else closed
        return {**summary, **asdict(progress), "status": status}

    async def replay(self, project_id: str, run_id: str, blobs: AgentBlobService) -> dict[str, Any]:
        """The run step by step from its Temporal history, with no live call: each step's input and result as
        they were, approvals, messages and the usage after each step; and whether the history still replays
        against this server's workflow code (`deterministic`, else the `problem`).

        A run that continued as new has one history per stretch: this is the latest (the workflow id's current
        run); `earlier_step_count` says how many steps came before it, its usage starts from what they spent,
        and its conversation holds theirs."""
        handle = await self._handle(project_id, run_id)
        try:
            history = await handle.fetch_history()
        except RPCError as exc:
            raise Unavailable(f"Temporal: {exc.message}") from exc
        timeline = timeline_of(history)
        problem = await check_history(history)
        return await asyncio.to_thread(replay_answer, timeline, problem, BlobReader(blobs, project_id))

    async def fork(self, project_id: str, run_id: str, at_step: int, overrides: dict[str, Any]) -> dict[str, Any]:
        """A new run reusing the steps of `run_id` before `at_step`, live from there with `overrides`."""
        return await fork_run(self, project_id, run_id, at_step, overrides)

    async def start_input(self, run: s.RunInput, *, memo: dict[str, Any] | None = None,
                          fork_of: str | None = None) -> None:
        """Start the workflow of a prepared run input, with the search attributes listing and filtering use."""
        pairs: list[SearchAttributePair[Any]] = [
            SearchAttributePair(PROJECT, run.project_id), SearchAttributePair(AGENT, run.agent),
            SearchAttributePair(VERSION, run.version), SearchAttributePair(STATUS, s.RUNNING),
            SearchAttributePair(PENDING, 0)]
        if fork_of is not None:
            pairs.append(SearchAttributePair(FORK_OF, fork_of))
        client = await self.client()
        await client.start_workflow(s.WORKFLOW, run, id=run.run_id, task_queue=self.task_queue,
                                    search_attributes=TypedSearchAttributes(pairs), memo=memo)
        self._started.append((run.project_id, run.run_id, time.monotonic()))

    def connection(self, project_id: str) -> s.Connection:
        return s.Connection(self._neon_url(), self._issue_token(project_id))

    def record_version(self, project_id: str, spec: AgentSpec) -> str:
        return self._record_version(project_id, spec)

    async def handle(self, project_id: str, run_id: str) -> WorkflowHandle[Any, Any]:
        """The workflow of a run of this project (NotFound otherwise)."""
        return await self._handle(project_id, run_id)

    # ------------------------------------------------------------------ steer
    async def send_message(self, project_id: str, run_id: str, text: str, by: str) -> int:
        handle = await self._handle(project_id, run_id)
        try:
            position: int = await handle.execute_update(s.SEND_MESSAGE, s.UserMessage(text=text, by=by),
                                                        result_type=int)
        except WorkflowUpdateFailedError as exc:
            raise Conflict(_update_message(exc)) from exc
        return position

    async def decide(self, project_id: str, run_id: str, call_id: str, *, approved: bool, by: str,
                     reason: str) -> dict[str, Any]:
        handle = await self._handle(project_id, run_id)
        try:
            approval = await handle.execute_update(s.DECIDE_APPROVAL, s.Decision(call_id, approved, by, reason),
                                                   result_type=s.Approval)
        except WorkflowUpdateFailedError as exc:
            raise Conflict(_update_message(exc)) from exc
        return asdict(approval)

    async def signal(self, project_id: str, run_id: str, name: str) -> None:
        if name not in (s.PAUSE, s.RESUME, s.CLOSE):
            raise InvalidInput(f"unknown action {name!r}")
        handle = await self._handle(project_id, run_id)
        await handle.signal(name)

    async def cancel(self, project_id: str, run_id: str) -> None:
        handle = await self._handle(project_id, run_id)
        await handle.cancel()

    # ------------------------------------------------------------------ helpers
    async def _handle(self, project_id: str, run_id: str) -> WorkflowHandle[Any, Any]:
        _safe("run id", run_id)
        client = await self.client()
        return await project_handle(client, run_id, project_id, missing=f"no run {run_id!r}")

    @staticmethod
    def _summary(execution: Any) -> dict[str, Any]:
        attributes = execution.typed_search_attributes
        closed = CLOSED.get(execution.status) if execution.status else None
        recorded = attributes.get(STATUS) or s.RUNNING
        return {"run_id": execution.id, "trace_id": s.trace_id_for(execution.id), "agent": attributes.get(AGENT),
                "version": attributes.get(VERSION),
                "status": recorded if closed is None or recorded in (s.STOPPED, s.FAILED) else closed,
                "pending_approvals": attributes.get(PENDING) or 0,
                "started_at": execution.start_time.isoformat() if execution.start_time else None,
                "closed_at": execution.close_time.isoformat() if execution.close_time else None}


def _update_message(error: WorkflowUpdateFailedError) -> str:
    cause: Any = error.cause
    while cause is not None and getattr(cause, "cause", None) is not None:
        cause = cause.cause
    return str(getattr(cause, "message", None) or cause or error)
