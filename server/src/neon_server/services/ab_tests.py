"""A/B tests: two to ten variants of an agent-spec suite's agent (recorded versions, or fork overrides of its
spec) run over the suite's cases as one workflow, `neon.ab_test` (sdk/src/neon/execute/evals/ab.py).

Each variant fills its own metadata eval run (version = the variant's label, metadata {ab_test, variant}),
so its cases, scores and traces are read and compared like any other run's; the workflow compares each
variant with the first (the baseline) when all have finished. An A/B test belongs to the project in its
`NeonProject` search attribute; its suite and variants are in its memo, so a list needs no query per test.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes
from temporalio.service import RPCError

from neon.evaluate.suites import SpecAgent, SuiteError, discover_suites
from neon.execute import shared as s
from neon.execute.errors import SpecError
from neon.execute.evals import shared as e
from neon.execute.spec import load_spec
from neon_server.domain.evaluation import EvalRun
from neon_server.services.agent_forks import spec_with_overrides
from neon_server.services.agent_runs import AgentRunService
from neon_server.services.errors import Conflict, InvalidInput, NotFound, Unavailable
from neon_server.services.eval_workflows import EvalWorkflowService
from neon_server.services.evals import EvalRunService, check_label
from neon_server.services.workflow_calls import project_handle, steer

MIN_VARIANTS, MAX_VARIANTS = 2, 10
VARIANT_OVERRIDES = ("version", "system_prompt", "model", "provider", "parameters", "tools")
PROJECT = SearchAttributeKey.for_keyword(s.SA_PROJECT)
CLOSED = {WorkflowExecutionStatus.COMPLETED: e.COMPLETED, WorkflowExecutionStatus.CANCELED: e.CANCELLED,
          WorkflowExecutionStatus.FAILED: e.RUN_FAILED, WorkflowExecutionStatus.TERMINATED: e.CANCELLED,
          WorkflowExecutionStatus.TIMED_OUT: e.RUN_FAILED}


def suite_agent(folder: Path, suite: str) -> e.AgentTarget:
    """The agent spec an agent-spec suite of the evals folder runs (imports the folder's eval files)."""
    try:
        found = discover_suites(folder).get(suite)
    except SuiteError as exc:
        raise NotFound(str(exc)) from exc
    if not isinstance(found.agent, SpecAgent):
        raise InvalidInput(f"suite {suite!r} does not run an agent spec (its target is Python code): an A/B "
                           "test compares versions of an agent, so its suite must use agent_spec(...)")
    try:
        spec = load_spec(found.agent.path)
    except SpecError as exc:
        raise InvalidInput(f"suite {suite!r}: {exc}") from exc
    return e.AgentTarget(name=spec.name, version=spec.version, spec=spec.to_dict())


class AbTestService:
    """Reaches Temporal, the evals folder and run tokens through the eval-workflow service, and recorded agent
    versions through the agent-run service (both read when called, so a server that swaps them is followed)."""

    def __init__(self, runs: EvalRunService, *, eval_workflows: Callable[[], EvalWorkflowService],
                 agent_runs: Callable[[], AgentRunService]) -> None:
        self._runs = runs
        self._evals = eval_workflows
        self._agents = agent_runs

    # ------------------------------------------------------------------ start
    async def start(self, project_id: str, *, suite: str, variants: list[dict[str, Any]],
                    concurrency: int | None) -> dict[str, Any]:
        check_label(suite, "suite")
        if not MIN_VARIANTS <= len(variants) <= MAX_VARIANTS:
            raise InvalidInput(f"an A/B test needs {MIN_VARIANTS} to {MAX_VARIANTS} variants; got {len(variants)}")
        labels = [check_label(v.get("label", ""), f"variants[{i}].label") for i, v in enumerate(variants)]
        twice = sorted({label for label in labels if labels.count(label) > 1})
        if twice:
            raise InvalidInput(f"variant labels must be unique: {', '.join(map(repr, twice))} given twice")
        if concurrency is not None and concurrency < 1:
            raise InvalidInput("concurrency must be at least 1")
        evals = self._evals()
        folder = evals.evals_folder()
        base = await asyncio.to_thread(suite_agent, folder, suite)
        targets = [self._target(project_id, base, variant, i) for i, variant in enumerate(variants)]

        ab_test_id = f"ab_{secrets.token_hex(8)}"
        runs = []
        for label in labels:
            runs.append(await asyncio.to_thread(self._open_run, project_id, suite, label, ab_test_id))
        workflow_input = e.AbTestInput(
            project_id=project_id, ab_test_id=ab_test_id, suite=e.SuiteRef(str(folder.resolve()), suite),
            variants=[e.AbVariant(label, run.id, target) for label, run, target in zip(labels, runs, targets,
                                                                                        strict=True)],
            connection=evals.connection(project_id), concurrency=concurrency or e.DEFAULT_CONCURRENCY)
        memo = {"suite": suite, "agent": base.name, "concurrency": workflow_input.concurrency,
                "variants": [{"label": v.label, "eval_run_id": v.eval_run_id, "agent_version": v.agent.version,
                              "overrides": _overrides(variants[i])} for i, v in enumerate(workflow_input.variants)]}
        try:
            client = await evals.temporal()
            await client.start_workflow(
                e.AB_TEST, workflow_input, id=ab_test_id, task_queue=evals.task_queue, memo=memo,
                search_attributes=TypedSearchAttributes([SearchAttributePair(PROJECT, project_id)]))
        except Exception as exc:
            for run in runs:
                await asyncio.to_thread(self._runs.fail_if_open, run.id, f"the A/B test did not start: {exc}")
            raise Unavailable(f"the A/B test workflow did not start: {exc}") from exc
        return {"ab_test_id": ab_test_id, "eval_run_ids": [run.id for run in runs], "suite": suite,
                "variants": labels}

    def _open_run(self, project_id: str, suite: str, label: str, ab_test_id: str) -> EvalRun:
        """A variant's queued eval run; its workflow is the child named after it (so its own progress and
        control routes work too)."""
        run = self._runs.create(project_id, suite=suite, version=label, origin="api", status="queued",
                                metadata={"ab_test": ab_test_id, "variant": label})
        return self._runs.record_workflow(run.id, run.id)

    def _target(self, project_id: str, base: e.AgentTarget, variant: dict[str, Any], i: int) -> e.AgentTarget:
        """The variant's spec: the suite's (or a recorded version's) with its overrides, recorded as a version."""
        overrides = _overrides(variant)
        unknown = sorted(set(variant) - {"label", "overrides", *VARIANT_OVERRIDES})
        unknown += sorted(set(variant.get("overrides") or {}) - set(VARIANT_OVERRIDES))
        if unknown:
            raise InvalidInput(f"variants[{i}] ({variant.get('label')!r}): unknown field(s) {', '.join(unknown)}; "
                               f"a variant may set {', '.join(VARIANT_OVERRIDES)}")
        agents = self._agents()
        try:
            spec = spec_with_overrides(agents, project_id, agent=base.name, version=base.version, spec=base.spec,
                                       overrides=overrides)
            spec.render_system_prompt({})
        except NotFound as exc:  # an unknown version
            raise NotFound(f"variants[{i}] ({variant['label']!r}): {exc}") from exc
        except (InvalidInput, SpecError) as exc:
            raise InvalidInput(f"variants[{i}] ({variant['label']!r}): {exc}") from exc
        return e.AgentTarget(name=spec.name, version=agents.record_version(project_id, spec), spec=spec.to_dict())

    # ------------------------------------------------------------------ read
    async def list_tests(self, project_id: str, limit: int = 50) -> list[dict[str, Any]]:
        """The project's A/B tests, newest first.

        Temporal's list is eventually consistent: a test started a moment ago may not be in it yet. The newest
        eval runs (metadata store, read-your-writes) name the tests started last, and any of those the list
        lacks is described directly, so a test is listed as soon as its start was answered."""
        client = await self._evals().temporal()
        query = f"{s.SA_PROJECT} = {_quote(project_id)} AND WorkflowType = {_quote(e.AB_TEST)}"
        found = []
        try:
            async for execution in client.list_workflows(query, limit=limit):
                found.append(await _summary(execution))
            recent = await asyncio.to_thread(self._runs.list, project_id, limit=2 * MAX_VARIANTS)
            listed = {test["ab_test_id"] for test in found}
            for ab_test_id in dict.fromkeys(str(run.metadata["ab_test"]) for run in recent
                                            if run.metadata.get("ab_test") not in (None, *listed)):
                try:
                    found.append(await _summary(await client.get_workflow_handle(ab_test_id).describe()))
                except RPCError:
                    continue  # its workflow never started (the runs were failed) or is gone
        except RPCError as exc:
            raise Unavailable(f"Temporal: {exc.message}") from exc
        return sorted(found, key=lambda test: test["started_at"] or "", reverse=True)[:limit]

    async def get(self, project_id: str, ab_test_id: str) -> dict[str, Any]:
        """Status, each variant with its eval run's progress, the comparisons once done, and a row per case with
        each variant's scores and trace id (the cases stored so far)."""
        handle = await self._handle(project_id, ab_test_id)
        description = await handle.describe()
        summary = await _summary(description)
        comparisons: list[dict[str, Any]] = []
        error = ""
        returned = description.status == WorkflowExecutionStatus.COMPLETED
        if description.status == WorkflowExecutionStatus.RUNNING:
            try:
                live = await handle.query(e.PROGRESS, result_type=e.AbProgress)
                summary["status"], summary["paused"] = live.status, live.paused
            except RPCError:
                pass  # closed in between: the next read has it
            # The query can run after the workflow returned (the describe before it still said running): a test
            # reported as ended is read with its result, never as "completed" without its comparisons.
            returned = summary["status"] in (e.COMPLETED, e.RUN_FAILED)
        if returned:
            result: e.AbResult = await handle.result()
            summary["status"], error = result.status, result.error
            comparisons = [asdict(c) for c in result.comparisons]
        evals = self._evals()
        variants = []
        for variant in summary["variants"]:
            progress = await evals.progress(project_id, variant["eval_run_id"])
            variants.append({**variant, "progress": progress})
        rows = await asyncio.to_thread(self._case_rows, project_id, variants)
        return {**summary, "variants": variants, "comparisons": comparisons, "error": error, "cases": rows}

    def _case_rows(self, project_id: str, variants: list[dict[str, Any]]) -> list[dict[str, Any]]:
        rows: dict[str, dict[str, Any]] = {}
        for variant in variants:
            for result in self._runs.get(project_id, variant["eval_run_id"])["results"]:
                row = rows.setdefault(result["case_id"], {"case_id": result["case_id"], "variants": {}})
                row["variants"][variant["label"]] = {
                    "trace_id": result["trace_id"], "passed": result["passed"], "error": result["error"],
                    "scores": {score["name"]: score.get("value") for score in result["scores"]}}
        return sorted(rows.values(), key=lambda row: row["case_id"])

    # ------------------------------------------------------------------ steer
    async def control(self, project_id: str, ab_test_id: str, action: str) -> dict[str, Any]:
        """Pause or resume every variant's run, or cancel the test (each run closes as cancelled)."""
        handle = await self._handle(project_id, ab_test_id)
        if (await handle.describe()).status != WorkflowExecutionStatus.RUNNING:
            raise Conflict(f"A/B test {ab_test_id} has ended")
        await steer(handle, action, ended=f"A/B test {ab_test_id} has ended")
        return {"ab_test_id": ab_test_id, "action": action}

    async def _handle(self, project_id: str, ab_test_id: str) -> WorkflowHandle[Any, Any]:
        if not ab_test_id.startswith("ab_") or len(ab_test_id) > 64:
            raise NotFound(f"no A/B test {ab_test_id!r}")
        client: Client = await self._evals().temporal()
        return await project_handle(client, ab_test_id, project_id, missing=f"no A/B test {ab_test_id!r}",
                                    result_type=e.AbResult)


def _overrides(variant: dict[str, Any]) -> dict[str, Any]:
    """A variant's overrides: `version` and the spec fields, given flat or under `overrides`."""
    given = {**(variant.get("overrides") or {}), **{k: variant[k] for k in VARIANT_OVERRIDES if k in variant}}
    return {k: v for k, v in given.items() if v is not None}


async def _summary(execution: Any) -> dict[str, Any]:
    memo = await execution.memo()
    status = CLOSED.get(execution.status, e.RUNNING) if execution.status else e.RUNNING
    return {"ab_test_id": execution.id, "status": status, "paused": False, "suite": memo.get("suite"),
            "agent": memo.get("agent"), "concurrency": memo.get("concurrency"),
            "variants": memo.get("variants", []),
            "started_at": execution.start_time.isoformat() if execution.start_time else None,
            "closed_at": execution.close_time.isoformat() if execution.close_time else None}


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
