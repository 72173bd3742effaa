"""The support bot's eval suite: `neon eval --path examples/evals --suite support-bot --version main`.

Two small scorers written against the `Scorer` protocol (anything with a `name`, called with the case and
the outcome, returning a `Score`): does the answer contain the expected text, and were the expected tools
called. Cases come from `support_cases.jsonl` beside this file, plus one test with a scorer of its own.
"""

from __future__ import annotations

from support_bot import answer

from neon.evaluate import Case, Outcome, Score, define_suite, define_test


class ContainsExpected:
    """1 when the expected text appears in the answer (case-insensitive), else 0."""

    name = "contains_expected"

    def __call__(self, case: Case, outcome: Outcome) -> Score:
        found = str(case.expected).lower() in str(outcome.output).lower()
        return Score(self.name, 1.0 if found else 0.0,
                     reason="" if found else f"expected {case.expected!r} in the answer")


class ExpectedTools:
    """The share of expected tools the agent called (1 when none were expected and none were called)."""

    name = "expected_tools"

    def __call__(self, case: Case, outcome: Outcome) -> Score:
        expected = set(case.expected_tools or [])
        called = set(outcome.tools)
        if not expected:
            return Score(self.name, 1.0 if not called else 0.0, evidence={"called": sorted(called)})
        missing = sorted(expected - called)
        return Score(self.name, 1 - len(missing) / len(expected), evidence={"called": sorted(called)},
                     reason=f"missing {', '.join(missing)}" if missing else "")


class Brief:
    """Answers should stay short."""

    name = "brief"

    def __call__(self, case: Case, outcome: Outcome) -> Score:
        return Score(self.name, 1.0 if len(str(outcome.output)) <= 80 else 0.0)


define_suite(
    "support-bot",
    agent=answer,
    dataset="support_cases.jsonl",
    cases=[define_test("fees-short", input="Any fees?", expected="no monthly fee", expected_tools=["lookup_policy"],
                       scorers=[Brief()])],
    scorers=[ContainsExpected(), ExpectedTools()],
    concurrency=4,
    timeout_seconds=10,
)
