"""A/B tests as one workflow: `neon.ab_test` runs one child `neon.eval_run` per variant (each against its own
agent spec, all over the same suite), then one activity compares each variant's eval run with the baseline's
through Neon's paired comparison (`GET /api/eval-runs/compare-runs`) and gives each scorer a verdict.

Pause and resume are passed on to the children; cancelling the A/B test cancels them (each closes its run as
cancelled). The eval runs stay the record of the cases: the workflow's result holds only the comparisons.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from temporalio import activity, workflow
from temporalio.exceptions import ChildWorkflowError

with workflow.unsafe.imports_passed_through():
    from neon.execute.evals import shared as e
    from neon.execute.evals.workflows import PLUMBING_RETRY, EvalRun


@workflow.defn(name=e.AB_TEST)
class AbTest:
    @workflow.init
    def __init__(self, ab: e.AbTestInput) -> None:
        self.progress = e.AbProgress(variants=[e.AbVariantState(v.label, v.eval_run_id) for v in ab.variants])

    @workflow.run
    async def run(self, ab: e.AbTestInput) -> e.AbResult:
        children = [asyncio.create_task(self._variant(ab, variant, state))
                    for variant, state in zip(ab.variants, self.progress.variants, strict=True)]
        try:
            await asyncio.gather(*children)
        except asyncio.CancelledError:
            for child in children:
                child.cancel()
            await asyncio.gather(*children, return_exceptions=True)
            self.progress.status = e.CANCELLED
            raise
        baseline, *others = self.progress.variants
        if baseline.status != e.COMPLETED:
            self.progress.status = e.RUN_FAILED
            return e.AbResult(status=e.RUN_FAILED, baseline=baseline.label, variants=self.progress.variants,
                              comparisons=[], error=f"the baseline's eval run {baseline.eval_run_id} ended "
                                                    f"{baseline.status}: nothing to compare against")
        self.progress.status = e.COMPARING
        comparisons: list[e.VariantComparison] = await workflow.execute_activity(
            e.AB_COMPARE, e.CompareInput(baseline, [v for v in others if v.status == e.COMPLETED], ab.connection),
            result_type=list[e.VariantComparison], start_to_close_timeout=timedelta(minutes=5),
            retry_policy=PLUMBING_RETRY)
        self.progress.status = e.COMPLETED
        return e.AbResult(status=e.COMPLETED, baseline=baseline.label, variants=self.progress.variants,
                          comparisons=comparisons)

    async def _variant(self, ab: e.AbTestInput, variant: e.AbVariant, state: e.AbVariantState) -> None:
        run = e.EvalRunInput(project_id=ab.project_id, eval_run_id=variant.eval_run_id, suite=ab.suite,
                             version=variant.label, connection=ab.connection, concurrency=ab.concurrency,
                             agent=variant.agent)
        try:
            ended = await workflow.execute_child_workflow(EvalRun.run, run, id=variant.eval_run_id)
            state.status = ended.status
        except ChildWorkflowError:
            state.status = e.RUN_FAILED

    async def _tell_children(self, signal: str) -> None:
        for state in self.progress.variants:
            if state.status == e.RUNNING:
                await workflow.get_external_workflow_handle(state.eval_run_id).signal(signal)

    @workflow.signal(name=e.PAUSE)
    async def pause(self) -> None:
        """No variant starts a new case; running cases finish."""
        self.progress.paused = True
        if self.progress.status == e.RUNNING:
            self.progress.status = e.PAUSED
        await self._tell_children(e.PAUSE)

    @workflow.signal(name=e.RESUME)
    async def resume(self) -> None:
        self.progress.paused = False
        if self.progress.status == e.PAUSED:
            self.progress.status = e.RUNNING
        await self._tell_children(e.RESUME)

    @workflow.query(name=e.PROGRESS)
    def get_progress(self) -> e.AbProgress:
        return self.progress


def comparison_of(candidate: e.AbVariantState, compared: dict[str, Any]) -> e.VariantComparison:
    """A variant's scorers from a `compare-runs` answer (one suite), each with its verdict."""
    scorers = [scorer for suite in compared.get("suites", []) for scorer in suite.get("scorers", [])]
    return e.VariantComparison(label=candidate.label, eval_run_id=candidate.eval_run_id, scorers=[
        e.ScorerVerdict(scorer=s["name"], paired=s["paired"], baseline_mean=s["baseline_mean"],
                        candidate_mean=s["candidate_mean"], mean_delta=s["mean_delta"], ci_low=s["ci_low"],
                        ci_high=s["ci_high"], regressed=bool(s["regressed"]), verdict=e.verdict(s))
        for s in scorers])


@activity.defn(name=e.AB_COMPARE)
async def compare_variants(given: e.CompareInput) -> list[e.VariantComparison]:
    """Each variant against the baseline, paired by case, as `GET /api/eval-runs/compare-runs` computes it."""
    from neon.execute.evals.activities import EvalNeonAPI  # not in the workflow sandbox's imports

    comparisons = []
    async with EvalNeonAPI(given.connection) as neon:
        for candidate in given.candidates:
            query = urlencode({"baseline_run": given.baseline.eval_run_id, "candidate_run": candidate.eval_run_id})
            compared = await neon.get_json(f"/api/eval-runs/compare-runs?{query}")
            comparisons.append(comparison_of(candidate, compared))
    return comparisons
