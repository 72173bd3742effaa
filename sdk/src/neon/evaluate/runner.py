"""Running a suite: the agent over every case, a bounded number at a time, each case traced and scored.

Every case runs inside its own `neon.trace` (tagged with the suite, version and case id), so its spans are
exported to the server like any other trace, and are also kept in memory (see `capture`) to build the
`Outcome` the scorers see. A failing agent, a timeout or a failing scorer is recorded in the case's result;
it never stops the run.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from opentelemetry import trace as otel_trace
from opentelemetry.sdk.trace import TracerProvider

from neon.evaluate.capture import TraceCollector, collector_for
from neon.evaluate.results import CaseResult, ScoreResult, summarize
from neon.evaluate.suites import Agent, Suite
from neon.evaluate.types import Case, Outcome, Scorer, run_scorer
from neon.tracing import config as tracing_config
from neon.tracing.kinds import trace

OnResult = Callable[[CaseResult], "Awaitable[None] | None"]


@dataclass
class RunResult:
    """A finished run of one suite: its case results in the suite's order, and when it ran."""

    suite: str
    version: str
    results: list[CaseResult]
    started_at: datetime
    finished_at: datetime
    run_id: str = ""

    @property
    def duration_ms(self) -> float:
        return (self.finished_at - self.started_at).total_seconds() * 1000

    def summary(self) -> dict[str, Any]:
        """Counts and per-scorer means (see `results.summarize`)."""
        return summarize(r.to_dict() for r in self.results)


async def run_suite(suite: Suite, *, version: str = "local", concurrency: int | None = None, run_id: str = "",
                    on_result: OnResult | None = None) -> RunResult:
    """Run `suite` and return its results. `concurrency` overrides the suite's; `on_result` is called (and
    awaited if async) as each case finishes, in finishing order. `run_id` is recorded on each case's trace."""
    limit = concurrency or suite.concurrency
    if limit < 1:
        raise ValueError(f"concurrency must be at least 1, got {limit}")
    provider, restore = _tracer_provider()
    collector = collector_for(provider)
    gate = asyncio.Semaphore(limit)
    started = datetime.now(UTC)

    async def one(case: Case) -> CaseResult:
        async with gate:
            result = await run_case(suite, case, version=version, run_id=run_id, collector=collector)
        if on_result is not None:
            reported = on_result(result)
            if inspect.isawaitable(reported):
                await reported
        return result

    try:
        results = list(await asyncio.gather(*(one(case) for case in suite.cases)))
    finally:
        restore()
    return RunResult(suite.name, version, results, started, datetime.now(UTC), run_id)


async def run_case(suite: Suite, case: Case, *, version: str, run_id: str, collector: TraceCollector) -> CaseResult:
    """Run the agent on one case inside its own trace, then score the outcome."""
    tags = ["eval", f"suite:{suite.name}", f"version:{version}", f"case:{case.id}"]
    metadata = {"eval.suite": suite.name, "eval.version": version, "eval.case_id": case.id}
    if run_id:
        metadata["eval.run_id"] = run_id
    output: Any = None
    error: str | None = None
    with trace(f"eval:{suite.name}", input=case.input, agent_id=suite.name, agent_version=version, tags=tags,
               metadata=metadata) as root:
        trace_id = root.otel_span.get_span_context().trace_id
        collector.watch(trace_id)
        started = time.perf_counter()
        try:
            output = await _call_agent(suite.agent, case.input, suite.timeout_seconds)
            root.set_output(output)
        except Exception as exc:  # the agent failing is a result to record, not a reason to stop the run
            error = _describe(exc, suite.timeout_seconds)
            root.record_error(exc)
        duration_ms = (time.perf_counter() - started) * 1000
    outcome = Outcome(output=output, error=error, duration_ms=duration_ms, trace_id=format(trace_id, "032x"),
                      spans=collector.take(trace_id))
    scores = [await _score(scorer, case, outcome, suite.pass_threshold) for scorer in suite.scorers_for(case)]
    passed = error is None and all(s.error is None and s.passed is not False for s in scores)
    return CaseResult(case=case, outcome=outcome, scores=scores, passed=passed)


async def _call_agent(agent: Agent, value: Any, limit_seconds: float | None) -> Any:
    if inspect.iscoroutinefunction(agent) or inspect.iscoroutinefunction(type(agent).__call__):
        pending: Awaitable[Any] = agent(value)
    else:
        # A sync agent runs in a worker thread so cases overlap; to_thread copies the context, so the agent's
        # spans nest under the case's trace. (A timed-out thread cannot be stopped; its result is ignored.)
        pending = asyncio.to_thread(agent, value)
    async with asyncio.timeout(limit_seconds):
        result = await pending
        if inspect.isawaitable(result):  # a plain function that returned a coroutine
            result = await result
    return result


def _describe(exc: BaseException, timeout: float | None) -> str:
    if isinstance(exc, TimeoutError):
        return f"timed out after {timeout:g} s"
    return f"{type(exc).__name__}: {exc}"


async def _score(scorer: Scorer, case: Case, outcome: Outcome, threshold: float) -> ScoreResult:
    if outcome.error is not None:
        # Scorers judge answers; a case without one scores 0 everywhere, so failures pull the means down.
        return ScoreResult(name=scorer.name, value=0.0, reason=f"the agent failed: {outcome.error}", passed=False)
    try:
        score = await run_scorer(scorer, case, outcome)
    except Exception as exc:  # a broken scorer is recorded against its case, the run goes on
        return ScoreResult(name=scorer.name, value=None, error=f"{type(exc).__name__}: {exc}", passed=False)
    passed = score.passed
    if passed is None and score.value is not None:
        passed = score.value >= threshold
    return ScoreResult(name=scorer.name, value=score.value, data_type=score.data_type, label=score.label,
                       reason=score.reason, passed=passed, evidence=score.evidence)


def tracer_provider() -> TracerProvider:
    """The provider case spans go to, for a process that runs cases for as long as it lives (a worker):
    Neon's or the global one; else a local one, kept, so outcomes still have spans (nothing is exported)."""
    provider, _keep = _tracer_provider()
    return provider


def _tracer_provider() -> tuple[TracerProvider, Callable[[], None]]:
    """The SDK tracer provider spans go to (Neon's, else the global one); if there is none, a local one for
    this run, so outcomes still have spans (nothing is exported then). Returns it and how to undo."""
    configured = tracing_config.current().provider
    if configured is not None:
        return configured, lambda: None
    existing = otel_trace.get_tracer_provider()
    if isinstance(existing, TracerProvider):
        return existing, lambda: None
    previous = tracing_config.current()
    local = TracerProvider()
    tracing_config.configure(tracer_provider=local, export=False)

    def restore() -> None:
        tracing_config.restore(previous)
        local.shutdown()

    return local, restore
