"""The eval activities: load a suite's case ids, run one case and write its result, close the run.

A Python suite runs where the worker can import it: the evals folder named in the workflow input (or the
worker's own, `create_worker(evals_path=...)`) on this machine. A case is run by `neon.evaluate.runner.
run_case`, the very function `neon eval` runs, so both score a case the same way. Its result goes to Neon
with `POST /api/eval-runs/{id}/results`, which replaces a case sent again: a retried activity is harmless.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
from temporalio import activity
from temporalio.exceptions import ApplicationError

from neon.evaluate.capture import TraceCollector, collector_for
from neon.evaluate.results import CaseResult
from neon.evaluate.runner import run_case, tracer_provider
from neon.evaluate.suites import SpecAgent, Suite, SuiteError, discover_suites
from neon.evaluate.types import Case
from neon.execute.errors import SpecError
from neon.execute.evals import shared as e
from neon.execute.neon_api import NeonAPIError, NeonRunAPI
from neon.execute.shared import Connection
from neon.execute.spec import load_spec

HEARTBEAT_EVERY = 5.0
CACHED_SUITES = 16
CONFLICT = 409


class CaseSpans(SpanProcessor):
    """Keeps the finished spans of each trace until the case that made it takes them, so a case's trace
    goes to the project of its run (a worker serves every project). Bounded: traces nobody takes (spans
    made outside any case) are dropped oldest first."""

    def __init__(self, max_traces: int = 2000) -> None:
        self._traces: OrderedDict[int, list[ReadableSpan]] = OrderedDict()
        self._max_traces = max_traces
        self._lock = threading.Lock()

    def on_end(self, span: ReadableSpan) -> None:
        if span.context is None:
            return
        with self._lock:
            self._traces.setdefault(span.context.trace_id, []).append(span)
            while len(self._traces) > self._max_traces:
                self._traces.popitem(last=False)

    def take(self, trace_id: str) -> list[ReadableSpan]:
        with self._lock:
            return self._traces.pop(int(trace_id, 16), []) if trace_id else []

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


class AgentRunFailed(RuntimeError):
    """The agent run of an agent-spec case did not answer: recorded as the case's error."""


class EvalNeonAPI(NeonRunAPI):
    """The run API client, plus the two eval-run writes (with the same retries as blobs and spans)."""

    async def __aenter__(self) -> EvalNeonAPI:
        return self

    async def post_results(self, eval_run_id: str, results: list[dict[str, Any]]) -> None:
        await self._send("POST", f"/api/eval-runs/{quote(eval_run_id, safe='')}/results",
                         json.dumps({"results": results}, default=repr).encode())

    async def finish(self, eval_run_id: str, status: str, error: str) -> None:
        await self._send("POST", f"/api/eval-runs/{quote(eval_run_id, safe='')}/finish",
                         json.dumps({"status": status, "error": error}).encode())

    async def get_json(self, path: str) -> Any:
        """A read of the API (the A/B comparison), with the same retries."""
        return json.loads((await self._send("GET", path, b"")).content)

    async def export_spans(self, spans: list[ReadableSpan]) -> None:
        """A case's spans as OTLP protobuf, the way the SDK exports them (this client is used by one
        activity at a time, so its content type can change for this request)."""
        if not spans:
            return
        headers = self._headers
        self._headers = {**headers, "Content-Type": "application/x-protobuf"}
        try:
            await self._send("POST", "/v1/traces", encode_spans(spans).SerializeToString())
        finally:
            self._headers = headers


