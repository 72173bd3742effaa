"""The eval workflows: `neon.eval_run` (the parent) and `neon.eval_case` (one child per case).

The parent starts a child per case with at most `concurrency` in flight, counts how each ended for the
`progress` query, holds back new children while paused, and once every child has finished runs the
aggregation activity that closes the metadata run (Neon computes the summary from the stored results).
Cancelling the parent cancels its children and closes the run as `cancelled`.

History grows by a few events per case (child started and completed), so a run of up to ~1,000 cases stays
well within Temporal's limits without continue-as-new.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeKey, SearchAttributePair, TypedSearchAttributes
from temporalio.exceptions import ActivityError, ChildWorkflowError, is_cancelled_exception

with workflow.unsafe.imports_passed_through():
    from neon.execute import shared as s
    from neon.execute.evals import shared as e

SHORT = timedelta(seconds=60)
HEARTBEAT = timedelta(seconds=30)
# Writing to Neon is retried until it is stored (a result sent again replaces itself).
PLUMBING_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), backoff_coefficient=2.0,
                             maximum_interval=timedelta(seconds=30))
# A case is re-run at most twice when its worker fails under it (the case failing is a result, not an error).
CASE_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=3)


@workflow.defn(name=e.EVAL_CASE)
class EvalCase:
    """Run one case (its activity writes the result) and return how it ended. If the case cannot be run at
    all (the worker cannot import the suite, retries ran out), an errored result is written instead."""

    @workflow.run
    async def run(self, case: e.EvalCaseInput) -> str:
        if case.agent is not None:
            return await self._agent_case(case, case.agent)
        try:
            outcome: str = await workflow.execute_activity(
                e.RUN_CASE, case, result_type=str, start_to_close_timeout=timedelta(seconds=case.timeout_seconds),
                heartbeat_timeout=HEARTBEAT, retry_policy=CASE_RETRY)
            return outcome
        except ActivityError as exc:
            if is_cancelled_exception(exc):  # the run was cancelled: a case cut short has no result
                raise
            cause = exc.cause or exc
            await workflow.execute_activity(
                e.RECORD_CASE_ERROR, e.CaseErrorInput(case.eval_run_id, case.case_id, str(cause), case.connection),
                start_to_close_timeout=SHORT, retry_policy=PLUMBING_RETRY)
            return e.ERRORED


    async def _agent_case(self, case: e.EvalCaseInput, agent: e.AgentTarget) -> str:
        """An agent-spec suite's case: a one-turn agent run as a child workflow, then its answer scored."""
        message: str = await workflow.execute_activity(e.CASE_MESSAGE, case, result_type=str,
                                                       start_to_close_timeout=SHORT, retry_policy=CASE_RETRY)
        run_id = e.agent_run_id(case.eval_run_id, case.case_id)
        started = workflow.time_ns()
        answer: str | None = None
        error: str | None = None
        try:
            result = await workflow.execute_child_workflow(
                s.WORKFLOW, s.RunInput(project_id=case.project_id, run_id=run_id, agent=agent.name,
                                       version=agent.version, spec=agent.spec, connection=case.connection,
                                       input=message, stream=False, multi_turn=False),
                id=run_id, result_type=s.RunResult, search_attributes=TypedSearchAttributes([
                    SearchAttributePair(SearchAttributeKey.for_keyword(s.SA_PROJECT), case.project_id),
                    SearchAttributePair(SearchAttributeKey.for_keyword(s.SA_AGENT), agent.name),
                    SearchAttributePair(SearchAttributeKey.for_keyword(s.SA_VERSION), agent.version),
                    SearchAttributePair(SearchAttributeKey.for_keyword(s.SA_STATUS), s.RUNNING),
                    SearchAttributePair(SearchAttributeKey.for_int(s.SA_PENDING), 0)]))
            answer = result.answer
            if result.status != s.COMPLETED:
                error = result.error or f"the agent run ended {result.status}"
        except ChildWorkflowError as exc:
            if is_cancelled_exception(exc):
                raise
            error = f"the agent run failed: {exc.cause or exc}"
        scored = e.AgentAnswer(case=case, answer=answer, error=error, trace_id=s.trace_id_for(run_id),
                               duration_ms=(workflow.time_ns() - started) / 1e6)
        outcome: str = await workflow.execute_activity(e.SCORE_AGENT_CASE, scored, result_type=str,
                                                       start_to_close_timeout=timedelta(seconds=case.timeout_seconds),
                                                       heartbeat_timeout=HEARTBEAT, retry_policy=CASE_RETRY)
        return outcome


