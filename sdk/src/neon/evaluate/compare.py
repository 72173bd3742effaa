"""Regression comparison of two runs of a suite: per scorer, means, paired per-case deltas, a bootstrap
confidence interval of the mean delta, and the cases that got worse.

The gate: a scorer **regresses** when the candidate's mean is below `threshold` × the baseline's mean, both
means taken over the cases the two runs share (paired by case id). A case whose scorer failed counts as 0
(so a crashing candidate cannot pass); a case where the scorer gave no value (a categorical label) is left out
for that scorer. The comparison regresses when any scorer of any suite does. The confidence interval is
reported to show whether a change is noise; it does not move the gate.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

DEFAULT_RESAMPLES = 2000
DEFAULT_SEED = 0
DEFAULT_CONFIDENCE = 0.95


@dataclass(frozen=True)
class CaseDelta:
    case_id: str
    scorer: str
    baseline: float
    candidate: float

    @property
    def delta(self) -> float:
        return self.candidate - self.baseline


@dataclass
class ScorerComparison:
    name: str
    paired: int
    baseline_mean: float | None
    candidate_mean: float | None
    mean_delta: float | None
    ci_low: float | None
    ci_high: float | None
    regressed: bool
    improved_cases: int = 0
    worse: list[CaseDelta] = field(default_factory=list)
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.baseline_mean is None or self.candidate_mean is None or self.baseline_mean == 0:
            return None
        return self.candidate_mean / self.baseline_mean


@dataclass
class SuiteComparison:
    suite: str
    baseline_run: str
    candidate_run: str
    scorers: list[ScorerComparison]
    baseline_only: list[str] = field(default_factory=list)  # case ids not in the candidate run
    candidate_only: list[str] = field(default_factory=list)

    @property
    def regressed(self) -> bool:
        return any(s.regressed for s in self.scorers)


@dataclass
class Comparison:
    baseline: str
    candidate: str
    threshold: float
    seed: int
    confidence: float
    suites: list[SuiteComparison]
    unmatched_suites: list[str] = field(default_factory=list)  # suites run in only one of the versions

    @property
    def regressed(self) -> bool:
        return any(s.regressed for s in self.suites)

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape (`neon compare --json`, `GET /api/eval-runs/compare`)."""
        data = asdict(self)
        data["regressed"] = self.regressed
        for suite, raw in zip(self.suites, data["suites"], strict=True):
            raw["regressed"] = suite.regressed
            for scorer, raw_scorer in zip(suite.scorers, raw["scorers"], strict=True):
                raw_scorer["ratio"] = scorer.ratio
                for case, raw_case in zip(scorer.worse, raw_scorer["worse"], strict=True):
                    raw_case["delta"] = case.delta
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Comparison:
        suites = []
        for raw in data["suites"]:
            scorers = []
            for s in raw["scorers"]:
                worse = [CaseDelta(case_id=w["case_id"], scorer=w["scorer"], baseline=w["baseline"],
                                   candidate=w["candidate"]) for w in s.get("worse", [])]
                scorers.append(ScorerComparison(
                    name=s["name"], paired=s["paired"], baseline_mean=s["baseline_mean"],
                    candidate_mean=s["candidate_mean"], mean_delta=s["mean_delta"], ci_low=s["ci_low"],
                    ci_high=s["ci_high"], regressed=s["regressed"], improved_cases=s.get("improved_cases", 0),
                    worse=worse, note=s.get("note", "")))
            suites.append(SuiteComparison(suite=raw["suite"], baseline_run=raw["baseline_run"],
                                          candidate_run=raw["candidate_run"], scorers=scorers,
                                          baseline_only=list(raw.get("baseline_only", [])),
                                          candidate_only=list(raw.get("candidate_only", []))))
        return cls(baseline=data["baseline"], candidate=data["candidate"], threshold=data["threshold"],
                   seed=data["seed"], confidence=data["confidence"], suites=suites,
                   unmatched_suites=list(data.get("unmatched_suites", [])))