class EvalActivities:
    """`evals_path`: this worker's evals folder, used instead of the one the run names (a worker on another
    machine has the suites elsewhere). Suites are imported once per eval run and kept for its other cases."""

    def __init__(self, *, evals_path: Path | None = None) -> None:
        self._evals_path = evals_path
        # One HTTP client for every case's writes (made on first use, on the worker's loop): a client per call
        # cost more CPU than the call — its TLS context — and was a third of a 100-case run's worker CPU.
        self._http: httpx.AsyncClient | None = None
        self._suites: OrderedDict[tuple[str, str, str], Suite] = OrderedDict()
        self._collector: TraceCollector | None = None
        self._spans = CaseSpans()

    def _api(self, connection: Connection) -> EvalNeonAPI:
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=30.0, limits=httpx.Limits(max_connections=50))
        return EvalNeonAPI(connection, http=self._http)

    def all(self) -> list[Callable[..., Any]]:
        return [self.load_cases, self.run_case, self.case_message, self.score_agent_case, self.record_case_error,
                self.finish_run]

    def _suite(self, ref: e.SuiteRef, eval_run_id: str) -> Suite:
        path = str(self._evals_path or ref.evals_path)
        key = (path, ref.suite, eval_run_id)
        found = self._suites.get(key)
        if found is None:
            if not path or not Path(path).exists():
                raise ApplicationError(f"this worker has no evals folder {path!r}: run the worker where the "
                                       "suites are, with NEON_EVALS_PATH set to their folder", non_retryable=True)
            try:
                found = discover_suites(path).get(ref.suite)
            except SuiteError as exc:
                raise ApplicationError(str(exc), non_retryable=True) from exc
            self._suites[key] = found
            while len(self._suites) > CACHED_SUITES:
                self._suites.popitem(last=False)
        return found

    def _case(self, suite: Suite, case_id: str) -> Case:
        chosen = next((c for c in suite.cases if c.id == case_id), None)
        if chosen is None:
            raise ApplicationError(f"suite {suite.name!r} has no case {case_id!r}", non_retryable=True)
        return chosen

    @activity.defn(name=e.LOAD_CASES)
    async def load_cases(self, ref: e.SuiteRef) -> e.LoadedSuite:
        """The suite's case ids, and its agent spec when its target is one."""
        suite = await asyncio.to_thread(self._suite, ref, "")  # importing a file is blocking work
        agent = None
        if isinstance(suite.agent, SpecAgent):
            try:
                spec = load_spec(suite.agent.path)
            except SpecError as exc:
                raise ApplicationError(f"suite {suite.name!r}: {exc}", non_retryable=True) from exc
            agent = e.AgentTarget(name=spec.name, version=spec.version, spec=spec.to_dict())
        return e.LoadedSuite(case_ids=[case.id for case in suite.cases], agent=agent)

    @activity.defn(name=e.CASE_MESSAGE)
    async def case_message(self, case: e.EvalCaseInput) -> str:
        """The message an agent-spec case sends: its input, as text."""
        suite = await asyncio.to_thread(self._suite, case.suite, case.eval_run_id)
        value = self._case(suite, case.case_id).input
        return value if isinstance(value, str) else json.dumps(value, default=repr)

    @activity.defn(name=e.SCORE_AGENT_CASE)
    async def score_agent_case(self, given: e.AgentAnswer) -> str:
        """Score an agent run's answer with the suite's scorers, through `run_case` (the agent replaced by the
        answer the run gave), and write the result with the agent run's trace id."""
        case = given.case
        suite = await asyncio.to_thread(self._suite, case.suite, case.eval_run_id)

        def answered(_value: Any) -> str | None:
            if given.error is not None:
                raise AgentRunFailed(given.error)
            return given.answer

        result = await self._run(replace(suite, agent=answered), self._case(suite, case.case_id), case)
        self._spans.take(result.outcome.trace_id)  # the scoring's own trace: the agent run's is the case's
        result = replace(result, outcome=replace(result.outcome, trace_id=given.trace_id,
                                                 duration_ms=given.duration_ms))
        return await self._store(case, result)

    @activity.defn(name=e.RUN_CASE)
    async def run_case(self, case: e.EvalCaseInput) -> str:
        """Run and score one case exactly as `neon eval` does, write its result, return how it ended."""
        suite = await asyncio.to_thread(self._suite, case.suite, case.eval_run_id)
        result = await self._run(suite, self._case(suite, case.case_id), case)
        async with self._api(case.connection) as neon:
            await neon.export_spans(self._spans.take(result.outcome.trace_id))
        return await self._store(case, result)

    async def _run(self, suite: Suite, chosen: Case, case: e.EvalCaseInput) -> CaseResult:
        if self._collector is None:
            provider = tracer_provider()
            provider.add_span_processor(self._spans)
            self._collector = collector_for(provider)
        running = asyncio.create_task(run_case(suite, chosen, version=case.version, run_id=case.eval_run_id,
                                               collector=self._collector))
        try:
            while not running.done():  # heartbeats carry cancellation to the case
                activity.heartbeat()
                await asyncio.wait({running}, timeout=HEARTBEAT_EVERY)
        except asyncio.CancelledError:
            running.cancel()
            raise
        return running.result()

    async def _store(self, case: e.EvalCaseInput, result: CaseResult) -> str:
        async with self._api(case.connection) as neon:
            await neon.post_results(case.eval_run_id, [result.to_dict()])
        if result.errored:
            return e.ERRORED
        return e.PASSED if result.passed else e.FAILED

    @activity.defn(name=e.RECORD_CASE_ERROR)
    async def record_case_error(self, failure: e.CaseErrorInput) -> None:
        """A case that could not be run at all is stored as errored, so every case has a result."""
        result = {"case_id": failure.case_id, "error": failure.error[:10_000] or "the case could not be run",
                  "passed": False, "scores": []}
        async with self._api(failure.connection) as neon:
            await neon.post_results(failure.eval_run_id, [result])

    @activity.defn(name=e.FINISH_RUN)
    async def finish_run(self, finish: e.FinishInput) -> None:
        """Close the run; Neon computes the counts and summary from the stored results. A run already
        closed (a retry of this activity after it succeeded) is left as it is."""
        async with self._api(finish.connection) as neon:
            try:
                await neon.finish(finish.eval_run_id, finish.status, finish.error)
            except NeonAPIError as exc:
                if exc.status != CONFLICT:
                    raise
