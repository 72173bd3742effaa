"""Diffing two real runs: the Temporal dev server and worker, the live Neon API and the fake LLM server; the
diff read over HTTP (`GET /api/agent-runs/diff`) as the UI and the CLI read it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from neon.cli.main import main
from neon.execute import load_spec
from neon.execute import shared as s
from neon.llm.fake import FakeLLMServer, FakeReply, FakeToolCall
from server.tests.agent_rig import EXAMPLES, AgentRig, final
from server.tests.conftest import LiveServer

pytestmark = pytest.mark.slow  # a dev server per test

QUESTION = "Where is my order A1001?"
LOOKUP = FakeToolCall("lookup_order", {"order_id": "A1001"})


@pytest.fixture
def metadata_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'neon.db'}"


@pytest.fixture
def fake() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as server:
        yield server


async def two_runs(rig: AgentRig, fake: FakeLLMServer, replies: tuple[list[FakeReply], list[FakeReply]],
                   specs: tuple[dict[str, Any] | None, dict[str, Any] | None] = (None, None)) -> list[str]:
    """Run the support agent twice on the same question, one after the other, each with its own replies."""
    ids = []
    for scripted, spec in zip(replies, specs, strict=True):
        fake.queue(*scripted)
        started = await rig.start("support", QUESTION, multi_turn=False, spec=spec)
        done = await rig.wait(started["run_id"], final)
        assert done["status"] == s.COMPLETED, done
        ids.append(started["run_id"])
    return ids


async def get_diff(http: httpx.AsyncClient, a: str, b: str, key: str) -> httpx.Response:
    """Asynchronously: a closed run answers queries through the worker, which runs on this event loop."""
    return await http.get("/api/agent-runs/diff", params={"a": a, "b": b}, headers={"x-api-key": key})


def test_a_different_second_answer_diverges_at_the_second_llm_step(live_server: LiveServer,
                                                                  project_key: tuple[str, str],
                                                                  fake: FakeLLMServer,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    other = live_server.services.projects.create("someone-else")
    _, other_key = live_server.services.keys.create(other.id)
    first = [FakeReply(text="Let me look.", tool_calls=[LOOKUP]),
             FakeReply(text="Delivered on 2026-11-20.", output_tokens=6)]
    second = [FakeReply(text="Let me look.", tool_calls=[LOOKUP]),
              FakeReply(text="It was lost in transit; a refund is on its way.", output_tokens=11)]

    async def scenario() -> dict[str, Any]:
        async with AgentRig(live_server, project_key, fake) as rig:
            a, b = await two_runs(rig, fake, (first, second))
            async with httpx.AsyncClient(base_url=live_server.url, timeout=30) as http:
                key = project_key[1]
                return {"a": a, "b": b, "diff": await get_diff(http, a, b, key),
                        "itself": await get_diff(http, a, a, key),
                        "theirs": await get_diff(http, a, b, other_key),
                        "missing": await get_diff(http, a, "run_" + "a" * 26, key),
                        "bad": await get_diff(http, a, "nope", key),
                        "unrouted": await http.get("/api/agent-runs/diff", headers={"x-api-key": key}),
                        # the CLI, in a thread: the worker that answers the runs' queries runs on this loop
                        "cli": await asyncio.to_thread(cli, "agent", "diff", a, b),
                        "cli_json": await asyncio.to_thread(cli, "agent", "diff", a, b, "--json"),
                        "cli_missing": await asyncio.to_thread(cli, "agent", "diff", a, "run_" + "b" * 26)}

    def cli(*argv: str) -> tuple[int, str, str]:
        code = main([*argv, "--base-url", live_server.url, "--api-key", project_key[1]])
        out, err = capsys.readouterr()
        return code, out, err

    result = asyncio.run(scenario())
    answer = result["diff"]
    assert answer.status_code == 200, answer.text
    diff = answer.json()
    assert [(p["state"], p["a"]["kind"], p["a"]["key"], p["b"]["key"]) for p in diff["steps"]] == [
        ("same", "guardrail", "0.0", "0.0"), ("same", "llm", "0.1", "0.1"), ("same", "tool", "0.2", "0.2"),
        ("changed", "llm", "0.3", "0.3"), ("same", "guardrail", "0.4", "0.4")]
    at = diff["diverged_at"]
    assert (at["position"], at["a_key"], at["b_key"], at["changes"]) == (3, "0.3", "0.3", ["output"])
    assert at["reason"] == "llm gpt-4o-mini: the output differs"
    pair = diff["steps"][3]
    # the prompt both runs sent at the divergence: the system prompt, the question, the call and its result
    for side in ("a", "b"):
        content = pair[side]["content"]
        assert "You are the support assistant of Acme" in content["system_prompt"]
        assert [m["role"] for m in content["messages"]] == ["user", "assistant", "tool"]
        assert content["messages"][0]["content"] == QUESTION
        assert "2026-11-20" in content["messages"][2]["content"]
    assert pair["a"]["content"]["text"] == "Delivered on 2026-11-20."
    assert pair["b"]["content"]["text"] == "It was lost in transit; a refund is on its way."
    assert pair["delta"]["output_tokens"] == 5
    assert diff["delta"]["output_tokens"] == 5
    assert diff["delta"]["input_tokens"] == 0
    tool = diff["steps"][2]
    assert tool["a"]["content"]["arguments"] == {"order_id": "A1001"}
    assert "delivered_on" in tool["a"]["content"]["result"]
    costs = (pair["a"]["cost_usd"], pair["b"]["cost_usd"])
    if None in costs:  # no price for the model here: unknown stays unknown
        assert pair["delta"]["cost_usd"] is None
    else:
        assert pair["delta"]["cost_usd"] == pytest.approx(costs[1] - costs[0])
    assert diff["answer_changed"] is True
    assert diff["input_changed"] is False
    assert diff["spec_changes"] == []
    assert (diff["a"]["run_id"], diff["b"]["run_id"]) == (result["a"], result["b"])
    assert diff["a"]["totals"]["output_tokens"] + 5 == diff["b"]["totals"]["output_tokens"]
    assert diff["counts"] == {"same": 4, "changed": 1, "only_a": 0, "only_b": 0}

    itself = result["itself"].json()
    assert itself["identical"] is True
    assert itself["diverged_at"] is None
    theirs = result["theirs"]
    assert theirs.status_code == 404
    assert f"run A: no run '{result['a']}'" in theirs.json()["error"]["message"]
    missing = result["missing"]
    assert missing.status_code == 404
    assert "run B: no run 'run_aaaaaaaaaaaaaaaaaaaaaaaaaa'" in missing.json()["error"]["message"]
    assert result["bad"].status_code == 422
    assert "b" in str(result["bad"].json()["error"])
    assert result["unrouted"].status_code == 422

    code, out, _ = result["cli"]
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith(f"A {result['a']}  support@")
    assert lines[1].startswith(f"B {result['b']}  support@")
    table = [line.split()[:7] for line in lines[4:9]]
    assert table == [["0", "0.0", "0.0", "guardrail", "input", "ok", "ok"],
                     ["1", "0.1", "0.1", "llm", "gpt-4o-mini", "ok", "ok"],
                     ["2", "0.2", "0.2", "tool", "lookup_order", "ok", "ok"],
                     ["3", "0.3", "0.3", "llm", "gpt-4o-mini", "ok", "ok"],
                     ["4", "0.4", "0.4", "guardrail", "output", "ok", "ok"]]
    assert "CHANGED" in lines[7]
    assert "+0/+5" in lines[7]
    assert "diverged at step 0.3 (A 0.3 / B 0.3): llm gpt-4o-mini: the output differs" in lines
    prompt = lines.index("── prompt (the same in A and B) ──")
    assert lines[prompt + 2] == f"  user: {QUESTION}"
    output_a, output_b = lines.index("── output A ──"), lines.index("── output B ──")
    assert lines[output_a + 2] == "  text: Delivered on 2026-11-20."
    assert lines[output_b + 2] == "  text: It was lost in transit; a refund is on its way."
    assert "spec: the same" in lines
    code, out, _ = result["cli_json"]
    assert code == 0
    assert json.loads(out)["diverged_at"]["b_key"] == "0.3"
    code, _, err = result["cli_missing"]
    assert code == 2
    assert "run B: no run 'run_bbbbbbbbbbbbbbbbbbbbbbbbbb'" in err


def test_a_different_system_prompt_is_a_spec_change_and_diverges_at_the_first_llm_step(
        live_server: LiveServer, project_key: tuple[str, str], fake: FakeLLMServer) -> None:
    spec = load_spec(EXAMPLES / "support.yaml").to_dict()
    terse = {**spec, "system_prompt": spec["system_prompt"] + "Answer in one sentence.\n"}
    replies = [FakeReply(text="Please give me a moment.")]

    async def scenario() -> httpx.Response:
        async with AgentRig(live_server, project_key, fake) as rig:
            a, b = await two_runs(rig, fake, (list(replies), list(replies)), (spec, terse))
            async with httpx.AsyncClient(base_url=live_server.url, timeout=30) as http:
                return await get_diff(http, a, b, project_key[1])

    answer = asyncio.run(scenario())
    assert answer.status_code == 200, answer.text
    diff = answer.json()
    assert [change["path"] for change in diff["spec_changes"]] == ["system_prompt"]
    assert diff["spec_changes"][0]["new"].endswith("Answer in one sentence.\n")
    assert diff["a"]["version"] != diff["b"]["version"]
    at = diff["diverged_at"]
    assert (at["position"], at["a_key"], at["b_key"], at["changes"]) == (1, "0.1", "0.1", ["prompt"])
    first_llm = diff["steps"][1]
    assert "Answer in one sentence." in first_llm["b"]["content"]["system_prompt"]
    assert "Answer in one sentence." not in first_llm["a"]["content"]["system_prompt"]
    assert first_llm["a"]["content"]["text"] == first_llm["b"]["content"]["text"] == "Please give me a moment."
    assert diff["answer_changed"] is False
