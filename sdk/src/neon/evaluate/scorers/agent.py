"""Agent-specific scorers: they read the trace (tool and LLM spans), not only the final output.

- `tool_selection`: did the agent call the tools it should have, and only those?
- `termination`: did it stop at the right time — no loops, within its step limit, not before finishing?
- `efficiency`: steps, tokens and time against budgets.
- `latency_budget`, `cost_budget`: one budget each, graded.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from neon.evaluate.scorers.base import as_text, make_score, no_score, short
from neon.evaluate.types import Case, Outcome, Score


def _ordered_unique(items: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _lcs(a: Sequence[str], b: Sequence[str]) -> list[str]:
    """The longest common subsequence of two short sequences (tool names)."""
    table = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i, x in enumerate(a):
        for j, y in enumerate(b):
            table[i + 1][j + 1] = table[i][j] + 1 if x == y else max(table[i][j + 1], table[i + 1][j])
    out: list[str] = []
    i, j = len(a), len(b)
    while i and j:
        if a[i - 1] == b[j - 1]:
            out.append(a[i - 1])
            i, j = i - 1, j - 1
        elif table[i - 1][j] >= table[i][j - 1]:
            i -= 1
        else:
            j -= 1
    return out[::-1]


class ToolSelection:
    """Expected tools against the tools the agent called (`case.expected_tools` unless `expected=` is given).

    The value is the F1 of precision (called tools that were expected) and recall (expected tools that were
    called), over distinct tool names: calling a right tool twice is `termination`'s and `efficiency`'s business,
    not this one's. With `ordered=True`, recall counts only the expected tools called in the expected order
    (first calls, as a subsequence). An empty expectation means "no tools": any call scores 0. Evidence: expected,
    called, missing, extra, out_of_order, precision, recall."""

    def __init__(self, expected: Sequence[str] | None = None, *, ordered: bool = False,
                 name: str = "tool_selection", threshold: float = 1.0) -> None:
        self.expected = expected
        self.ordered = ordered
        self.name = name
        self.threshold = threshold

    def __call__(self, case: Case, outcome: Outcome) -> Score:
        expected_tools = self.expected if self.expected is not None else case.expected_tools
        if expected_tools is None:
            return no_score(self.name, "no expected tools: pass expected=[…] or set the case's expected_tools")
        want = _ordered_unique(list(expected_tools))
        called = outcome.tools
        got = _ordered_unique(called)
        hits = [t for t in want if t in got]
        missing = [t for t in want if t not in got]
        extra = [t for t in got if t not in want]
        in_order = _lcs(want, got) if self.ordered else hits
        out_of_order = [t for t in hits if t not in in_order]
        precision = len(hits) / len(got) if got else 1.0
        recall = len(in_order) / len(want) if want else 1.0
        f1 = 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)
        problems = []
        if missing:
            problems.append(f"missing {missing}")
        if extra:
            problems.append(f"unexpected {extra}")
        if out_of_order:
            problems.append(f"out of order {out_of_order} (expected order {want}, called {got})")
        if problems:
            reason = "; ".join(problems)
        elif want:
            reason = f"called the {len(want)} expected tool(s)" + (" in order" if self.ordered else "")
        else:
            reason = "no tools expected, none called"
        return make_score(self.name, round(f1, 6), threshold=self.threshold, reason=reason,
                          evidence={"expected": want, "called": called, "missing": missing, "extra": extra,
                                    "out_of_order": out_of_order, "precision": round(precision, 6),
                                    "recall": round(recall, 6)})


def _is_empty(output: Any) -> bool:
    return output is None or (isinstance(output, str | list | dict | tuple) and not as_text(output).strip("\"[]{} "))


class Termination:
    """Did the agent stop at the right time? Fails (value 0) on any of:

    - **loop**: the same tool called with the same input more than `max_identical_calls` times;
    - **step_limit**: more steps (LLM + tool calls) than `max_steps` (or the case's `metadata["max_steps"]`);
    - **premature**: it ended with an error, with no output (`require_output`), or without ever calling an
      expected tool (`case.expected_tools`, when `require_expected_tools`).

    The label is the first problem's kind (`loop`, `step_limit`, `premature`) or `ok`; evidence lists every
    problem, the step count and the repeated calls."""

    def __init__(self, *, max_steps: int | None = None, max_identical_calls: int = 2, require_output: bool = True,
                 require_expected_tools: bool = True, name: str = "termination") -> None:
        if max_identical_calls < 1:
            raise ValueError("max_identical_calls must be 1 or more")
        self.max_steps = max_steps
        self.max_identical_calls = max_identical_calls
        self.require_output = require_output
        self.require_expected_tools = require_expected_tools
        self.name = name

    def __call__(self, case: Case, outcome: Outcome) -> Score:
        problems: list[dict[str, str]] = []
        calls = outcome.tool_calls()
        counts = Counter((c.name, as_text(c.input)) for c in calls)
        repeated = [{"tool": tool, "input": short(args, 200), "times": n} for (tool, args), n in counts.items()
                    if n > self.max_identical_calls]
        for r in repeated:
            problems.append({"kind": "loop", "detail": f"{r['tool']}({r['input']}) called {r['times']} times"})
        limit = self.max_steps if self.max_steps is not None else case.metadata.get("max_steps")
        steps = outcome.steps
        if isinstance(limit, int) and steps > limit:
            problems.append({"kind": "step_limit", "detail": f"{steps} steps, limit {limit}"})
        if outcome.error:
            problems.append({"kind": "premature", "detail": f"ended with an error: {short(outcome.error, 200)}"})
        elif self.require_output and _is_empty(outcome.output):
            problems.append({"kind": "premature", "detail": "stopped without an output"})
        if self.require_expected_tools and case.expected_tools:
            never = [t for t in _ordered_unique(list(case.expected_tools)) if t not in {c.name for c in calls}]
            if never:
                problems.append({"kind": "premature", "detail": f"never reached expected tool(s) {never}"})
        evidence = {"problems": problems, "steps": steps, "repeated_calls": repeated}
        if not problems:
            return make_score(self.name, 1.0, data_type="boolean", label="ok",
                              reason=f"stopped after {steps} step(s) with an output", evidence=evidence)
        return make_score(self.name, 0.0, data_type="boolean", label=problems[0]["kind"],
                          reason="; ".join(f"{p['kind']}: {p['detail']}" for p in problems), evidence=evidence)


def _graded(actual: float, budget: float) -> float:
    """1 within budget, else budget/actual: twice over budget scores 0.5."""
    if actual <= budget:
        return 1.0
    return budget / actual if actual > 0 else 0.0


class Efficiency:
    """Steps (LLM + tool calls), tokens and wall time against budgets, from the arguments or the case's
    metadata (`max_steps`, `max_tokens`, `max_duration_ms`). A budget can be a limit or the expected cost of a
    good run. Each dimension scores 1 within budget, else budget/actual; the value is their mean, and the score
    passes when every dimension is within budget. Evidence: actual, budget and score per dimension."""

    def __init__(self, *, max_steps: int | None = None, max_tokens: int | None = None,
                 max_duration_ms: float | None = None, name: str = "efficiency", threshold: float = 1.0) -> None:
        self.budgets = {"steps": max_steps, "tokens": max_tokens, "duration_ms": max_duration_ms}
        self.name = name
        self.threshold = threshold

    def __call__(self, case: Case, outcome: Outcome) -> Score:
        keys = {"steps": "max_steps", "tokens": "max_tokens", "duration_ms": "max_duration_ms"}
        actuals: dict[str, float | None] = {"steps": outcome.steps, "tokens": outcome.total_tokens,
                                            "duration_ms": outcome.duration_ms}
        dimensions: dict[str, dict[str, float]] = {}
        unknown = []
        for dim, budget in self.budgets.items():
            limit = budget if budget is not None else case.metadata.get(keys[dim])
            if not isinstance(limit, int | float):
                continue
            actual = actuals[dim]
            if actual is None:
                unknown.append(dim)
                continue
            dimensions[dim] = {"actual": actual, "budget": limit, "score": round(_graded(actual, limit), 6)}
        if not dimensions:
            why = f"unknown {unknown}" if unknown else "no budget: pass max_steps/max_tokens/max_duration_ms"
            return no_score(self.name, why, evidence={"unknown": unknown})
        value = sum(d["score"] for d in dimensions.values()) / len(dimensions)
        over = [f"{dim} {d['actual']:g} > {d['budget']:g}" for dim, d in dimensions.items() if d["score"] < 1]
        reason = ("over budget: " + ", ".join(over)) if over else "within budget: " + ", ".join(
            f"{dim} {d['actual']:g} ≤ {d['budget']:g}" for dim, d in dimensions.items())
        # With the default threshold 1.0 this passes only when every dimension is within budget.
        return make_score(self.name, round(value, 6), threshold=self.threshold, reason=reason,
                          evidence={**dimensions, "unknown": unknown})


class LatencyBudget:
    """The run's duration (`outcome.duration_ms`) within `max_ms`: value 1, else `max_ms / duration`; passes
    within budget. No duration → no score."""

    def __init__(self, max_ms: float, *, name: str = "latency") -> None:
        if max_ms <= 0:
            raise ValueError("max_ms must be positive")
        self.max_ms = max_ms
        self.name = name

    def __call__(self, case: Case, outcome: Outcome) -> Score:
        if outcome.duration_ms is None:
            return no_score(self.name, "the outcome has no duration")
        actual = outcome.duration_ms
        within = actual <= self.max_ms
        return Score(name=self.name, value=round(_graded(actual, self.max_ms), 6), passed=within,
                     reason=f"{actual:.0f} ms {'≤' if within else '>'} budget {self.max_ms:.0f} ms",
                     evidence={"duration_ms": actual, "budget_ms": self.max_ms})


class CostBudget:
    """The run's cost within `max_usd`: value 1, else `max_usd / cost`; passes within budget.

    The cost is `outcome.cost_usd`, else the spans' own costs (`neon.cost`, `gen_ai.usage.cost`), else it is
    computed from the generation spans' tokens with `prices` — USD per million tokens by model, as
    `{"gpt-4o-mini": (0.15, 0.60)}` (input, output). Unknown cost → no score (never a guess)."""

    def __init__(self, max_usd: float, *, prices: Mapping[str, tuple[float, float]] | None = None,
                 name: str = "cost") -> None:
        if max_usd <= 0:
            raise ValueError("max_usd must be positive")
        self.max_usd = max_usd
        self.prices = dict(prices or {})
        self.name = name

    def _priced(self, outcome: Outcome) -> tuple[float | None, list[str]]:
        total = 0.0
        unpriced = []
        for span in outcome.spans:
            if span.span_type != "generation":
                continue
            price = self.prices.get(span.model) or self.prices.get(str(span.attributes.get("gen_ai.request.model")))
            if price is None:
                unpriced.append(span.model or span.name)
                continue
            tokens_in = span.attributes.get("gen_ai.usage.input_tokens") or 0
            tokens_out = span.attributes.get("gen_ai.usage.output_tokens") or 0
            total += (float(tokens_in) * price[0] + float(tokens_out) * price[1]) / 1e6
        return (None if unpriced else total), unpriced

    def __call__(self, case: Case, outcome: Outcome) -> Score:
        cost = outcome.cost
        source = "outcome"
        if cost is None and self.prices:
            cost, unpriced = self._priced(outcome)
            source = "prices"
            if cost is None:
                return no_score(self.name, f"no price for model(s) {sorted(set(unpriced))}",
                                evidence={"unpriced": unpriced})
        if cost is None:
            return no_score(self.name, "cost unknown: set Outcome.cost_usd, record neon.cost on spans, or pass prices=")
        within = cost <= self.max_usd
        return Score(name=self.name, value=round(_graded(cost, self.max_usd), 6), passed=within,
                     reason=f"${cost:.6f} {'≤' if within else '>'} budget ${self.max_usd:.6f}",
                     evidence={"cost_usd": cost, "budget_usd": self.max_usd, "source": source})


tool_selection = ToolSelection
termination = Termination
efficiency = Efficiency
latency_budget = LatencyBudget
cost_budget = CostBudget