def check_threshold(threshold: float) -> float:
    """Thresholds are ratios in (0, 1]: 0.95 lets a scorer's mean fall by up to 5 %."""
    if not (isinstance(threshold, int | float) and math.isfinite(threshold) and 0 < threshold <= 1):
        raise ValueError(f"threshold must be a number in (0, 1] (e.g. 0.95), got {threshold!r}")
    return float(threshold)


def bootstrap_mean_ci(values: Sequence[float], *, seed: int = DEFAULT_SEED, resamples: int = DEFAULT_RESAMPLES,
                      confidence: float = DEFAULT_CONFIDENCE) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of `values`: resample with replacement `resamples` times
    with a generator seeded by `seed` (the same inputs and seed give the same interval)."""
    if not values:
        raise ValueError("no values to bootstrap")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if resamples < 1:
        raise ValueError("resamples must be at least 1")
    rng = random.Random(seed)  # noqa: S311 - statistics, not secrets
    n = len(values)
    means = sorted(sum(rng.choices(values, k=n)) / n for _ in range(resamples))
    tail = (1 - confidence) / 2
    low = means[min(resamples - 1, max(0, math.floor(tail * resamples)))]
    high = means[min(resamples - 1, max(0, math.ceil((1 - tail) * resamples) - 1))]
    return low, high


def _values(cases: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, float]]:
    """scorer → case id → value (a failed scorer counts 0; a score without a value is left out)."""
    table: dict[str, dict[str, float]] = {}
    for case in cases:
        for score in case.get("scores") or []:
            if score.get("error"):
                value = 0.0
            elif score.get("value") is None:
                continue
            else:
                value = float(score["value"])
            table.setdefault(str(score["name"]), {})[str(case["case_id"])] = value
    return table


def compare_cases(baseline: Sequence[Mapping[str, Any]], candidate: Sequence[Mapping[str, Any]], *,
                  suite: str = "", baseline_run: str = "", candidate_run: str = "", threshold: float = 0.95,
                  seed: int = DEFAULT_SEED, resamples: int = DEFAULT_RESAMPLES,
                  confidence: float = DEFAULT_CONFIDENCE) -> SuiteComparison:
    """Compare two runs' case results (dicts as `CaseResult.to_dict` makes them), scorer by scorer."""
    threshold = check_threshold(threshold)
    base_ids = [str(c["case_id"]) for c in baseline]
    cand_ids = {str(c["case_id"]) for c in candidate}
    base_values, cand_values = _values(baseline), _values(candidate)
    scorers = []
    for name in sorted(set(base_values) | set(cand_values)):
        before, after = base_values.get(name, {}), cand_values.get(name, {})
        shared = [case_id for case_id in base_ids if case_id in before and case_id in after]
        if not shared:
            where = "the candidate" if name in before else "the baseline"
            scorers.append(ScorerComparison(name=name, paired=0, baseline_mean=None, candidate_mean=None,
                                            mean_delta=None, ci_low=None, ci_high=None, regressed=False,
                                            note=f"no paired cases: not scored in {where}"))
            continue
        pairs = [CaseDelta(case_id=c, scorer=name, baseline=before[c], candidate=after[c]) for c in shared]
        deltas = [p.delta for p in pairs]
        base_mean = sum(p.baseline for p in pairs) / len(pairs)
        cand_mean = sum(p.candidate for p in pairs) / len(pairs)
        low, high = bootstrap_mean_ci(deltas, seed=seed, resamples=resamples, confidence=confidence)
        worse = sorted((p for p in pairs if p.delta < 0), key=lambda p: (p.delta, p.case_id))
        scorers.append(ScorerComparison(
            name=name, paired=len(pairs), baseline_mean=base_mean, candidate_mean=cand_mean,
            mean_delta=sum(deltas) / len(deltas), ci_low=low, ci_high=high,
            regressed=cand_mean < threshold * base_mean, improved_cases=sum(1 for d in deltas if d > 0),
            worse=worse))
    return SuiteComparison(suite=suite, baseline_run=baseline_run, candidate_run=candidate_run, scorers=scorers,
                           baseline_only=[c for c in base_ids if c not in cand_ids],
                           candidate_only=sorted(cand_ids - set(base_ids)))
