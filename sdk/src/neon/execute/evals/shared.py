"""What crosses the boundary of the eval workflows: names and small JSON-serialisable dataclasses.

The workflow sandbox imports this module, so it is plain data and does no I/O. A case's output, scores and
trace never pass through history: the activity that runs the case writes its result to Neon itself and
hands back only how it ended.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from neon.execute.shared import Connection

EVAL_RUN = "neon.eval_run"
EVAL_CASE = "neon.eval_case"

# Activity names (stable: they are recorded in histories)
LOAD_CASES = "neon.eval_load_cases"
RUN_CASE = "neon.eval_run_case"
CASE_MESSAGE = "neon.eval_case_message"
SCORE_AGENT_CASE = "neon.eval_score_agent_case"
RECORD_CASE_ERROR = "neon.eval_record_case_error"
FINISH_RUN = "neon.eval_finish_run"

# Signals and the query
PAUSE, RESUME, PROGRESS = "pause", "resume", "progress"

# How a case ended (a case that raised or whose scorer raised is `errored`, as in results.summarize)
PASSED, FAILED, ERRORED = "passed", "failed", "errored"

# Run statuses as the progress query reports them
LOADING, RUNNING, PAUSED, AGGREGATING = "loading", "running", "paused", "aggregating"
COMPLETED, CANCELLED, RUN_FAILED = "completed", "cancelled", "failed"

DEFAULT_CONCURRENCY = 8


def case_workflow_id(eval_run_id: str, case_id: str) -> str:
    """One child per case, named after it: starting it twice (a replayed parent) finds the same child."""
    return f"{eval_run_id}/{case_id}"


def agent_run_id(eval_run_id: str, case_id: str) -> str:
    """The agent run of a case of an agent-spec suite (its trace id follows from it, as for any agent run)."""
    return f"{case_workflow_id(eval_run_id, case_id)}/agent"


@dataclass
class SuiteRef:
    """Where a Python suite lives: the evals folder (on the worker's disk) and the suite's name."""

    evals_path: str
    suite: str


@dataclass
class AgentTarget:
    """A suite's agent spec, loaded once by the activity that lists the cases."""

    name: str
    version: str                     # the spec's content hash
    spec: dict[str, Any]


@dataclass
class LoadedSuite:
    case_ids: list[str]
    agent: AgentTarget | None = None  # set when the suite's target is an agent spec


@dataclass
class EvalRunInput:
    project_id: str
    eval_run_id: str                 # the metadata eval run this workflow fills
    suite: SuiteRef
    version: str
    connection: Connection           # Neon's URL and a run token for the project
    concurrency: int = DEFAULT_CONCURRENCY
    case_ids: list[str] = field(default_factory=list)  # only these cases of the suite (empty: all of them)
    case_timeout_seconds: float = 3600.0
    agent: AgentTarget | None = None  # run the cases against this spec instead of the suite's (an A/B variant)


@dataclass
class EvalCaseInput:
    eval_run_id: str
    suite: SuiteRef
    version: str
    case_id: str
    connection: Connection
    timeout_seconds: float = 3600.0
    project_id: str = ""
    agent: AgentTarget | None = None


@dataclass
class AgentAnswer:
    """How a case's agent run ended, for the scoring activity."""

    case: EvalCaseInput
    answer: str | None
    error: str | None
    trace_id: str
    duration_ms: float


@dataclass
class CaseErrorInput:
    eval_run_id: str
    case_id: str
    error: str
    connection: Connection


@dataclass
class FinishInput:
    eval_run_id: str
    status: str                      # completed, failed or cancelled
    connection: Connection
    error: str = ""


@dataclass
class EvalProgress:
    total: int = 0
    done: int = 0
    passed: int = 0
    failed: int = 0
    errored: int = 0
    running: int = 0
    status: str = LOADING
    paused: bool = False


# ------------------------------------------------------------------ A/B tests
AB_TEST = "neon.ab_test"
AB_COMPARE = "neon.ab_compare"  # activity: each variant's eval run against the baseline's

# Verdicts per scorer of a variant against the baseline
BETTER, WORSE, NO_CLEAR_DIFFERENCE = "better", "worse", "no clear difference"
COMPARING = "comparing"


@dataclass
class AbVariant:
    label: str                       # the variant's name, and the version of its eval run
    eval_run_id: str                 # the metadata eval run its child `neon.eval_run` fills
    agent: AgentTarget               # the spec its cases run against (a recorded version, overrides applied)


@dataclass
class AbTestInput:
    project_id: str
    ab_test_id: str
    suite: SuiteRef
    variants: list[AbVariant]        # the first is the baseline
    connection: Connection
    concurrency: int = DEFAULT_CONCURRENCY  # cases in flight per variant


@dataclass
class AbVariantState:
    label: str
    eval_run_id: str
    status: str = RUNNING            # then how its eval run ended: completed, failed or cancelled


@dataclass
class AbProgress:
    status: str = RUNNING            # running, paused, comparing, completed, failed, cancelled
    paused: bool = False
    variants: list[AbVariantState] = field(default_factory=list)


@dataclass
class ScorerVerdict:
    scorer: str
    paired: int
    baseline_mean: float | None
    candidate_mean: float | None
    mean_delta: float | None
    ci_low: float | None
    ci_high: float | None
    regressed: bool
    verdict: str


@dataclass
class VariantComparison:
    label: str
    eval_run_id: str
    scorers: list[ScorerVerdict]


@dataclass
class CompareInput:
    baseline: AbVariantState
    candidates: list[AbVariantState]
    connection: Connection


@dataclass
class AbResult:
    status: str                      # completed, or failed when the baseline's run did not complete
    baseline: str
    variants: list[AbVariantState]
    comparisons: list[VariantComparison]
    error: str = ""


def verdict(scorer: dict[str, Any]) -> str:
    """A scorer of a variant against the baseline (a scorer entry of `compare-runs`): worse when the regression
    gate trips or the whole confidence interval of the mean delta is below zero; better when it is wholly
    above zero; otherwise there is no clear difference."""
    low, high = scorer.get("ci_low"), scorer.get("ci_high")
    if scorer.get("regressed") or (high is not None and high < 0):
        return WORSE
    if low is not None and low > 0:
        return BETTER
    return NO_CLEAR_DIFFERENCE
