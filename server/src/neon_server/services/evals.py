"""Eval runs: opened by `neon eval` (or started through the API), filled with case results, closed with a
summary; and the regression comparison of two versions' latest completed runs.

Case results live in the metadata store (one row per case, with its scores); every score is also written to
the analytics `scores` table (source `eval`, with the run and case ids) so it can be charted and filtered
with the other scores.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Sequence
from typing import Any

from neon.evaluate.compare import Comparison, check_threshold, compare_cases
from neon.evaluate.results import summarize
from neon_server.domain.evaluation import OPEN_STATUSES, CaseResult, EvalRun
from neon_server.services.errors import Conflict, InvalidInput, NotFound
from neon_server.services.scores import NewScore, ScoreService
from neon_server.storage.metadata.evaluation import EvalRunRepository

HEX32 = re.compile(r"^[0-9a-f]{32}$")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
MAX_RESULTS_PER_REQUEST = 1000
MAX_COMPARED_RUNS = 500
WORKFLOW_ID = "workflow_id"  # the metadata key of a workflow run's workflow id


def check_label(value: str, what: str, max_length: int = 200) -> str:
    """Suite names, versions and case ids: 1–200 printable characters."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{what} must not be empty")
    if len(value) > max_length or CONTROL.search(value):
        raise InvalidInput(f"{what} must be at most {max_length} printable characters")
    return value


class EvalRunService:
    def __init__(self, runs: EvalRunRepository, scores: ScoreService) -> None:
        self._runs = runs
        self._scores = scores

    def create(self, project_id: str, *, suite: str, version: str, dataset: str = "", case_count: int | None = None,
               metadata: dict[str, Any] | None = None, origin: str = "cli", status: str = "running") -> EvalRun:
        check_label(suite, "suite")
        check_label(version, "version")
        if case_count is not None and case_count < 0:
            raise InvalidInput("case_count must not be negative")
        return self._runs.create(project_id, suite=suite, version=version, status=status, origin=origin,
                                 dataset=dataset, case_count=case_count, metadata=dict(metadata or {}))

    def _get(self, project_id: str, run_id: str) -> EvalRun:
        run = self._runs.get(project_id, run_id)
        if run is None:
            raise NotFound(f"no eval run {run_id!r} in this project")
        return run

    def run(self, project_id: str, run_id: str) -> EvalRun:
        """The run without its results (NotFound outside the caller's project)."""
        return self._get(project_id, run_id)

    def get(self, project_id: str, run_id: str) -> dict[str, Any]:
        """The run and its case results, in the order they arrived."""
        run = self._get(project_id, run_id)
        return {**run.to_dict(), "results": [r.to_dict() for r in self._runs.results(run.id)]}

    def list(self, project_id: str, *, suite: str | None = None, version: str | None = None,
             status: str | None = None, limit: int = 50) -> list[EvalRun]:
        return self._runs.find(project_id, suite=suite, version=version, status=status, limit=limit)

    def add_results(self, project_id: str, run_id: str, results: Sequence[CaseResult]) -> int:
        """Store case results (a case sent again replaces its result) and write their scores."""
        run = self._get(project_id, run_id)
        if run.status not in OPEN_STATUSES:
            raise Conflict(f"eval run {run_id} is {run.status}: results can only be added while it runs")
        if not results:
            raise InvalidInput("no results given")
        if len(results) > MAX_RESULTS_PER_REQUEST:
            raise InvalidInput(f"at most {MAX_RESULTS_PER_REQUEST} results per request")
        seen: set[str] = set()
        for i, result in enumerate(results):
            check_label(result.case_id, f"results[{i}].case_id")
            if result.case_id in seen:
                raise InvalidInput(f"results[{i}].case_id {result.case_id!r} appears twice in this request")
            seen.add(result.case_id)
            if result.trace_id and not HEX32.match(result.trace_id):
                raise InvalidInput(f"results[{i}].trace_id must be 32 lowercase hex characters")
            _check_scores(result.scores, f"results[{i}]")
        scores = [s for r in results for s in _score_rows(run, r)]
        if scores:  # written first: if this fails, nothing claims the case is stored and a retry redoes both
            self._scores.create(project_id, scores)
        self._runs.add_results(run.id, results)
        return len(results)

    def finish(self, project_id: str, run_id: str, *, status: str = "completed", error: str = "") -> EvalRun:
        """Close a run: counts and per-scorer summary computed here from the stored results."""
        if status not in ("completed", "failed", "cancelled"):
            raise InvalidInput("status must be completed, failed or cancelled")
        run = self._get(project_id, run_id)
        if run.status not in OPEN_STATUSES:
            raise Conflict(f"eval run {run_id} is already {run.status}")
        closed = self._close(run.id, status=status, error=error, only_if_open=False)
        assert closed is not None
        return closed

    def record_workflow(self, run_id: str, workflow_id: str) -> EvalRun:
        """Note the workflow that runs this run (the progress and control routes find it by this)."""
        run = self._runs.merge_metadata(run_id, {WORKFLOW_ID: workflow_id})
        if run is None:
            raise NotFound(f"no eval run {run_id!r}")
        return run

    def stored_results(self, run_id: str) -> Sequence[CaseResult]:
        return self._runs.results(run_id)

    def fail_if_open(self, run_id: str, error: str) -> EvalRun | None:
        """Mark a run failed unless something closed it already (the launcher's watcher)."""
        return self._close(run_id, status="failed", error=error, only_if_open=True)

    def _close(self, run_id: str, *, status: str, error: str, only_if_open: bool) -> EvalRun | None:
        summary = summarize(r.to_dict() for r in self._runs.results(run_id))
        counts = {k: int(summary[k]) for k in ("total", "passed", "failed", "errored")}
        return self._runs.finish(run_id, status=status, error=error[:10_000], counts=counts, summary=summary,
                                 only_if_open=only_if_open)

    # ------------------------------------------------------------ comparison
    def compare(self, project_id: str, *, baseline: str, candidate: str, suite: str | None = None,
                threshold: float = 0.95, seed: int = 0) -> dict[str, Any]:
        """Compare the newest completed run of each suite at `baseline` with the one at `candidate`."""
        try:
            threshold = check_threshold(threshold)
        except ValueError as exc:
            raise InvalidInput(str(exc)) from None
        check_label(baseline, "baseline")
        check_label(candidate, "candidate")
        before, after = self._latest(project_id, baseline, suite), self._latest(project_id, candidate, suite)
        for version, found in ((baseline, before), (candidate, after)):
            if not found:
                what = f"suite {suite!r}" if suite else "any suite"
                raise NotFound(f"no completed run of {what} at version {version!r}")
        common = sorted(set(before) & set(after))
        if not common:
            raise NotFound(f"versions {baseline!r} and {candidate!r} have no suite in common: {baseline!r} ran "
                           f"{', '.join(sorted(before))}; {candidate!r} ran {', '.join(sorted(after))}")
        suites = []
        for name in common:
            base_run, cand_run = before[name], after[name]
            suites.append(compare_cases(
                [r.to_dict() for r in self._runs.results(base_run.id)],
                [r.to_dict() for r in self._runs.results(cand_run.id)], suite=name, baseline_run=base_run.id,
                candidate_run=cand_run.id, threshold=threshold, seed=seed))
        comparison = Comparison(baseline=baseline, candidate=candidate, threshold=threshold, seed=seed,
                                confidence=0.95, suites=suites,
                                unmatched_suites=sorted(set(before) ^ set(after)))
        return comparison.to_dict()

    def compare_runs(self, project_id: str, *, baseline_run: str, candidate_run: str, threshold: float = 0.95,
                     seed: int = 0) -> dict[str, Any]:
        """Compare two given runs of one suite (the UI's "compare these two"), in the shape of `compare`."""
        try:
            threshold = check_threshold(threshold)
        except ValueError as exc:
            raise InvalidInput(str(exc)) from None
        base_run, cand_run = self._get(project_id, baseline_run), self._get(project_id, candidate_run)
        if base_run.suite != cand_run.suite:
            raise InvalidInput(f"runs of different suites cannot be compared: {base_run.id} ran "
                               f"{base_run.suite!r}, {cand_run.id} ran {cand_run.suite!r}")
        suite = compare_cases(
            [r.to_dict() for r in self._runs.results(base_run.id)],
            [r.to_dict() for r in self._runs.results(cand_run.id)], suite=base_run.suite,
            baseline_run=base_run.id, candidate_run=cand_run.id, threshold=threshold, seed=seed)
        return Comparison(baseline=base_run.version, candidate=cand_run.version, threshold=threshold, seed=seed,
                          confidence=0.95, suites=[suite]).to_dict()

    def _latest(self, project_id: str, version: str, suite: str | None) -> dict[str, EvalRun]:
        latest: dict[str, EvalRun] = {}
        for run in self._runs.find(project_id, suite=suite, version=version, status="completed",
                                   limit=MAX_COMPARED_RUNS):  # newest first
            latest.setdefault(run.suite, run)
        return latest


