"""Agent scorers over real traces: a tiny agent runs under capture_spans, and Outcome.from_spans reads its spans."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any

import pytest

import neon
from neon.breakpoints.spans import SpanInfo
from neon.evaluate import (
    Case,
    Outcome,
    Score,
    cost_budget,
    efficiency,
    latency_budget,
    run_scorer,
    termination,
    tool_selection,
)
from neon.testing import TickClock, capture_spans


@neon.tool()
def search(query: str) -> list[str]:
    return [f"doc about {query}"]


@neon.tool()
def lookup_order(order_id: str) -> dict[str, Any]:
    return {"order_id": order_id, "status": "shipped"}


@neon.tool()
def refund(order_id: str) -> dict[str, Any]:
    if order_id == "bad":
        raise ValueError("no such order")
    return {"refunded": True}


TOOLS = {"search": search, "lookup_order": lookup_order, "refund": refund}


def run_agent(plan: Sequence[tuple[str, dict[str, Any]]], answer: Any = "done", *, fail: bool = False,
              tokens: tuple[int, int] = (100, 20), model: str = "small-model") -> Outcome:
    """Run a scripted agent (one LLM call before each tool call, one to answer) and return its Outcome."""
    with capture_spans(clock=TickClock(step=10_000_000)) as spans:  # every clock reading advances 10 ms
        try:
            with neon.trace("agent", input={"question": "where is my order?"}) as root:
                for tool, args in plan:
                    with neon.generation("decide", model=model, provider="fake") as g:
                        g.set_usage(input_tokens=tokens[0], output_tokens=tokens[1])
                    with contextlib.suppress(ValueError):  # the agent carries on after a failed tool call
                        TOOLS[tool](**args)
                with neon.generation("answer", model=model, provider="fake") as g:
                    g.set_usage(input_tokens=tokens[0], output_tokens=tokens[1])
                if fail:
                    raise RuntimeError("model refused")
                root.set_output(answer)
        except RuntimeError:
            pass
        return Outcome.from_spans(spans.finished())


def score(scorer: Any, outcome: Outcome, **case: Any) -> Score:
    return asyncio.run(run_scorer(scorer, Case(input="where is my order?", **case), outcome))


# ---------------------------------------------------------------- Outcome.from_spans


def test_outcome_from_real_spans() -> None:
    outcome = run_agent([("lookup_order", {"order_id": "A1"}), ("refund", {"order_id": "A1"})],
                        answer={"reply": "refunded"})
    assert outcome.tools == ["lookup_order", "refund"]  # start order, though exported children-first
    assert outcome.output == {"reply": "refunded"}  # the root span's output, JSON-decoded
    assert outcome.error is None
    assert outcome.trace_id == format(1, "032x")
    assert (outcome.llm_calls, outcome.steps, outcome.total_tokens) == (3, 5, 360)
    assert outcome.duration_ms is not None
    assert outcome.duration_ms > 0
    [call] = [c for c in outcome.tool_calls() if c.name == "refund"]
    assert call.input == '{"order_id": "A1"}'
    assert outcome.cost is None  # no span carried a cost, and none was given
    failed_tool = run_agent([("refund", {"order_id": "bad"})])
    assert [(c.name, c.status) for c in failed_tool.tool_calls()] == [("refund", "error")]


def test_outcome_from_a_failed_run_and_from_stored_spans() -> None:
    failed = run_agent([("search", {"query": "x"})], fail=True)
    assert failed.output is None
    assert failed.error == "RuntimeError: model refused"
    stored = Outcome.from_spans([
        {"name": "agent", "span_id": "a", "span_type": "agent", "start_time_ns": 1, "duration_ms": 30,
         "attributes": {"neon.output": "hi"}},
        {"name": "t2", "span_id": "c", "parent_span_id": "a", "span_type": "tool", "tool_name": "second",
         "start_time_ns": 20, "attributes": {"neon.cost": 0.25}},
        {"name": "t1", "span_id": "b", "parent_span_id": "a", "span_type": "tool", "tool_name": "first",
         "start_time_ns": 10, "attributes": {"gen_ai.usage.cost": 0.5}},
    ], output="given")
    assert stored.tools == ["first", "second"]
    assert (stored.output, stored.duration_ms, stored.cost) == ("given", 30.0, 0.75)
    assert Outcome.from_spans([SpanInfo(name="only", span_id="x")]).spans[0].name == "only"
    assert Outcome(cost_usd=1.5, spans=stored.spans).cost == 1.5  # a known cost wins over the spans'


# ---------------------------------------------------------------- tool selection


def test_tool_selection_passes_when_the_expected_tools_were_called() -> None:
    outcome = run_agent([("lookup_order", {"order_id": "A1"}), ("refund", {"order_id": "A1"})])
    result = score(tool_selection(), outcome, expected_tools=["lookup_order", "refund"])
    assert (result.value, result.passed) == (1.0, True)
    assert result.reason == "called the 2 expected tool(s)"
    assert score(tool_selection(["refund", "lookup_order"]), outcome).passed is True  # unordered by default


def test_tool_selection_reports_missing_and_extra_tools() -> None:
    outcome = run_agent([("search", {"query": "refunds"}), ("lookup_order", {"order_id": "A1"})])
    result = score(tool_selection(), outcome, expected_tools=["lookup_order", "refund"])
    assert result.passed is False
    assert result.evidence["missing"] == ["refund"]
    assert result.evidence["extra"] == ["search"]
    assert (result.evidence["precision"], result.evidence["recall"], result.value) == (0.5, 0.5, 0.5)
    assert result.reason == "missing ['refund']; unexpected ['search']"


def test_tool_selection_in_order() -> None:
    backwards = run_agent([("refund", {"order_id": "A1"}), ("lookup_order", {"order_id": "A1"})])
    result = score(tool_selection(["lookup_order", "refund"], ordered=True), backwards)
    assert result.passed is False
    assert result.evidence["recall"] == 0.5
    assert result.evidence["out_of_order"] == ["refund"]  # called before lookup_order, which it should follow
    assert "out of order" in result.reason
    forwards = run_agent([("lookup_order", {"order_id": "A1"}), ("refund", {"order_id": "A1"})])
    assert score(tool_selection(["lookup_order", "refund"], ordered=True), forwards).passed is True


def test_tool_selection_with_no_tools_expected_and_no_expectation() -> None:
    assert score(tool_selection([]), run_agent([])).passed is True
    assert score(tool_selection([]), run_agent([("search", {"query": "x"})])).value == 0.0
    unknown = score(tool_selection(), run_agent([]))
    assert (unknown.value, unknown.passed) == (None, None)


# ---------------------------------------------------------------- termination


def test_termination_ok() -> None:
    result = score(termination(), run_agent([("lookup_order", {"order_id": "A1"})]), expected_tools=["lookup_order"])
    assert (result.value, result.passed, result.label) == (1.0, True, "ok")


def test_termination_detects_a_loop() -> None:
    outcome = run_agent([("search", {"query": "order"})] * 3 + [("lookup_order", {"order_id": "A1"})])
    result = score(termination(), outcome)
    assert (result.passed, result.label) == (False, "loop")
    assert result.evidence["repeated_calls"] == [{"tool": "search", "input": '{"query": "order"}', "times": 3}]
    # different inputs are progress, not a loop
    varied = run_agent([("search", {"query": q}) for q in ("a", "b", "c")])
    assert score(termination(), varied).passed is True
    # twice the same call is allowed by default (a retry); not with max_identical_calls=1
    twice = run_agent([("search", {"query": "order"})] * 2)
    assert score(termination(), twice).passed is True
    assert score(termination(max_identical_calls=1), twice).label == "loop"


def test_termination_step_limit_from_the_scorer_or_the_case() -> None:
    outcome = run_agent([("search", {"query": q}) for q in "abcd"])  # 4 tools + 5 LLM calls
    assert score(termination(max_steps=8), outcome).label == "step_limit"
    assert score(termination(), outcome, metadata={"max_steps": 20}).passed is True
    assert "9 steps, limit 5" in score(termination(), outcome, metadata={"max_steps": 5}).reason


def test_termination_detects_premature_stops() -> None:
    errored = score(termination(), run_agent([("search", {"query": "x"})], fail=True))
    assert (errored.passed, errored.label) == (False, "premature")
    assert "ended with an error: RuntimeError: model refused" in errored.reason
    silent = score(termination(), run_agent([], answer=""))
    assert silent.reason == "premature: stopped without an output"
    assert score(termination(require_output=False), run_agent([], answer="")).passed is True
    unfinished = score(termination(), run_agent([("lookup_order", {"order_id": "A1"})]),
                       expected_tools=["lookup_order", "refund"])
    assert unfinished.reason == "premature: never reached expected tool(s) ['refund']"


# ---------------------------------------------------------------- efficiency and budgets


def test_efficiency_within_and_over_budget() -> None:
    outcome = run_agent([("search", {"query": "x"})])  # 2 LLM calls + 1 tool, 240 tokens
    within = score(efficiency(max_steps=3, max_tokens=300), outcome)
    assert (within.value, within.passed) == (1.0, True)
    over = score(efficiency(max_steps=3, max_tokens=120), outcome)
    assert (over.value, over.passed) == (0.75, False)  # mean of 1.0 (steps) and 120/240 (tokens)
    assert over.evidence["tokens"] == {"actual": 240, "budget": 120, "score": 0.5}
    assert over.reason == "over budget: tokens 240 > 120"
    assert score(efficiency(max_steps=3, max_tokens=120, threshold=0.7), outcome).passed is True


def test_efficiency_budgets_from_the_case_and_time() -> None:
    outcome = run_agent([("search", {"query": "x"})])
    assert outcome.duration_ms is not None
    from_case = score(efficiency(), outcome, metadata={"max_duration_ms": outcome.duration_ms / 2})
    assert (from_case.value, from_case.passed) == (0.5, False)
    nothing = score(efficiency(), outcome)
    assert (nothing.value, nothing.reason) == (None, "no budget: pass max_steps/max_tokens/max_duration_ms")


def test_latency_budget() -> None:
    fast = score(latency_budget(500), Outcome(output="x", duration_ms=120))
    assert (fast.value, fast.passed, fast.reason) == (1.0, True, "120 ms ≤ budget 500 ms")
    slow = score(latency_budget(500), Outcome(output="x", duration_ms=2000))
    assert (slow.value, slow.passed) == (0.25, False)
    assert score(latency_budget(500), Outcome(output="x")).value is None
    traced = run_agent([("search", {"query": "x"})])
    assert score(latency_budget(10_000), traced).passed is True


def test_cost_budget_from_the_outcome_the_spans_or_prices() -> None:
    assert score(cost_budget(0.01), Outcome(cost_usd=0.004)).passed is True
    over = score(cost_budget(0.01), Outcome(cost_usd=0.04))
    assert (over.value, over.passed) == (0.25, False)
    outcome = run_agent([("search", {"query": "x"})], tokens=(1000, 500))  # 2 calls: 2,000 in, 1,000 out
    unknown = score(cost_budget(0.01), outcome)
    assert (unknown.value, unknown.passed) == (None, None)
    assert unknown.reason.startswith("cost unknown")
    priced = score(cost_budget(0.01, prices={"small-model": (1.0, 4.0)}), outcome)  # $0.002 + $0.004
    assert priced.evidence["cost_usd"] == pytest.approx(0.006)
    assert priced.passed is True
    assert score(cost_budget(0.001, prices={"small-model": (1.0, 4.0)}), outcome).passed is False
    unpriced = score(cost_budget(0.01, prices={"other": (1.0, 1.0)}), outcome)
    assert unpriced.reason == "no price for model(s) ['small-model']"
