"""The runner: bounded concurrency, sync and async agents, spans captured per case, failures recorded."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

import neon
from neon.evaluate import Case, Outcome, Score, define_suite, run_suite
from neon.evaluate.report import run_summary
from neon.testing import capture_spans


class Equals:
    name = "equals"

    def __call__(self, case: Case, outcome: Outcome) -> Score:
        return Score("equals", 1.0 if outcome.output == case.expected else 0.0)


class UsedTools:
    """Async scorer: fraction of the expected tools the agent called."""

    name = "tools"

    async def __call__(self, case: Case, outcome: Outcome) -> Score:
        await asyncio.sleep(0)
        expected = list(case.expected_tools or [])
        hit = sum(1 for t in expected if t in outcome.tools)
        return Score("tools", hit / len(expected) if expected else 1.0, passed=hit == len(expected))


class Broken:
    name = "broken"

    def __call__(self, case: Case, outcome: Outcome) -> Score:
        if case.id == "boom":
            raise ValueError("scorer bug")
        return Score("broken", 0.2)  # below the pass threshold 0.5


@neon.tool()
def lookup(topic: str) -> str:
    return f"policy on {topic}"


async def async_agent(question: str) -> str:
    await asyncio.sleep(0.01)
    if question == "fail":
        raise RuntimeError("agent exploded")
    lookup(question)
    return question.upper()


def test_async_agent_cases_traced_scored_and_failures_recorded() -> None:
    suite = define_suite("s", agent=async_agent, scorers=[Equals(), UsedTools()], cases=[
        Case(input="refunds", expected="REFUNDS", expected_tools=["lookup"], id="ok"),
        Case(input="fail", expected="FAIL", id="fails"),
        Case(input="fees", expected="nope", expected_tools=["lookup", "other"], id="wrong"),
    ])
    with capture_spans(deterministic_ids=False) as spans:
        run = asyncio.run(run_suite(suite, version="v7", run_id="run-1"))
    ok, fails, wrong = run.results
    assert [r.case.id for r in run.results] == ["ok", "fails", "wrong"]  # suite order, whatever finished first
    assert ok.passed
    assert ok.outcome.output == "REFUNDS"
    assert ok.outcome.tools == ["lookup"]
    assert [s.value for s in ok.scores] == [1.0, 1.0]
    assert [s.name for s in ok.outcome.spans] == ["eval:s", "lookup"]  # start order: the case's root first
    assert fails.outcome.error == "RuntimeError: agent exploded"
    assert not fails.passed
    assert all(s.value == 0.0 and "agent failed" in s.reason for s in fails.scores)
    assert [s.value for s in wrong.scores] == [0.0, 0.5]
    assert wrong.scores[1].passed is False
    # each case is its own trace, tagged for finding it on the server
    roots = [s for s in spans.finished() if s.name == "eval:s"]
    assert len({s.context.trace_id for s in roots}) == 3
    attrs = dict(roots[0].attributes or {})
    assert attrs["neon.agent_version"] == "v7"
    assert {"eval", "suite:s", "version:v7"} <= set(attrs["neon.tags"])
    assert attrs["neon.metadata.eval.run_id"] == "run-1"
    failed_root = next(s for s in roots if s.context.trace_id == int(fails.outcome.trace_id, 16))
    assert failed_root.status.status_code.name == "ERROR"
    summary = run.summary()
    assert (summary["total"], summary["passed"], summary["failed"], summary["errored"]) == (3, 1, 1, 1)
    assert summary["scorers"]["equals"]["mean"] == pytest.approx(1 / 3)
    text = run_summary("s", "v7", run.results, summary)
    assert "fails: RuntimeError: agent exploded" in text
    assert "1/3 passed" in text


def test_sync_agents_run_concurrently_but_never_more_than_the_limit() -> None:
    running = 0
    peak = 0
    lock = threading.Lock()

    def slow_agent(x: int) -> int:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        with neon.span("work"):
            time.sleep(0.05)
        with lock:
            running -= 1
        return x * 2

    suite = define_suite("c", agent=slow_agent, scorers=[Equals()], concurrency=3,
                         cases=[Case(input=i, expected=i * 2) for i in range(12)])
    with capture_spans(deterministic_ids=False):
        started = time.perf_counter()
        run = asyncio.run(run_suite(suite))
        elapsed = time.perf_counter() - started
    assert peak == 3
    assert elapsed < 12 * 0.05 * 0.6  # overlapped: about 4 rounds of 50 ms, not 12
    assert all(r.passed for r in run.results)
    # spans made in the worker thread nest under that case's trace
    assert all([s.name for s in r.outcome.spans] == ["eval:c", "work"] for r in run.results)
    assert asyncio.run(run_suite(suite, concurrency=1))
    assert peak == 3


def test_scorer_errors_and_timeouts_are_recorded_not_fatal() -> None:
    async def sleepy(x: str) -> str:
        await asyncio.sleep(5 if x == "slow" else 0)
        return x

    suite = define_suite("t", agent=sleepy, scorers=[Broken()], timeout_seconds=0.2,
                         cases=[Case(input="slow", id="slow"), Case(input="x", id="boom"), Case(input="y", id="low")])
    started = time.perf_counter()
    run = asyncio.run(run_suite(suite))
    assert time.perf_counter() - started < 2
    slow, boom, low = run.results
    assert slow.outcome.error == "timed out after 0.2 s"
    assert boom.scores[0].error == "ValueError: scorer bug"
    assert boom.scores[0].value is None
    assert low.scores[0].passed is False
    assert not low.passed
    assert low.outcome.error is None
    summary = run.summary()
    assert (summary["passed"], summary["failed"], summary["errored"]) == (0, 1, 2)
    assert summary["scorers"]["broken"]["errors"] == 1


def test_a_scorer_returning_something_else_is_a_recorded_error() -> None:
    class Sloppy:
        name = "sloppy"

        def __call__(self, case: Case, outcome: Outcome) -> Any:
            return 0.7

    run = asyncio.run(run_suite(define_suite("x", agent=str, scorers=[Sloppy()], cases=[Case(input=1)])))
    assert run.results[0].scores[0].error == "TypeError: scorer 'sloppy' returned float, not a neon Score"


def test_without_any_tracing_setup_outcomes_still_have_spans() -> None:
    from neon.tracing import config

    before = config.current()
    run = asyncio.run(run_suite(define_suite("bare", agent=async_agent, cases=[Case(input="q")])))
    assert [s.name for s in run.results[0].outcome.spans] == ["eval:bare", "lookup"]
    assert config.current() is before  # the temporary local setup is undone