def _check_scores(scores: list[dict[str, Any]], where: str) -> None:
    names: set[str] = set()
    for j, score in enumerate(scores):
        here = f"{where}.scores[{j}]"
        name = score.get("name")
        if not isinstance(name, str) or not 0 < len(name) <= 200:
            raise InvalidInput(f"{here}.name must be 1–200 characters")
        if name in names:
            raise InvalidInput(f"{here}.name {name!r} appears twice for this case")
        names.add(name)
        value = score.get("value")
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)
                                  or not math.isfinite(value) or not 0 <= value <= 1):
            raise InvalidInput(f"{here}.value must be a number in [0, 1] or null")


def _score_rows(run: EvalRun, result: CaseResult) -> list[NewScore]:
    """The case's scores for the analytics table (cases without a trace, or scores without any value, have none)."""
    if not result.trace_id:
        return []
    rows = []
    for score in result.scores:
        value: float | bool | str
        data_type = score.get("data_type") or "numeric"
        if data_type == "categorical" and score.get("label"):
            value = str(score["label"])
        elif score.get("value") is None:
            continue
        elif data_type == "boolean":
            value = float(score["value"]) >= 0.5
        else:
            value = float(score["value"])
        # A stable id per (run, case, scorer): a retried request replaces the score instead of adding another.
        score_id = hashlib.sha256(f"{run.id}\x00{result.case_id}\x00{score['name']}".encode()).hexdigest()[:32]
        rows.append(NewScore(trace_id=result.trace_id, name=str(score["name"]), value=value, source="eval",
                             scorer=str(score["name"]), reason=str(score.get("reason") or ""),
                             evidence=score.get("evidence"), eval_run_id=run.id, dataset_item_id=result.case_id,
                             metadata={"suite": run.suite, "version": run.version}, score_id=score_id))
    return rows
