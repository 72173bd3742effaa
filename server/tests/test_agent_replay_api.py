"""`GET /api/agent-runs/{run_id}/replay`: a finished run step by step from its Temporal history, the messages
themselves read back from the blob store, and no model or tool called to get there."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from examples.agents.fake_llm import support_model
from neon.cli.main import main
from neon.execute import shared as s
from neon.llm.fake import FakeLLMServer
from neon_server.runtime import Services
from server.tests.agent_rig import AgentRig, final
from server.tests.conftest import LiveServer

pytestmark = pytest.mark.slow  # a Temporal dev server and a worker


@pytest.fixture
def metadata_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'neon.db'}"


@pytest.fixture
def fake() -> Iterator[FakeLLMServer]:
    with FakeLLMServer(reply=support_model) as server:
        yield server


def test_replay_shows_each_step_as_it_was_and_calls_nothing(live_server: LiveServer, project_key: tuple[str, str],
                                                            fake: FakeLLMServer, services: Services,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    project, key = project_key
    other = services.projects.create("someone-else")
    _, other_key = services.keys.create(other.id)

    async def scenario() -> dict[str, Any]:
        async with AgentRig(live_server, project_key, fake) as rig:
            started = await rig.start("support", "Where is my order A1001?")
            run_id = started["run_id"]
            await rig.wait(run_id, lambda r: r["status"] == s.WAITING)
            await rig.runs.send_message(project, run_id, "Please refund order A1001", "ada")
            waiting = await rig.wait(run_id, lambda r: r["status"] == s.AWAITING_APPROVAL)
            await rig.runs.decide(project, run_id, waiting["approvals"][0]["call_id"], approved=True, by="ada",
                                  reason="broken on arrival")
            await rig.wait(run_id, lambda r: r["status"] == s.WAITING and r["turn"] == 2)
            await rig.runs.signal(project, run_id, s.CLOSE)
            await rig.wait(run_id, final)
            calls = len(fake.requests)
            async with httpx.AsyncClient(base_url=live_server.url, timeout=60) as client:
                answer = await client.get(f"/api/agent-runs/{run_id}/replay", headers={"x-api-key": key})
                hidden = await client.get(f"/api/agent-runs/{run_id}/replay", headers={"x-api-key": other_key})
                unknown = await client.get(f"/api/agent-runs/run_{'a' * 26}/replay", headers={"x-api-key": key})
                malformed = await client.get("/api/agent-runs/nope/replay", headers={"x-api-key": key})
            cli = ["--base-url", live_server.url, "--api-key", key]
            capsys.readouterr()
            codes = [await asyncio.to_thread(main, ["agent", "replay", run_id, *cli])]
            listed = capsys.readouterr().out
            codes.append(await asyncio.to_thread(main, ["agent", "replay", run_id, "--step", "1.7", *cli]))
            at_step = capsys.readouterr().out
            codes.append(await asyncio.to_thread(main, ["agent", "replay", run_id, "--step", "7.7", *cli]))
            no_step = capsys.readouterr().err
            assert len(fake.requests) == calls, "replaying called the model"
            assert codes == [0, 0, 2]
            assert "step 1.7    tool      issue_refund       ok" in listed, listed
            arguments = '  arguments {"amount_eur": 39.9, "order_id": "A1001", "reason": "customer request"}'
            assert arguments in listed, listed
            assert "  approved by ada: broken on arrival" in listed, listed
            assert "user (ada): Please refund order A1001" in listed, listed
            assert "  usage 6/20 steps (4 LLM, 2 tool)" in listed, listed
            assert "replays against this server's workflow code" in listed, listed
            # the conversation the model had when it asked for the refund: both turns, then its reply
            assert at_step.index("Where is my order A1001?") < at_step.index("Please refund order A1001") < \
                at_step.index("--- the reply") < at_step.index("calls issue_refund"), at_step
            assert "system:\n  You are the support assistant of Acme" in at_step
            assert "no step '7.7'" in no_step
            return {"answer": answer, "hidden": hidden, "unknown": unknown, "malformed": malformed,
                    "run_id": run_id}

    result = asyncio.run(scenario())
    assert result["answer"].status_code == 200, result["answer"].text
    assert result["hidden"].status_code == 404
    assert result["run_id"] in result["hidden"].json()["error"]["message"]
    assert result["unknown"].status_code == 404
    assert result["malformed"].status_code == 422
    assert "run_id" in result["malformed"].json()["error"]["message"]
    replay = result["answer"].json()
    assert (replay["run_id"], replay["agent"], replay["status"]) == (result["run_id"], "support", s.COMPLETED)
    assert (replay["deterministic"], replay["problem"], replay["missing_blobs"]) == (True, None, [])
    assert replay["budgets"]["max_steps"] == 20
    steps = replay["steps"]
    assert [(st["key"], st["kind"], st["name"], st["status"]) for st in steps] == [
        ("0.0", "guardrail", "input", "ok"), ("0.1", "llm", "gpt-4o-mini", "ok"),
        ("0.2", "tool", "lookup_order", "ok"), ("0.3", "llm", "gpt-4o-mini", "ok"),
        ("0.4", "guardrail", "output", "unrecorded"), ("1.5", "guardrail", "input", "ok"),
        ("1.6", "llm", "gpt-4o-mini", "ok"), ("1.7", "tool", "issue_refund", "ok"),
        ("1.8", "llm", "gpt-4o-mini", "ok"), ("1.9", "guardrail", "output", "ok")]
    messages = [m["message"] for m in replay["messages"]]
    # the conversation as the model got it at each LLM step: the first n messages, then the user's new one
    by_key = {st["key"]: st for st in steps}
    first, after_tool, refund_call = by_key["0.1"], by_key["0.3"], by_key["1.6"]
    assert first["input"]["conversation_upto"] == 0
    assert first["input"]["new_messages"] == [{"role": "user", "content": "Where is my order A1001?"}]
    assert first["input"]["system_prompt"].startswith("You are the support assistant of Acme")
    assert after_tool["input"]["conversation_upto"] == 3
    seen = messages[:3]
    assert [m["role"] for m in seen] == ["user", "assistant", "tool"]
    assert seen[0]["content"] == "Where is my order A1001?"
    assert '"delivered_on": "2026-11-20"' in seen[2]["content"]
    assert refund_call["input"]["conversation_upto"] == 4
    assert refund_call["input"]["new_messages"][0]["content"] == "Please refund order A1001"
    # each step's output, the messages themselves
    assert first["output"]["tool_calls"][0]["name"] == "lookup_order"
    assert first["output"]["message"] == messages[1]
    lookup = by_key["0.2"]
    assert lookup["input"]["arguments"] == {"order_id": "A1001"}
    assert lookup["output"]["result"] == messages[2]
    refund = by_key["1.7"]
    assert refund["approval"]["decision"] == "approved"
    assert (refund["approval"]["by"], refund["approval"]["reason"]) == ("ada", "broken on arrival")
    assert refund["input"]["arguments"]["order_id"] == "A1001"
    assert "R-A1001-3990" in refund["output"]["result"]["content"]
    assert replay["answer"] == by_key["1.8"]["output"]["text"]
    assert replay["answer"] == "Done: refund R-A1001-3990 of 39.90 EUR is on its way."
    # usage accumulating, step by step
    counts = [(st["usage_after"]["steps"], st["usage_after"]["llm_calls"], st["usage_after"]["tool_calls"])
              for st in steps]
    assert counts == [(0, 0, 0), (1, 1, 0), (2, 1, 1), (3, 2, 1), (3, 2, 1), (3, 2, 1), (4, 3, 1), (5, 3, 2),
                      (6, 4, 2), (6, 4, 2)]
    tokens = [st["usage_after"]["input_tokens"] for st in steps if st["kind"] == "llm"]
    assert tokens == sorted(tokens)
    assert tokens[0] > 0
    assert replay["usage"] == steps[-1]["usage_after"]
    assert [(e["kind"], e["text"]) for e in replay["events"]] == [("message", "Please refund order A1001"),
                                                                   ("close", None)]
