"""What crosses the boundary of the eval workflows: names and small JSON-serialisable dataclasses.

The workflow sandbox imports this module, so it is plain data and does no I/O. A case's output, scores and
trace never pass through history: the activity that runs the case writes its result to Neon itself and
hands back only how it ended.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from neon.execute.shared import Connection

EVAL_RUN = "neon.eval_run"
EVAL_CASE = "neon.eval_case"

# Activity names (stable: they are recorded in histories)
LOAD_CASES = "neon.eval_load_cases"
RUN_CASE = "neon.eval_run_case"
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


@dataclass
class SuiteRef:
    """Where a Python suite lives: the evals folder (on the worker's disk) and the suite's name."""

    evals_path: str
    suite: str


@dataclass
class EvalRunInput:
    project_id: str
    eval_run_id: str                 # the metadata eval run this workflow fills
    suite: SuiteRef
    version: str
    connection: Connection           # Neon's URL and a run token for the project
    concurrency: int = DEFAULT_CONCURRENCY
    case_ids: list[str] = field(default_factory=list)  # empty: every case of the suite, loaded by an activity
    case_timeout_seconds: float = 3600.0


@dataclass
class EvalCaseInput:
    eval_run_id: str
    suite: SuiteRef
    version: str
    case_id: str
    connection: Connection
    timeout_seconds: float = 3600.0


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
