"""Response shapes of the A/B test endpoints (documentation and the UI's generated client; the handlers return
the service's dicts, and `server/tests/test_ab_tests.py` checks real answers against these)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from neon_server.api.eval_schemas import EvalRunProgress

AbStatus = Literal["running", "paused", "comparing", "completed", "failed", "cancelled"]
Verdict = Literal["better", "worse", "no clear difference"]


class AbStarted(BaseModel):
    ab_test_id: str
    eval_run_ids: list[str] = Field(description="one eval run per variant, in the variants' order")
    suite: str
    variants: list[str] = Field(description="the labels; the first is the baseline")


class AbVariant(BaseModel):
    label: str
    eval_run_id: str
    agent_version: str = Field(description="the recorded agent version the variant ran (overrides applied)")
    overrides: dict[str, Any] = Field(description="what the variant changed from the suite's spec")
    progress: EvalRunProgress | None = Field(default=None, description="its eval run's progress (detail only)")


class AbSummary(BaseModel):
    ab_test_id: str
    status: AbStatus
    paused: bool
    suite: str | None
    agent: str | None
    concurrency: int | None = Field(description="cases in flight per variant")
    variants: list[AbVariant]
    started_at: str | None
    closed_at: str | None


class AbTestPage(BaseModel):
    ab_tests: list[AbSummary] = Field(description="newest first")


class ScorerVerdict(BaseModel):
    scorer: str
    paired: int = Field(description="cases both runs scored")
    baseline_mean: float | None
    candidate_mean: float | None
    mean_delta: float | None
    ci_low: float | None = Field(description="bootstrap 95 % confidence interval of the mean paired delta")
    ci_high: float | None
    regressed: bool = Field(description="the regression gate: candidate mean < 0.95 × baseline mean")
    verdict: Verdict = Field(description="worse: gate tripped or CI wholly below 0; better: CI wholly above 0")


class VariantComparison(BaseModel):
    label: str
    eval_run_id: str
    scorers: list[ScorerVerdict]


class CaseVariant(BaseModel):
    trace_id: str
    passed: bool
    error: str | None
    scores: dict[str, float | None]


class CaseRow(BaseModel):
    case_id: str
    variants: dict[str, CaseVariant] = Field(description="by variant label")


class AbDetail(AbSummary):
    comparisons: list[VariantComparison] = Field(description="each non-baseline variant against the baseline, "
                                                            "once the test has completed")
    error: str
    cases: list[CaseRow] = Field(description="the cases stored so far, by case id")


class AbAction(BaseModel):
    ab_test_id: str
    action: Literal["pause", "resume", "cancel"]
