"""Human-readable output: the run summary table, progress lines, and the comparison as text or Markdown."""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from typing import TextIO

from neon.evaluate.compare import Comparison, ScorerComparison, SuiteComparison
from neon.evaluate.results import CaseResult

MAX_WORSE_ROWS = 20


def _num(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _signed(value: float | None) -> str:
    return "-" if value is None else f"{value:+.3f}"


def table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> str:
    """Left-aligned columns separated by two spaces."""
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=False)]
    return "\n".join("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
                     for row in (header, *rows))


class Progress:
    """Cases done out of total, on one rewritten line on a terminal, else a line every 10 % (CI logs)."""

    def __init__(self, suite: str, total: int, stream: TextIO | None = None) -> None:
        self.suite, self.total, self.done, self.failed = suite, total, 0, 0
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self._last_line = -1
        self._started = time.perf_counter()

    def update(self, result: CaseResult) -> None:
        self.done += 1
        self.failed += 0 if result.passed else 1
        step = max(1, self.total // 10)
        if not self.tty and self.done != self.total and self.done // step == self._last_line:
            return
        self._last_line = self.done // step
        line = (f"{self.suite}: {self.done}/{self.total} cases, {self.failed} not passed, "
                f"{time.perf_counter() - self._started:.1f} s")
        self.stream.write(f"\r{line}" if self.tty else f"{line}\n")
        if self.tty and self.done == self.total:
            self.stream.write("\n")
        self.stream.flush()


def run_summary(suite: str, version: str, results: list[CaseResult], summary: dict[str, object],
                run_id: str = "") -> str:
    """The table `neon eval` prints: per scorer mean, passes and errors; then the cases that did not pass."""
    scorers = summary["scorers"]
    assert isinstance(scorers, dict)
    rows = [(name, _num(s["mean"]), f"{s['passed']}/{s.get('scored', summary['total'])}", str(s["errors"]))
            for name, s in scorers.items()]
    lines = [f"suite {suite} @ {version}" + (f" (run {run_id})" if run_id else ""),
             f"  {summary['passed']}/{summary['total']} passed, {summary['failed']} failed, "
             f"{summary['errored']} errored", "", table(("SCORER", "MEAN", "PASSED", "ERRORS"), rows)]
    failing = [r for r in results if not r.passed]
    if failing:
        lines += ["", "not passed:"]
        for r in failing[:MAX_WORSE_ROWS]:
            why = r.outcome.error or "; ".join(
                f"{s.name}={_num(s.value, 2)}" + (f" ({s.error})" if s.error else "")
                for s in r.scores if s.error or s.passed is False)
            lines.append(f"  {r.case.id}: {why}")
        if len(failing) > MAX_WORSE_ROWS:
            lines.append(f"  … and {len(failing) - MAX_WORSE_ROWS} more")
    return "\n".join(lines)


def _verdict(s: ScorerComparison) -> str:
    if s.note:
        return s.note
    return "REGRESSED" if s.regressed else "ok"


def comparison_text(comparison: Comparison) -> str:
    """The comparison for a terminal."""
    verdict = "REGRESSION" if comparison.regressed else "no regression"
    lines = [f"{comparison.candidate} vs {comparison.baseline}: {verdict} "
             f"(a scorer regresses when candidate mean < {comparison.threshold:g} x baseline mean)"]
    for suite in comparison.suites:
        lines += ["", _suite_title(suite)]
        rows = [(s.name, _num(s.baseline_mean), _num(s.candidate_mean), _signed(s.mean_delta), _ci(s),
                 _num(s.ratio, 2), _verdict(s)) for s in suite.scorers]
        lines.append(table(("SCORER", "BASELINE", "CANDIDATE", "DELTA", f"{comparison.confidence:.0%} CI",
                            "RATIO", "RESULT"), rows))
        worse = sorted((w for s in suite.scorers for w in s.worse), key=lambda w: (w.delta, w.case_id))
        if worse:
            lines += ["", f"cases that got worse ({len(worse)}):"]
            lines += [f"  {w.case_id}  {w.scorer}: {w.baseline:.3f} -> {w.candidate:.3f} ({w.delta:+.3f})"
                      for w in worse[:MAX_WORSE_ROWS]]
            if len(worse) > MAX_WORSE_ROWS:
                lines.append(f"  … and {len(worse) - MAX_WORSE_ROWS} more")
    if comparison.unmatched_suites:
        lines += ["", f"not compared (run in one version only): {', '.join(comparison.unmatched_suites)}"]
    return "\n".join(lines)


def _ci(s: ScorerComparison) -> str:
    return "-" if s.ci_low is None else f"[{s.ci_low:+.3f}, {s.ci_high:+.3f}]"


def _suite_title(suite: SuiteComparison) -> str:
    paired = max((s.paired for s in suite.scorers), default=0)
    extra = ""
    if suite.baseline_only or suite.candidate_only:
        extra = f"; {len(suite.baseline_only)} cases only in baseline, {len(suite.candidate_only)} only in candidate"
    return (f"suite {suite.suite}: runs {suite.baseline_run or '?'} -> {suite.candidate_run or '?'}, "
            f"{paired} paired cases{extra}")


def comparison_markdown(comparison: Comparison) -> str:
    """The comparison as Markdown, for a pull-request comment."""
    icon = "❌" if comparison.regressed else "✅"
    verdict = "regression" if comparison.regressed else "no regression"
    lines = [f"## {icon} Neon eval: `{comparison.candidate}` vs `{comparison.baseline}` — {verdict}", "",
             f"A scorer regresses when its candidate mean is below **{comparison.threshold:g} ×** its baseline "
             f"mean (paired cases). Intervals: {comparison.confidence:.0%} bootstrap CI of the mean per-case "
             f"delta (seed {comparison.seed})."]
    for suite in comparison.suites:
        lines += ["", f"### Suite `{suite.suite}`", "", _suite_title(suite).split(": ", 1)[1], "",
                  "| scorer | baseline | candidate | Δ mean | CI | ratio | result |",
                  "|---|---:|---:|---:|---|---:|---|"]
        for s in suite.scorers:
            result = f"❌ {_verdict(s)}" if s.regressed else _verdict(s)
            lines.append(f"| `{s.name}` | {_num(s.baseline_mean)} | {_num(s.candidate_mean)} | "
                         f"{_signed(s.mean_delta)} | {_ci(s)} | {_num(s.ratio, 2)} | {result} |")
        worse = sorted((w for s in suite.scorers for w in s.worse), key=lambda w: (w.delta, w.case_id))
        if worse:
            lines += ["", f"<details><summary>Cases that got worse ({len(worse)})</summary>", "",
                      "| case | scorer | baseline | candidate | Δ |", "|---|---|---:|---:|---:|"]
            lines += [f"| `{w.case_id}` | `{w.scorer}` | {w.baseline:.3f} | {w.candidate:.3f} | {w.delta:+.3f} |"
                      for w in worse[:MAX_WORSE_ROWS]]
            if len(worse) > MAX_WORSE_ROWS:
                lines.append(f"\n… and {len(worse) - MAX_WORSE_ROWS} more (see the JSON report)")
            lines += ["", "</details>"]
    if comparison.unmatched_suites:
        lines += ["", f"Not compared (run in one version only): {', '.join(comparison.unmatched_suites)}"]
    return "\n".join(lines) + "\n"
