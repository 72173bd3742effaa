"""Comparison statistics: paired deltas, a seeded bootstrap interval, the threshold rule, reports."""

from __future__ import annotations

import json
import random
import statistics
from typing import Any

import pytest

from neon.evaluate.compare import Comparison, bootstrap_mean_ci, check_threshold, compare_cases
from neon.evaluate.report import comparison_markdown, comparison_text


def cases(values: dict[str, float | None], scorer: str = "acc", errors: set[str] = frozenset()) -> list[dict[str, Any]]:
    return [{"case_id": cid, "scores": [{"name": scorer, "value": v, "error": "boom" if cid in errors else None}]}
            for cid, v in values.items()]


def test_paired_deltas_means_and_worse_cases() -> None:
    base = cases({"a": 1.0, "b": 0.5, "c": 1.0, "d": 0.0})
    cand = cases({"b": 1.0, "a": 0.0, "c": 1.0, "d": 0.0, "new": 1.0})  # order differs; "new" is unpaired
    result = compare_cases(base, cand, suite="s", threshold=0.95)
    [acc] = result.scorers
    assert acc.paired == 4
    assert (acc.baseline_mean, acc.candidate_mean) == (pytest.approx(2.5 / 4), pytest.approx(2.0 / 4))
    assert acc.mean_delta == pytest.approx(-0.125)
    assert [(w.case_id, w.delta) for w in acc.worse] == [("a", -1.0)]
    assert acc.improved_cases == 1
    assert acc.regressed  # 0.5 < 0.95 * 0.625
    assert result.candidate_only == ["new"]
    assert result.baseline_only == []


@pytest.mark.parametrize(("threshold", "regressed"), [(0.8, False), (0.81, True), (1.0, True)])
def test_threshold_rule_candidate_mean_below_threshold_times_baseline(threshold: float, regressed: bool) -> None:
    base = cases({str(i): 1.0 for i in range(10)})
    cand = cases({str(i): 1.0 if i < 8 else 0.0 for i in range(10)})  # mean 0.8 vs 1.0
    assert compare_cases(base, cand, threshold=threshold).scorers[0].regressed is regressed


def test_equal_runs_do_not_regress_even_at_threshold_one() -> None:
    same = cases({"a": 0.4, "b": 0.9})
    [acc] = compare_cases(same, same, threshold=1.0).scorers
    assert not acc.regressed
    assert acc.mean_delta == 0
    assert (acc.ci_low, acc.ci_high) == (0, 0)


def test_failed_scorer_counts_zero_and_valueless_scores_are_left_out() -> None:
    base = cases({"a": 1.0, "b": 1.0})
    cand = cases({"a": None, "b": 1.0}, errors={"a"})
    [acc] = compare_cases(base, cand).scorers
    assert acc.candidate_mean == 0.5
    assert acc.regressed
    labels = [{"case_id": "a", "scores": [{"name": "tone", "value": None, "label": "friendly"}]}]
    assert compare_cases(labels, labels).scorers == []


def test_scorer_in_one_run_only_is_noted_not_failed() -> None:
    [only] = compare_cases(cases({"a": 1.0}, scorer="old"), cases({"a": 1.0}, scorer="new")).scorers[:1]
    assert only.paired == 0
    assert not only.regressed
    assert "not scored in" in only.note


def test_bootstrap_is_seeded_and_covers_the_mean() -> None:
    rng = random.Random(1)
    deltas = [rng.gauss(-0.1, 0.2) for _ in range(200)]
    low, high = bootstrap_mean_ci(deltas, seed=7)
    assert (low, high) == bootstrap_mean_ci(deltas, seed=7)
    assert (low, high) != bootstrap_mean_ci(deltas, seed=8)
    assert low < statistics.fmean(deltas) < high
    # about mean ± 1.96 standard errors for a sample this size
    se = statistics.stdev(deltas) / len(deltas) ** 0.5
    assert high - low == pytest.approx(2 * 1.96 * se, rel=0.15)
    assert bootstrap_mean_ci([0.5], seed=0) == (0.5, 0.5)
    narrow = bootstrap_mean_ci(deltas, seed=7, confidence=0.5)
    assert low < narrow[0] < narrow[1] < high


@pytest.mark.parametrize("bad", [0, -1, 1.5, float("nan"), "0.9"])
def test_bad_thresholds_are_refused(bad: Any) -> None:
    with pytest.raises(ValueError, match=r"threshold must be a number in \(0, 1\]"):
        check_threshold(bad)


def test_reports_roundtrip_and_render() -> None:
    suite = compare_cases(cases({"a": 1.0, "b": 1.0}), cases({"a": 0.0, "b": 1.0}), suite="core",
                          baseline_run="r1", candidate_run="r2", threshold=0.9)
    comparison = Comparison(baseline="main", candidate="pr-1", threshold=0.9, seed=0, confidence=0.95,
                            suites=[suite], unmatched_suites=["extra"])
    data = json.loads(json.dumps(comparison.to_dict()))
    assert data["regressed"] is True
    assert data["suites"][0]["scorers"][0]["worse"][0]["delta"] == -1.0
    again = Comparison.from_dict(data)
    assert again.regressed
    assert again.suites[0].scorers[0].worse[0].case_id == "a"
    markdown = comparison_markdown(again)
    assert "❌" in markdown
    assert "| `acc` | 1.000 | 0.500 | -0.500 |" in markdown
    assert "`a`" in markdown
    text = comparison_text(again)
    assert "REGRESSION" in text
    assert "a  acc: 1.000 -> 0.000 (-1.000)" in text
    assert "extra" in text
