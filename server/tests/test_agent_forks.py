"""Forks of agent runs end to end: the real Temporal dev server and worker, the live Neon API, the fake LLM
server. A fork reuses the parent's recorded steps before k (no call reaches the fake for them) and goes live
from k with its overrides."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from neon.cli.main import main
from neon.execute import shared as s
from neon.execute.replay import check_history
from neon.llm.fake import FakeLLMServer, FakeReply, FakeToolCall
from server.tests.agent_rig import AgentRig, final
from server.tests.conftest import LiveServer

pytestmark = pytest.mark.slow  # a dev server per test

LOOKUP = FakeToolCall("lookup_order", {"order_id": "A1001"}, id="call_lookup")
REFUND = FakeToolCall("issue_refund", {"order_id": "A1001", "amount_eur": 39.9, "reason": "arrived broken"},
                      id="call_refund")
SAME = ("key", "kind", "name", "status", "output_ref", "summary", "input_tokens", "output_tokens", "arguments",
        "tool_call_id")
TIMES = ("started_ns", "ended_ns", "attempt")


@pytest.fixture
def metadata_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'neon.db'}"


@pytest.fixture
def fake() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as server:
        yield server


async def _until(http: httpx.AsyncClient, path: str, headers: dict[str, str], done: Any) -> Any:
    """GET `path` until `done(answer)` holds (visibility and runs settle on their own time)."""
    for _ in range(600):
        answer = (await http.get(path, headers=headers)).json()
        if done(answer):
            return answer
        await asyncio.sleep(0.05)
    raise AssertionError(f"{path} never got there: {answer}")


def test_a_fork_reuses_the_steps_before_k_and_goes_live_from_k(live_server: LiveServer,
                                                               project_key: tuple[str, str],
                                                               fake: FakeLLMServer) -> None:
    fake.queue(FakeReply(text="Let me look that up.", tool_calls=[LOOKUP]),
               FakeReply(text="Your kettle was delivered on 2026-11-20."))

    async def scenario() -> dict[str, Any]:
        async with AgentRig(live_server, project_key, fake) as rig, \
                httpx.AsyncClient(base_url=live_server.url, timeout=30) as http:
            mine = {"x-api-key": project_key[1]}
            parent = await rig.start("support", "Where is my order A1001?", multi_turn=False)
            parent_id = parent["run_id"]
            parent_done = await rig.wait(parent_id, final)
            parent_calls = len(fake.requests)

            # fork at step 3 (the second LLM call) with another system prompt
            fake.queue(FakeReply(text="Ahoy! Yer kettle landed on 2026-11-20."))
            answer = await http.post(f"/api/agent-runs/{parent_id}/fork", headers=mine, json={
                "at_step": 3, "system_prompt": "You are a pirate. Answer like one."})
            assert answer.status_code == 201, answer.text
            forked = answer.json()
            fork_done = await rig.wait(forked["run_id"], final)
            fork_requests = fake.requests[parent_calls:]
            trace = rig.trace(forked["trace_id"])
            diffed = await http.get("/api/agent-runs/diff", headers=mine,
                                    params={"a": parent_id, "b": forked["run_id"]})
            assert diffed.status_code == 200, diffed.text

            # a fork of the fork, after its live LLM call: nothing is called at all
            before = len(fake.requests)
            grandchild = await rig.runs.fork(rig.project_id, forked["run_id"], 4, {})
            grandchild_done = await rig.wait(grandchild["run_id"], final)
            grandchild_calls = len(fake.requests) - before

            # k = 0: everything again, live
            fake.queue(FakeReply(text="Let me look that up.", tool_calls=[LOOKUP]), FakeReply(text="Delivered."))
            before = len(fake.requests)
            again = (await http.post(f"/api/agent-runs/{parent_id}/fork", headers=mine, json={"at_step": 0})).json()
            again_done = await rig.wait(again["run_id"], final)
            rerun_calls = len(fake.requests) - before

            # lineage: in the fork's read and summary, and listed among the parent's forks
            got = (await http.get(f"/api/agent-runs/{forked['run_id']}", headers=mine)).json()
            forks = await _until(http, f"/api/agent-runs?fork_of={parent_id}", mine,
                                 lambda page: len(page["runs"]) == 2)
            listed = (await http.get("/api/agent-runs", headers=mine)).json()["runs"]

            # bad input names what was wrong
            bad = {
                "step": await http.post(f"/api/agent-runs/{parent_id}/fork", headers=mine, json={"at_step": 6}),
                "tool": await http.post(f"/api/agent-runs/{parent_id}/fork", headers=mine,
                                        json={"at_step": 1, "tools": ["lookup_order", "teleport"]}),
                "version": await http.post(f"/api/agent-runs/{parent_id}/fork", headers=mine,
                                           json={"at_step": 1, "version": "0123456789ab"}),
                "input": await http.post(f"/api/agent-runs/{parent_id}/fork", headers=mine,
                                         json={"at_step": 2, "input": "something else"}),
                "run": await http.post("/api/agent-runs/run_aaaaaaaaaaaaaaaaaaaaaaaaaa/fork", headers=mine,
                                       json={"at_step": 0}),
            }
            return {"parent": parent_done, "forked": forked, "fork": fork_done, "requests": fork_requests,
                    "grandchild": grandchild_done, "grandchild_calls": grandchild_calls,
                    "trace": trace, "diff": diffed.json(),
                    "again": again_done, "rerun_calls": rerun_calls, "got": got, "forks": forks,
                    "listed": listed, "bad": bad}

    result = asyncio.run(scenario())
    parent, fork = result["parent"], result["fork"]
    assert parent["status"] == fork["status"] == s.COMPLETED, fork
    assert len(parent["steps"]) == len(fork["steps"]) == 5

    # exactly one call reached the model: step 3, with the new prompt and the reused conversation
    [request] = result["requests"]
    assert "You are a pirate" in request.system
    assert "support assistant" not in request.system
    assert "2026-11-20" in str(request.tool_results[0])
    # steps 0–2 are the parent's, byte for byte; the fork diverges after
    for mine, theirs in zip(fork["steps"][:3], parent["steps"][:3], strict=True):
        assert {k: mine[k] for k in SAME} == {k: theirs[k] for k in SAME}
    for mine, theirs in zip(fork["steps"][1:3], parent["steps"][1:3], strict=True):  # the recorded calls
        assert {k: mine[k] for k in TIMES} == {k: theirs[k] for k in TIMES}  # (step 0 is checked locally)
    assert fork["steps"][3]["output_ref"] != parent["steps"][3]["output_ref"]
    assert fork["answer"] == "Ahoy! Yer kettle landed on 2026-11-20."
    assert parent["answer"] == "Your kettle was delivered on 2026-11-20."
    assert fork["usage"]["llm_calls"] == 2
    assert fork["usage"]["tool_calls"] == 1
    assert fork["version"] != parent["version"]  # the changed spec is a version of its own

    # the trace says which steps were reused, and where the fork came from
    spans = {span["attributes"].get("neon.step_key") or "root": span for span in result["trace"]["spans"]}
    assert spans["0.1"]["attributes"].get("neon.fork.reused") == "true"  # stored attributes are text
    assert spans["0.2"]["attributes"].get("neon.fork.reused") == "true"
    assert "neon.fork.reused" not in spans["0.3"]["attributes"]
    root = spans["root"]["attributes"]
    assert root["neon.fork.parent_run_id"] == parent["run_id"]
    assert root["neon.fork.step"] == "3"

    # the diff of parent and fork: the same up to k, diverged at k (the prompt and the output), by the prompt
    diff = result["diff"]
    assert [pair["state"] for pair in diff["steps"][:3]] == ["same"] * 3
    diverged = diff["diverged_at"]
    assert (diverged["a_index"], diverged["b_index"]) == (3, 3), diverged
    assert {"prompt", "output"} <= set(diverged["changes"]), diverged
    assert [change["path"] for change in diff["spec_changes"]] == ["system_prompt"]
    assert diff["b"]["fork"] == {"parent_run_id": parent["run_id"], "at_step": 3,
                                 "overrides": {"system_prompt": "You are a pirate. Answer like one."}}

    assert result["grandchild_calls"] == 0
    assert result["grandchild"]["answer"] == fork["answer"]
    for mine, theirs in zip(result["grandchild"]["steps"][:4], fork["steps"][:4], strict=True):
        assert {k: mine[k] for k in SAME} == {k: theirs[k] for k in SAME}
        if mine["kind"] != "guardrail":  # a recorded call keeps its times (local checks run again)
            assert {k: mine[k] for k in TIMES} == {k: theirs[k] for k in TIMES}

    # k = 0 is a full re-run
    assert result["rerun_calls"] == 2
    assert result["again"]["answer"] == "Delivered."

    lineage = {"parent_run_id": parent["run_id"], "at_step": 3,
               "overrides": {"system_prompt": "You are a pirate. Answer like one."}}
    assert result["forked"]["fork"] == lineage
    assert result["got"]["fork"] == lineage
    assert sorted(run["run_id"] for run in result["forks"]["runs"]) == sorted(
        [fork["run_id"], result["again"]["run_id"]])
    by_id = {run["run_id"]: run for run in result["listed"]}
    assert by_id[parent["run_id"]]["fork"] is None
    assert by_id[fork["run_id"]]["fork"] == lineage

    bad = result["bad"]
    assert bad["step"].status_code == 422
    assert "run " + parent["run_id"] + " has 5 finished steps, so at_step is 0..5" in bad["step"].text
    assert bad["tool"].status_code == 422
    assert "unknown tool(s) teleport" in bad["tool"].text
    assert "lookup_order, lookup_policy, issue_refund" in bad["tool"].text
    assert bad["version"].status_code == 404
    assert "no version '0123456789ab'" in bad["version"].text
    assert parent["version"] in bad["version"].text  # the versions there are
    assert bad["input"].status_code == 422
    assert "must be the first step of its turn" in bad["input"].text
    assert bad["run"].status_code == 404


def test_a_fork_past_an_approval_reuses_the_decision(live_server: LiveServer, project_key: tuple[str, str],
                                                     fake: FakeLLMServer, capsys: pytest.CaptureFixture[str]
                                                     ) -> None:
    """Through the CLI: `neon agent fork RUN --at 3 --model gpt-4o --follow` answers without anyone deciding."""
    fake.queue(FakeReply(text="I will refund it.", tool_calls=[REFUND]), FakeReply(text="Refunded."))

    async def scenario() -> tuple[dict[str, Any], dict[str, Any], list[Any]]:
        async with AgentRig(live_server, project_key, fake) as rig:
            parent = await rig.start("support", "Refund A1001, it arrived broken", multi_turn=False)
            await rig.wait(parent["run_id"], lambda r: any(a["decision"] is None for a in r["approvals"]))
            await rig.runs.decide(rig.project_id, parent["run_id"], "call_refund", approved=True, by="ada",
                                  reason="broken on arrival")
            parent_done = await rig.wait(parent["run_id"], final)
            calls = len(fake.requests)
            fake.queue(FakeReply(text="The refund R-A1001-3990 is on its way."))
            capsys.readouterr()
            code = await asyncio.to_thread(main, [
                "agent", "fork", parent["run_id"], "--at", "3", "--model", "gpt-4o", "--follow",
                "--base-url", live_server.url, "--api-key", project_key[1]])
            printed = capsys.readouterr().out
            assert code == 0, printed
            # no one is asked again: the fork finished on its own
            fork_id = printed.split()[1]
            fork_done = await rig.wait(fork_id, final)
            return parent_done, fork_done, fake.requests[calls:], printed

    parent, fork, requests, printed = asyncio.run(scenario())
    assert f"fork of {parent['run_id']} at step 3" in printed
    assert "The refund R-A1001-3990 is on its way." in printed
    assert fork["status"] == s.COMPLETED, fork
    assert [request.body["model"] for request in requests] == ["gpt-4o"]
    [approval] = fork["approvals"]
    assert (approval["decision"], approval["decided_by"], approval["decided_reason"]) == (
        "approved", "ada", "broken on arrival")
    assert fork["steps"][2]["output_ref"] == parent["steps"][2]["output_ref"]
    assert "R-A1001-3990" in fork["steps"][2]["summary"]
    assert fork["answer"] == "The refund R-A1001-3990 is on its way."


def test_a_fork_in_a_later_turn_replays_the_conversation_and_its_history(live_server: LiveServer,
                                                                        project_key: tuple[str, str],
                                                                        fake: FakeLLMServer) -> None:
    """A two-turn parent (a refund approved in turn 0); the fork goes live at turn 1's LLM call: turn 0 is the
    parent's (no calls, no approval asked), turn 1 gets the parent's second message, and both histories replay."""
    fake.queue(FakeReply(text="I will refund it.", tool_calls=[REFUND]), FakeReply(text="Refunded."),
               FakeReply(text="You are welcome."))

    async def scenario() -> tuple[dict[str, Any], dict[str, Any], list[Any]]:
        async with AgentRig(live_server, project_key, fake) as rig:
            parent = await rig.start("support", "Refund A1001, it arrived broken")
            run_id = parent["run_id"]
            await rig.wait(run_id, lambda r: any(a["decision"] is None for a in r["approvals"]))
            await rig.runs.decide(rig.project_id, run_id, "call_refund", approved=True, by="ada", reason="ok")
            await rig.wait(run_id, lambda r: r["status"] == s.WAITING)
            await rig.runs.send_message(rig.project_id, run_id, "Thanks!", "ada")
            parent_done = await rig.wait(run_id, lambda r: r["status"] == s.WAITING and r["turn"] == 2)
            calls = len(fake.requests)
            fake.queue(FakeReply(text="Arr, ye be welcome."))
            at = next(step["index"] for step in parent_done["steps"] if step["kind"] == "llm" and step["turn"] == 1)
            forked = await rig.runs.fork(rig.project_id, run_id, at, {"parameters": {"temperature": 1.0}})
            fork_done = await rig.wait(forked["run_id"], lambda r: r["status"] == s.WAITING and r["turn"] == 2)
            for run in (run_id, forked["run_id"]):
                await rig.runs.signal(rig.project_id, run, s.CLOSE)
                await rig.wait(run, lambda r: r["status"] == s.COMPLETED)
            assert rig.env is not None
            for run in (run_id, forked["run_id"]):  # a fork's workflow is as deterministic as any run's
                history = await rig.env.client.get_workflow_handle(run).fetch_history()
                assert await check_history(history) is None, run
            return parent_done, fork_done, fake.requests[calls:]

    parent, fork, requests = asyncio.run(scenario())
    [request] = requests
    assert request.last_user_message == "Thanks!"
    assert request.body["temperature"] == 1.0
    assert fork["answer"] == "Arr, ye be welcome."
    assert [step["key"] for step in fork["steps"]] == [step["key"] for step in parent["steps"]]
    for mine, theirs in zip(fork["steps"][:4], parent["steps"][:4], strict=True):
        assert {k: mine[k] for k in SAME} == {k: theirs[k] for k in SAME}
    [approval] = fork["approvals"]
    assert (approval["decision"], approval["decided_by"]) == ("approved", "ada")
