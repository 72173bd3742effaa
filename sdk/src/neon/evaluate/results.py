"""What a run produces: per case, the outcome and its scores; per run, a summary by scorer.

`CaseResult.to_dict()` is the wire shape the server stores for each case (`POST /api/eval-runs/{id}/results`),
and `summarize` works on those dicts, so the CLI's table and the server's stored summary agree.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from neon.evaluate.types import Case, Outcome


@dataclass(frozen=True)
class ScoreResult:
    """One scorer's verdict on one case, or why there is none (`error`: the scorer raised)."""

    name: str
    value: float | None
    data_type: str = "numeric"
    label: str = ""
    reason: str = ""
    passed: bool | None = None
    error: str | None = None
    evidence: Any = None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "value": self.value, "data_type": self.data_type, "label": self.label,
                "reason": self.reason, "passed": self.passed, "error": self.error,
                "evidence": _jsonable(self.evidence)}


@dataclass
class CaseResult:
    """One case: what went in, what the agent did, and how it scored."""

    case: Case
    outcome: Outcome
    scores: list[ScoreResult] = field(default_factory=list)
    passed: bool = False

    @property
    def errored(self) -> bool:
        """The agent failed, or a scorer did."""
        return self.outcome.error is not None or any(s.error for s in self.scores)

    def to_dict(self) -> dict[str, Any]:
        return {"case_id": self.case.id, "input": _jsonable(self.case.input),
                "expected": _jsonable(self.case.expected),
                "expected_tools": list(self.case.expected_tools) if self.case.expected_tools is not None else None,
                "output": _jsonable(self.outcome.output), "error": self.outcome.error,
                "duration_ms": self.outcome.duration_ms, "trace_id": self.outcome.trace_id,
                "tools": self.outcome.tools, "passed": self.passed,
                "scores": [s.to_dict() for s in self.scores]}


def _jsonable(value: Any) -> Any:
    """Plain JSON values as they are; anything else through JSON with `repr` as a last resort."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    try:
        return json.loads(json.dumps(value, default=repr))
    except (TypeError, ValueError):
        return repr(value)


def summarize(cases: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Counts and per-scorer statistics over case dicts (as `CaseResult.to_dict` makes them).

    `errored` counts cases where the agent or a scorer failed; `failed` the other cases that did not pass.
    Per scorer: `scored` (cases it was run on), `mean` over the `count` cases with a value, `passed` and
    `errors` counts."""
    total = passed = errored = 0
    durations: list[float] = []
    by_scorer: dict[str, dict[str, Any]] = {}
    for case in cases:
        total += 1
        scores = case.get("scores") or []
        case_errored = case.get("error") is not None or any(s.get("error") for s in scores)
        if case_errored:
            errored += 1
        elif case.get("passed"):
            passed += 1
        if case.get("duration_ms") is not None:
            durations.append(float(case["duration_ms"]))
        for score in scores:
            stats = by_scorer.setdefault(str(score["name"]),
                                         {"scored": 0, "count": 0, "sum": 0.0, "passed": 0, "errors": 0})
            stats["scored"] += 1
            if score.get("error"):
                stats["errors"] += 1
            if score.get("value") is not None:
                stats["count"] += 1
                stats["sum"] += float(score["value"])
            if score.get("passed"):
                stats["passed"] += 1
    scorers = {name: {"mean": (s["sum"] / s["count"]) if s["count"] else None, "count": s["count"],
                      "scored": s["scored"],
                      "passed": s["passed"], "errors": s["errors"]} for name, s in sorted(by_scorer.items())}
    durations.sort()
    return {"total": total, "passed": passed, "failed": total - passed - errored, "errored": errored,
            "pass_rate": passed / total if total else None,
            "duration_ms_p50": durations[len(durations) // 2] if durations else None,
            "duration_ms_max": durations[-1] if durations else None, "scorers": scorers}
