"""Eval runs as Temporal workflows end to end in one process: the real Temporal dev server and worker (built
by `create_worker`, as `neon up` and `neon worker` build it), the live Neon API that the activities write to
with a run token, and a Python suite in a temporary evals folder whose target waits on a file the test opens.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.client import WorkflowExecutionStatus

from neon.evaluate.runner import run_suite
from neon.evaluate.suites import discover_suites
from neon.execute import shared as s
from neon.execute.evals import shared as e
from neon.llm.fake import FakeLLMServer, FakeReply
from neon_server.services.eval_workflows import EvalWorkflowService
from server.tests.agent_rig import EXAMPLES, AgentRig
from server.tests.conftest import LiveServer

pytestmark = pytest.mark.slow  # a dev server per test

SUITE = '''
import asyncio
from pathlib import Path

from neon.evaluate import Case, Score, define_suite

GATE = Path({gate!r})
in_flight = 0


async def target(question):
    """Waits until the test opens the gate; answers with how many cases were in flight meanwhile."""
    global in_flight
    in_flight += 1
    try:
        seen = in_flight
        while not GATE.exists():
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.05)  # overlap with the others, so the bound is measured, not assumed
        seen = max(seen, in_flight)
        if question == "boom":
            raise RuntimeError("the target broke")
        return {{"answer": question.upper(), "in_flight": seen}}
    finally:
        in_flight -= 1


def upper(case, outcome):
    return Score("upper", 1.0 if (outcome.output or {{}}).get("answer") == case.expected else 0.0)


upper.name = "upper"

define_suite("gated", agent=target, scorers=[upper], cases=[
    Case(input=f"q{{i}}", expected=f"Q{{i}}" if i % 4 else "wrong", id=f"c{{i:02d}}") for i in range({cases})
] + [Case(input="boom", expected="BOOM", id="boom")])
'''


@pytest.fixture
def metadata_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'neon.db'}"


@pytest.fixture
def fake() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as server:
        yield server


class EvalRig:
    """The agent rig's Temporal and worker, with the live server's eval runs started as workflows."""

    def __init__(self, rig: AgentRig, live: LiveServer, key: str, evals: Path) -> None:
        self.live, self.headers = live, {"x-api-key": key}
        assert rig.env is not None
        client = rig.env.client

        async def connect() -> Any:
            return client

        self.client = client
        live.services.eval_workflows = EvalWorkflowService(
            live.services.eval_runs, client=connect, available=lambda: True,
            issue_token=live.services.run_tokens.issue, neon_url=lambda: live.url, task_queue=rig.task_queue,
            evals_path=evals)

    async def call(self, method: str, path: str, **options: Any) -> httpx.Response:
        async with httpx.AsyncClient(base_url=self.live.url, headers=self.headers, timeout=30) as http:
            return await http.request(method, path, **options)

    async def start(self, concurrency: int, suite: str = "gated") -> dict[str, Any]:
        answer = await self.call("POST", "/api/eval-runs/start",
                                 json={"suite": suite, "version": "v1", "concurrency": concurrency})
        assert answer.status_code == 202, answer.text
        run: dict[str, Any] = answer.json()
        return run

    async def progress(self, run_id: str) -> dict[str, Any]:
        answer = await self.call("GET", f"/api/eval-runs/{run_id}/progress")
        assert answer.status_code == 200, answer.text
        found: dict[str, Any] = answer.json()
        return found

    async def run(self, run_id: str) -> dict[str, Any]:
        answer = await self.call("GET", f"/api/eval-runs/{run_id}")
        assert answer.status_code == 200, answer.text
        found: dict[str, Any] = answer.json()
        return found

    async def until(self, read: Callable[[], Any], done: Callable[[Any], bool], within: float = 60) -> Any:
        deadline = time.monotonic() + within
        while True:
            value = await read()
            if done(value):
                return value
            assert time.monotonic() < deadline, f"never got there: {value}"
            await asyncio.sleep(0.05)


def write_suite(folder: Path, cases: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    gate = folder / "gate-open"
    (folder / "eval_gated.py").write_text(SUITE.format(gate=str(gate), cases=cases))
    return gate


def scenario(live: LiveServer, project_key: tuple[str, str], fake: FakeLLMServer, evals: Path,
             body: Callable[[EvalRig], Any]) -> Any:
    async def go() -> Any:
        async with AgentRig(live, project_key, fake, task_queue="evals-test") as rig:
            return await body(EvalRig(rig, live, project_key[1], evals))

    return asyncio.run(go())


def test_a_suite_runs_as_a_workflow_bounded_and_summarised_as_neon_eval_does(
        live_server: LiveServer, project_key: tuple[str, str], fake: FakeLLMServer, tmp_path: Path) -> None:
    evals = tmp_path / "evals"
    gate = write_suite(evals, cases=12)

    async def body(rig: EvalRig) -> tuple[dict[str, Any], dict[str, Any]]:
        started = await rig.start(concurrency=3)
        assert started["metadata"]["workflow_id"] == started["id"]
        # Three cases wait at the gate; no fourth starts.
        held = await rig.until(lambda: rig.progress(started["id"]), lambda p: p["running"] == 3)
        assert (held["live"], held["total"], held["done"], held["status"]) == (True, 13, 0, "running")
        gate.touch()
        closed = await rig.until(lambda: rig.run(started["id"]), lambda r: r["status"] == "completed")
        return closed, await rig.progress(started["id"])

    closed, progress = scenario(live_server, project_key, fake, evals, body)
    case_ids = [r["case_id"] for r in closed["results"]]
    assert sorted(case_ids) == sorted([f"c{i:02d}" for i in range(12)] + ["boom"])  # each case exactly once
    assert max(r["output"]["in_flight"] for r in closed["results"] if r["output"]) == 3
    boom = next(r for r in closed["results"] if r["case_id"] == "boom")
    assert boom["error"] == "RuntimeError: the target broke"
    assert not boom["passed"]
    assert (closed["total"], closed["passed"], closed["failed"], closed["errored"]) == (13, 9, 3, 1)
    assert progress == {"run_id": closed["id"], "live": False, "workflow_id": closed["id"], "status": "completed",
                        "total": 13, "done": 13, "passed": 9, "failed": 3, "errored": 1, "running": 0,
                        "paused": False}
    # Each case's trace reached the run's project, tagged as `neon eval` tags it.
    live_server.settle()
    trace = httpx.get(f"{live_server.url}/api/traces/{boom['trace_id']}", headers={"x-api-key": project_key[1]},
                      timeout=10)
    assert trace.status_code == 200, trace.text
    assert {"eval", "suite:gated", "version:v1", "case:boom"} <= set(trace.json()["trace"]["tags"])
    # The local runner, on the same suite, comes to the same summary (durations aside).
    local = asyncio.run(run_suite(discover_suites(evals).get("gated"), concurrency=3)).summary()
    for key in ("total", "passed", "failed", "errored", "pass_rate", "scorers"):
        assert closed["summary"][key] == local[key], key


def test_pause_resume_then_cancel(live_server: LiveServer, project_key: tuple[str, str], fake: FakeLLMServer,
                                  tmp_path: Path) -> None:
    evals = tmp_path / "evals"
    gate = write_suite(evals, cases=9)

    async def body(rig: EvalRig) -> None:
        run = (await rig.start(concurrency=2))["id"]
        await rig.until(lambda: rig.progress(run), lambda p: p["running"] == 2)
        paused = await rig.call("POST", f"/api/eval-runs/{run}/pause")
        assert paused.status_code == 202, paused.text
        assert paused.json() == {"run_id": run, "action": "pause", "workflow_id": run}
        gate.touch()  # the two running cases finish; no other starts while paused
        held = await rig.until(lambda: rig.progress(run), lambda p: p["running"] == 0)
        assert (held["status"], held["paused"], held["done"]) == ("paused", True, 2)
        assert len((await rig.run(run))["results"]) == 2
        assert (await rig.progress(run))["done"] == 2
        resumed = await rig.call("POST", f"/api/eval-runs/{run}/resume")
        assert resumed.status_code == 202, resumed.text
        closed = await rig.until(lambda: rig.run(run), lambda r: r["status"] == "completed")
        assert sorted(r["case_id"] for r in closed["results"]) == sorted([f"c{i:02d}" for i in range(9)] + ["boom"])
        late = await rig.call("POST", f"/api/eval-runs/{run}/pause")
        assert late.status_code == 409
        assert "has ended (completed)" in late.text

        gate.unlink()  # a second run, held at the gate, cancelled
        second = (await rig.start(concurrency=2))["id"]
        await rig.until(lambda: rig.progress(second), lambda p: p["running"] == 2)
        cancelled = await rig.call("POST", f"/api/eval-runs/{second}/cancel")
        assert cancelled.status_code == 202, cancelled.text
        stopped = await rig.until(lambda: rig.run(second), lambda r: r["status"] == "cancelled")
        assert stopped["results"] == []
        assert stopped["finished_at"] is not None
        # The run is closed by the workflow's last activity, just before the workflow itself ends cancelled.
        parent = await rig.until(rig.client.get_workflow_handle(second).describe,
                                 lambda d: d.status != WorkflowExecutionStatus.RUNNING)
        assert parent.status == WorkflowExecutionStatus.CANCELED
        for case in ("c00", "c01"):  # the running children went with it
            child = await rig.client.get_workflow_handle(e.case_workflow_id(second, case)).describe()
            assert child.status in (WorkflowExecutionStatus.CANCELED, WorkflowExecutionStatus.TERMINATED)

    scenario(live_server, project_key, fake, evals, body)


def test_a_run_neon_eval_fills_cannot_be_paused(live_server: LiveServer, project_key: tuple[str, str],
                                               fake: FakeLLMServer, tmp_path: Path) -> None:
    evals = tmp_path / "evals"
    write_suite(evals, cases=1)

    async def body(rig: EvalRig) -> None:
        opened = await rig.call("POST", "/api/eval-runs", json={"suite": "gated", "version": "v1"})
        run = opened.json()["id"]
        refused = await rig.call("POST", f"/api/eval-runs/{run}/pause")
        assert refused.status_code == 409
        assert "not a workflow run" in refused.text
        progress = await rig.progress(run)
        assert (progress["live"], progress["workflow_id"], progress["status"], progress["done"]) == (
            False, None, "running", 0)
        missing = await rig.call("POST", "/api/eval-runs/run_nope/cancel")
        assert missing.status_code == 404

    scenario(live_server, project_key, fake, evals, body)


AGENT_SUITE = '''
from neon.evaluate import Case, Score, agent_spec, define_suite


def mentions(case, outcome):
    return Score("mentions", 1.0 if str(case.expected) in str(outcome.output) else 0.0)


mentions.name = "mentions"

define_suite("support-agent", agent=agent_spec({spec!r}), scorers=[mentions], cases=[
    Case(input="Where is my order A1001?", expected="2026-11-20", id="where"),
    Case(input="Can I get a refund?", expected="refund", id="refund"),
])
'''


def test_an_agent_spec_suite_runs_each_case_as_a_child_agent_run(
        live_server: LiveServer, project_key: tuple[str, str], fake: FakeLLMServer, tmp_path: Path) -> None:
    evals = tmp_path / "evals"
    evals.mkdir()
    (evals / "eval_agent.py").write_text(AGENT_SUITE.format(spec=str(EXAMPLES / "support.yaml")))
    fake.queue(FakeReply(text="Your kettle was delivered on 2026-11-20."),
               FakeReply(text="Your kettle was delivered on 2026-11-20."))

    async def body(rig: EvalRig) -> tuple[dict[str, Any], list[Any]]:
        started = await rig.start(concurrency=2, suite="support-agent")
        closed = await rig.until(lambda: rig.run(started["id"]), lambda r: r["status"] == "completed")
        agent_runs = [await rig.client.get_workflow_handle(e.agent_run_id(started["id"], case)).describe()
                      for case in ("where", "refund")]
        return closed, agent_runs

    closed, agent_runs = scenario(live_server, project_key, fake, evals, body)
    results = {r["case_id"]: r for r in closed["results"]}
    assert set(results) == {"where", "refund"}
    assert results["where"]["output"] == "Your kettle was delivered on 2026-11-20."
    assert results["where"]["passed"]
    assert not results["refund"]["passed"]
    assert results["refund"]["error"] is None
    assert results["where"]["trace_id"] == s.trace_id_for(e.agent_run_id(closed["id"], "where"))
    assert (closed["total"], closed["passed"], closed["failed"], closed["errored"]) == (2, 1, 1, 0)
    assert [run.status for run in agent_runs] == [WorkflowExecutionStatus.COMPLETED] * 2
    assert len(fake.requests) == 2  # one model call per case: each ran as its own agent run