@workflow.defn(name=e.EVAL_RUN)
class EvalRun:
    @workflow.init
    def __init__(self, run: e.EvalRunInput) -> None:
        self.input = run
        self.progress = e.EvalProgress(total=len(run.case_ids))
        self.paused = False
        self.agent: e.AgentTarget | None = None

    @workflow.run
    async def run(self, run: e.EvalRunInput) -> e.EvalProgress:
        concurrency = max(1, run.concurrency)
        children: list[asyncio.Task[None]] = []
        try:
            loaded = await workflow.execute_activity(
                e.LOAD_CASES, run.suite, result_type=e.LoadedSuite, start_to_close_timeout=timedelta(minutes=5),
                retry_policy=RetryPolicy(maximum_attempts=3))
            self.agent = run.agent if run.agent is not None else loaded.agent  # an A/B variant's spec
            wanted = set(run.case_ids)
            case_ids = [c for c in loaded.case_ids if c in wanted] if wanted else loaded.case_ids
            self.progress.total = len(case_ids)
            self._set_status()
            for case_id in case_ids:
                await workflow.wait_condition(lambda: not self.paused and self.progress.running < concurrency)
                self.progress.running += 1  # counted before the next wait, so the bound holds
                children.append(asyncio.create_task(self._case(run, case_id)))
            await asyncio.gather(*children)
        except asyncio.CancelledError:
            for child in children:
                child.cancel()
            await asyncio.gather(*children, return_exceptions=True)
            await self._finish(run, e.CANCELLED)
            raise
        except ActivityError as exc:  # the suite could not be loaded
            await self._finish(run, e.RUN_FAILED, f"cannot load suite {run.suite.suite!r}: {exc.cause or exc}")
            return self.progress
        await self._finish(run, e.COMPLETED)
        return self.progress

    async def _case(self, run: e.EvalRunInput, case_id: str) -> None:
        case = e.EvalCaseInput(eval_run_id=run.eval_run_id, suite=run.suite, version=run.version, case_id=case_id,
                               connection=run.connection, timeout_seconds=run.case_timeout_seconds,
                               project_id=run.project_id, agent=self.agent)
        try:
            outcome = await workflow.execute_child_workflow(
                EvalCase.run, case, id=e.case_workflow_id(run.eval_run_id, case_id))
        except ChildWorkflowError:
            outcome = e.ERRORED
        finally:
            self.progress.running -= 1
        self.progress.done += 1
        if outcome == e.PASSED:
            self.progress.passed += 1
        elif outcome == e.FAILED:
            self.progress.failed += 1
        else:
            self.progress.errored += 1

    async def _finish(self, run: e.EvalRunInput, status: str, error: str = "") -> None:
        self.progress.status = e.AGGREGATING
        await workflow.execute_activity(e.FINISH_RUN, e.FinishInput(run.eval_run_id, status, run.connection, error),
                                        start_to_close_timeout=SHORT, retry_policy=PLUMBING_RETRY)
        self.progress.status = status

    def _set_status(self) -> None:
        self.progress.paused = self.paused
        if self.progress.status in (e.LOADING, e.RUNNING, e.PAUSED):
            self.progress.status = e.PAUSED if self.paused else e.RUNNING

    @workflow.signal(name=e.PAUSE)
    def pause(self) -> None:
        """No new case starts; the ones running finish."""
        self.paused = True
        if self.progress.status != e.LOADING:
            self._set_status()
        self.progress.paused = True

    @workflow.signal(name=e.RESUME)
    def resume(self) -> None:
        self.paused = False
        if self.progress.status != e.LOADING:
            self._set_status()
        self.progress.paused = False

    @workflow.query(name=e.PROGRESS)
    def get_progress(self) -> e.EvalProgress:
        return self.progress
