"""Response shapes of the evaluation endpoints (eval runs, comparisons, datasets), for the OpenAPI schema and the
UI's generated client.

As in `schemas.py`, the handlers return the services' plain dicts; these models document them, and a test
checks real answers against them (`server/tests/test_eval_schemas.py`).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

ISO_TIME = "ISO 8601 with offset: 2026-01-02T03:04:05.123456+00:00"


def created(model: type[BaseModel]) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route whose 201 answer has this shape."""
    return {201: {"model": model}}


# ------------------------------------------------------------------ eval runs
class ScorerSummary(BaseModel):
    mean: float | None = Field(description="over the cases the scorer gave a value")
    count: int = Field(description="cases with a value")
    scored: int = Field(description="cases the scorer ran on")
    passed: int
    errors: int = Field(description="cases where the scorer raised")


class RunSummary(BaseModel):
    total: int
    passed: int
    failed: int
    errored: int
    pass_rate: float | None
    duration_ms_p50: float | None
    duration_ms_max: float | None
    scorers: dict[str, ScorerSummary]


class EvalRun(BaseModel):
    id: str
    project_id: str
    suite: str
    version: str = Field(description="what was evaluated: a branch, a PR, a commit")
    status: Literal["queued", "running", "completed", "failed", "cancelled"]
    origin: str = Field(description="cli (recorded by `neon eval`) or server (started through the API)")
    dataset: str
    case_count: int | None = Field(description="cases announced when the run was opened")
    total: int
    passed: int
    failed: int = Field(description="cases that did not pass, without an error")
    errored: int = Field(description="cases where the agent or a scorer raised")
    summary: RunSummary | None = Field(description="computed when the run finishes")
    metadata: dict[str, Any]
    error: str
    created_at: str = Field(description=ISO_TIME)
    started_at: str | None = Field(description=ISO_TIME)
    finished_at: str | None = Field(description=ISO_TIME)
    duration_ms: float | None


class EvalRunProgress(BaseModel):
    run_id: str
    status: str = Field(description="queued, loading, running, paused, aggregating (live); completed, failed, "
                                    "cancelled (closed)")
    live: bool = Field(description="true: counted by the run's workflow now; false: the stored counts")
    workflow_id: str | None = Field(description="the Temporal workflow running it; null for a run `neon eval` fills")
    total: int = Field(description="cases in the run (0 until they are loaded)")
    done: int = Field(description="cases finished")
    passed: int
    failed: int
    errored: int
    running: int = Field(description="cases in flight")
    paused: bool = Field(description="no new case starts; the running ones finish")


class EvalRunAction(BaseModel):
    run_id: str
    action: Literal["pause", "resume", "cancel"] = Field(description="what was asked of the run's workflow")
    workflow_id: str


class EvalRunPage(BaseModel):
    runs: list[EvalRun] = Field(description="newest first")


class CaseScore(BaseModel):
    name: str
    value: float | None = Field(description="in [0, 1]; null for a label-only score or a scorer that raised")
    data_type: str = Field(description="numeric, boolean or categorical")
    label: str
    reason: str
    passed: bool | None
    error: str | None = Field(description="the scorer raised this")
    evidence: Any = Field(description="what the scorer looked at (any JSON)")


class CaseResult(BaseModel):
    case_id: str
    trace_id: str = Field(description="the case's trace; empty when it was not traced")
    input: Any
    expected: Any
    output: Any
    error: str | None = Field(description="the agent raised this")
    duration_ms: float | None
    passed: bool
    scores: list[CaseScore]
    tools: list[str] | None = Field(description="tools the agent called, in order")


class EvalRunDetail(EvalRun):
    results: list[CaseResult] = Field(description="in the order they arrived")


class CaseDelta(BaseModel):
    case_id: str
    scorer: str
    baseline: float
    candidate: float
    delta: float = Field(description="candidate − baseline")


class ScorerComparison(BaseModel):
    name: str
    paired: int = Field(description="cases both runs scored")
    baseline_mean: float | None
    candidate_mean: float | None
    mean_delta: float | None
    ci_low: float | None = Field(description="bootstrap confidence interval of the mean delta")
    ci_high: float | None
    regressed: bool = Field(description="candidate mean < threshold × baseline mean")
    improved_cases: int
    worse: list[CaseDelta] = Field(description="cases whose value fell, worst first")
    note: str
    ratio: float | None = Field(description="candidate mean / baseline mean")


class SuiteComparison(BaseModel):
    suite: str
    baseline_run: str
    candidate_run: str
    scorers: list[ScorerComparison]
    baseline_only: list[str] = Field(description="case ids missing from the candidate run")
    candidate_only: list[str]
    regressed: bool


class Comparison(BaseModel):
    baseline: str = Field(description="the baseline version")
    candidate: str
    threshold: float
    seed: int
    confidence: float
    suites: list[SuiteComparison]
    unmatched_suites: list[str] = Field(description="suites run in only one of the versions")
    regressed: bool


class ResultsStored(BaseModel):
    stored: int


# ------------------------------------------------------------------ datasets
class Dataset(BaseModel):
    id: str
    project_id: str
    name: str
    description: str
    current_version: int
    item_count: int = Field(description="items at the current version")
    created_at: str = Field(description=ISO_TIME)
    updated_at: str = Field(description=ISO_TIME)


class DatasetList(BaseModel):
    datasets: list[Dataset]


class DatasetVersion(BaseModel):
    version: int
    item_count: int
    change: str = Field(description="what this version changed, e.g. 'added 3 items'")
    created_at: str = Field(description=ISO_TIME)


class DatasetVersionList(BaseModel):
    versions: list[DatasetVersion] = Field(description="oldest first")


class DatasetItem(BaseModel):
    id: str
    input: Any
    expected: Any
    expected_tools: list[str] | None
    metadata: dict[str, Any]
    source_trace_id: str = Field(description="the trace the item was made from, if any")
    added_in: int = Field(description="version that added it")
    removed_in: int | None = Field(description="version that removed it")


class DatasetItemPage(BaseModel):
    version: int
    items: list[DatasetItem]
    next_offset: int | None


class ItemsAdded(BaseModel):
    dataset: Dataset
    version: int
    item_ids: list[str]


class ItemsRemoved(BaseModel):
    dataset: Dataset
    version: int


class FromTracesSkipped(BaseModel):
    already_in_dataset: int
    no_root_input: int


class FromTracesResult(BaseModel):
    dataset: Dataset
    version: int
    added: int
    matched: int = Field(description="traces that matched the filter")
    skipped: FromTracesSkipped
    item_ids: list[str]
