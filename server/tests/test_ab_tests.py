"""A/B tests end to end: the real Temporal dev server and worker, the live Neon API, an agent-spec suite in a
temporary evals folder, and the fake LLM server answering worse to one variant's system prompt."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import BaseModel
from temporalio.client import WorkflowExecutionStatus

from neon.cli.main import main as cli
from neon.execute import shared as s
from neon.execute.evals import shared as e
from neon.llm.fake import FakeLLMServer, FakeReply, FakeRequest
from neon_server.api import ab_schemas as out
from neon_server.services.eval_workflows import EvalWorkflowService
from server.tests.agent_rig import EXAMPLES, AgentRig
from server.tests.conftest import LiveServer
from server.tests.test_eval_workflows import EvalRig

CASES = 6
TERSE = "Refuse everything tersely."

SUITE = '''
from neon.evaluate import Case, Score, agent_spec, define_suite


def mentions(case, outcome):
    return Score("mentions", 1.0 if str(case.expected) in str(outcome.output) else 0.0)


def short(case, outcome):
    return Score("short", 1.0 if len(str(outcome.output)) < 200 else 0.0)


mentions.name = "mentions"
short.name = "short"

define_suite("support-ab", agent=agent_spec({spec!r}), scorers=[mentions, short], cases=[
    Case(input=f"Say the code K{{i}}", expected=f"K{{i}}", id=f"c{{i}}") for i in range({cases})
])

define_suite("plain", agent=lambda x: x, scorers=[short], cases=[Case(input="a", expected="a", id="a")])
'''


def answer(request: FakeRequest) -> str:
    """Repeats the code asked for, unless the system prompt says to refuse: that variant scores worse."""
    if TERSE in request.system:
        return "No."
    return f"Sure: {request.last_user_message.removeprefix('Say the code ')}"


@pytest.fixture
def fake() -> Iterator[FakeLLMServer]:
    with FakeLLMServer(reply=answer) as server:
        yield server


@pytest.fixture
def evals(tmp_path: Path) -> Path:
    folder = tmp_path / "evals"
    folder.mkdir()
    (folder / "eval_ab.py").write_text(SUITE.format(spec=str(EXAMPLES / "support.yaml"), cases=CASES))
    return folder


def check(model: type[BaseModel], value: Any) -> Any:
    model.model_validate(value, strict=False)
    return value


@pytest.mark.slow
def test_two_variants_run_as_two_eval_runs_and_the_worse_one_is_called_worse(
        live_server: LiveServer, project_key: tuple[str, str], fake: FakeLLMServer, evals: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    async def go_with(agents: AgentRig) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any], list[Any]]:
        rig = EvalRig(agents, live_server, project_key[1], evals)
        started = await rig.call("POST", "/api/ab-tests", json={
            "suite": "support-ab", "concurrency": 3,
            "variants": [{"label": "baseline"}, {"label": "terse", "system_prompt": TERSE}]})
        assert started.status_code == 202, started.text
        ab = check(out.AbStarted, started.json())

        async def read() -> dict[str, Any]:
            got = await rig.call("GET", f"/api/ab-tests/{ab['ab_test_id']}")
            assert got.status_code == 200, got.text
            found: dict[str, Any] = got.json()
            return found

        done = await rig.until(read, lambda t: t["status"] in ("completed", "failed", "cancelled"), within=120)
        listed = (await rig.call("GET", "/api/ab-tests")).json()
        parent = await rig.client.get_workflow_handle(ab["ab_test_id"]).describe()
        children = [await rig.client.get_workflow_handle(run_id).describe() for run_id in ab["eval_run_ids"]]
        assert parent.status == WorkflowExecutionStatus.COMPLETED
        return ab, done, listed, [child.status for child in children]

    async def with_cli() -> tuple[Any, ...]:
        async with AgentRig(live_server, project_key, fake, task_queue="ab-test") as agents:
            found = await go_with(agents)
            connection = ["--base-url", live_server.url, "--api-key", project_key[1]]
            capsys.readouterr()
            code = await asyncio.to_thread(cli, ["ab", "show", found[0]["ab_test_id"], *connection])
            shown = capsys.readouterr()
            refused = await asyncio.to_thread(cli, ["ab", "start", "support-ab", "-v", "only", *connection])
            return (*found, code, shown, refused, capsys.readouterr().err)

    ab, done, listed, children, shown_code, shown, refused, refused_err = asyncio.run(with_cli())
    check(out.AbDetail, done)
    assert done["status"] == "completed", done
    assert children == [WorkflowExecutionStatus.COMPLETED] * 2
    # One eval run per variant, labelled with the variant, tagged with the test.
    headers = {"x-api-key": project_key[1]}
    runs = [httpx.get(f"{live_server.url}/api/eval-runs/{run_id}", headers=headers, timeout=10).json()
            for run_id in ab["eval_run_ids"]]
    assert [(r["version"], r["status"], r["total"]) for r in runs] == [("baseline", "completed", CASES),
                                                                      ("terse", "completed", CASES)]
    assert [r["metadata"]["ab_test"] for r in runs] == [ab["ab_test_id"]] * 2
    assert [r["metadata"]["variant"] for r in runs] == ["baseline", "terse"]
    assert [v["progress"]["done"] for v in done["variants"]] == [CASES, CASES]
    # The verdicts: the refusing variant is worse at mentioning the code, and no different at being short.
    [terse] = done["comparisons"]
    assert (terse["label"], terse["eval_run_id"]) == ("terse", ab["eval_run_ids"][1])
    verdicts = {scorer["scorer"]: scorer for scorer in terse["scorers"]}
    assert verdicts["mentions"]["verdict"] == e.WORSE
    assert (verdicts["mentions"]["baseline_mean"], verdicts["mentions"]["candidate_mean"]) == (1.0, 0.0)
    assert verdicts["mentions"]["ci_high"] < 0
    assert verdicts["mentions"]["regressed"]
    assert verdicts["short"]["verdict"] == e.NO_CLEAR_DIFFERENCE
    assert verdicts["short"]["mean_delta"] == 0.0
    # Every case, each variant's scores and the trace of the agent run that answered it.
    assert [row["case_id"] for row in done["cases"]] == [f"c{i}" for i in range(CASES)]
    for row in done["cases"]:
        for label, run_id in zip(("baseline", "terse"), ab["eval_run_ids"], strict=True):
            cell = row["variants"][label]
            assert cell["trace_id"] == s.trace_id_for(e.agent_run_id(run_id, row["case_id"]))
            assert cell["scores"]["mentions"] == (1.0 if label == "baseline" else 0.0)
    live_server.settle()
    trace_id = done["cases"][0]["variants"]["terse"]["trace_id"]
    trace = httpx.get(f"{live_server.url}/api/traces/{trace_id}", headers=headers, timeout=10)
    assert trace.status_code == 200, trace.text
    # The variants' requests differed only by the system prompt.
    assert sum(TERSE in r.system for r in fake.requests) == CASES
    assert check(out.AbTestPage, listed)["ab_tests"][0]["ab_test_id"] == ab["ab_test_id"]
    # `neon ab show` printed the verdicts and exited 1: a variant is worse than the baseline.
    assert shown_code == 1
    assert re.search(r"terse\s+mentions\s+Δ -1.000\s+CI \[-1.000, -1.000\]\s+worse", shown.out), shown.out
    assert re.search(r"terse\s+short\s+Δ \+0.000 .* no clear difference", shown.out), shown.out
    assert "a variant is worse than the baseline" in shown.err
    assert refused == 2  # one variant: refused, named
    assert "variants" in refused_err


class NoTemporal:
    """Bad input is refused before anything reaches Temporal: a client that is never called."""

    async def __call__(self) -> Any:
        raise AssertionError("Temporal was reached for input that should have been refused")


@pytest.mark.parametrize(("variants", "suite", "status", "message"), [
    ([{"label": "only"}], "support-ab", 422, "variants"),
    ([{"label": "a"}, {"label": "a", "model": "m2"}], "support-ab", 422, "labels must be unique: 'a' given twice"),
    ([{"label": "a"}, {"label": "b"}], "nope", 404, "no suite named 'nope'"),
    ([{"label": "a"}, {"label": "b"}], "plain", 422, "suite 'plain' does not run an agent spec"),
    ([{"label": "a"}, {"label": "b", "version": "v-missing"}], "support-ab", 404,
     "variants[1] ('b'): agent 'support' has no version 'v-missing'"),
    ([{"label": "a"}, {"label": "b", "tools": ["lookup_order", "teleport"]}], "support-ab", 422,
     "unknown tool(s) teleport"),
    ([{"label": "a"}, {"label": "b", "colour": "red"}], "support-ab", 422, "colour"),
])
def test_bad_input_is_refused_naming_it(live_server: LiveServer, project_key: tuple[str, str], evals: Path,
                                        variants: list[dict[str, Any]], suite: str, status: int,
                                        message: str) -> None:
    services = live_server.services
    services.eval_workflows = EvalWorkflowService(
        services.eval_runs, client=NoTemporal(), available=lambda: True, issue_token=services.run_tokens.issue,
        neon_url=lambda: live_server.url, task_queue="unused", evals_path=evals)
    answer = httpx.post(f"{live_server.url}/api/ab-tests", headers={"x-api-key": project_key[1]}, timeout=30,
                        json={"suite": suite, "variants": variants})
    assert answer.status_code == status, answer.text
    assert message in answer.text
    listed = httpx.get(f"{live_server.url}/api/eval-runs", headers={"x-api-key": project_key[1]}, timeout=10)
    assert listed.json()["runs"] == []  # nothing was opened


def test_an_unknown_ab_test_is_404(live_server: LiveServer, project_key: tuple[str, str]) -> None:
    answer = httpx.get(f"{live_server.url}/api/ab-tests/run_x", headers={"x-api-key": project_key[1]}, timeout=10)
    assert answer.status_code == 404
    assert "no A/B test 'run_x'" in answer.text


@pytest.mark.slow
def test_pause_reaches_every_variant_and_cancel_closes_their_runs(
        live_server: LiveServer, project_key: tuple[str, str], evals: Path) -> None:
    def slow(request: FakeRequest) -> FakeReply:
        return FakeReply(text="Sure.", delay=0.5)

    async def go() -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any]]:
        with FakeLLMServer(reply=slow) as fake:
            async with AgentRig(live_server, project_key, fake, task_queue="ab-cancel") as agents:
                rig = EvalRig(agents, live_server, project_key[1], evals)
                started = await rig.call("POST", "/api/ab-tests", json={
                    "suite": "support-ab", "concurrency": 1,
                    "variants": [{"label": "a"}, {"label": "b", "model": "other-model"}]})
                assert started.status_code == 202, started.text
                ab_id = started.json()["ab_test_id"]

                async def read() -> dict[str, Any]:
                    found: dict[str, Any] = (await rig.call("GET", f"/api/ab-tests/{ab_id}")).json()
                    return found

                await rig.until(read, lambda t: all(v["progress"]["running"] == 1 for v in t["variants"]))
                paused = await rig.call("POST", f"/api/ab-tests/{ab_id}/pause")
                assert paused.status_code == 202, paused.text
                held = await rig.until(read, lambda t: all(v["progress"]["paused"] and v["progress"]["running"] == 0
                                                           for v in t["variants"]))
                assert held["status"] == "paused"
                cancelled = await rig.call("POST", f"/api/ab-tests/{ab_id}/cancel")
                assert cancelled.status_code == 202, cancelled.text
                closed = await rig.until(read, lambda t: t["status"] == "cancelled")
                runs = [(await rig.call("GET", f"/api/eval-runs/{v['eval_run_id']}")).json()
                        for v in closed["variants"]]
                late = (await rig.call("POST", f"/api/ab-tests/{ab_id}/cancel"))
                assert late.status_code == 409
                return closed, runs, {"late": late.text}

    closed, runs, late = asyncio.run(go())
    assert [r["status"] for r in runs] == ["cancelled", "cancelled"]
    assert all(len(r["results"]) < CASES for r in runs)  # the pause held them: not every case ran
    assert closed["comparisons"] == []
    assert "has ended" in late["late"]
