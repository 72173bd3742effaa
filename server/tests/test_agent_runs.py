"""Durable agent runs end to end in one process: the real Temporal dev server and worker, the live Neon API the
activities reach with a run token, and the fake LLM server. Crashes and restarts are in tests/e2e."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from neon.execute import shared as s
from neon.llm.fake import FakeLLMServer, FakeReply, FakeToolCall
from neon_server.services.errors import Conflict
from server.tests.agent_rig import AgentRig, final
from server.tests.conftest import LiveServer

pytestmark = pytest.mark.slow  # a dev server per test: about 2 s each


@pytest.fixture
def metadata_url(tmp_path: Path) -> str:  # runs do not depend on the metadata backend (versions are tested apart)
    return f"sqlite:///{tmp_path / 'neon.db'}"


@pytest.fixture
def fake() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as server:
        yield server


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


def test_a_tool_call_then_an_answer(live_server: LiveServer, project_key: tuple[str, str],
                                    fake: FakeLLMServer) -> None:
    fake.queue(FakeReply(text="Let me look that up.", tool_calls=[FakeToolCall("lookup_order", {"order_id": "A1001"})]),
               FakeReply(text="Your kettle was delivered on 2026-11-20."))

    async def scenario() -> dict[str, Any]:
        async with AgentRig(live_server, project_key, fake) as rig:
            started = await rig.start("support", "Where is my order A1001?", multi_turn=False)
            done = await rig.wait(started["run_id"], final)
            return {"started": started, "done": done, "trace": rig.trace(started["trace_id"])}

    result = run(scenario())
    done = result["done"]
    assert done["status"] == s.COMPLETED, done
    assert done["answer"] == "Your kettle was delivered on 2026-11-20."
    kinds = [(step["kind"], step["name"], step["status"]) for step in done["steps"]]
    assert kinds == [("guardrail", "input", "ok"), ("llm", "gpt-4o-mini", "ok"), ("tool", "lookup_order", "ok"),
                     ("llm", "gpt-4o-mini", "ok"), ("guardrail", "output", "ok")]
    assert '"delivered_on": "2026-11-20"' in done["steps"][2]["summary"]
    assert done["usage"]["llm_calls"] == 2
    assert done["usage"]["tool_calls"] == 1
    # The model saw the tool's result, from the blob store, in the second call.
    second = fake.requests[1]
    assert second.tool_results
    assert "2026-11-20" in str(second.tool_results[0])
    assert "You are the support assistant of Acme" in second.system
    # The trace: one turn (agent) with its steps, each once.
    spans = result["trace"]["spans"]
    types = sorted(span["span_type"] for span in spans)
    assert types == ["agent", "generation", "generation", "guardrail", "guardrail", "tool"]
    root = next(span for span in spans if span["span_type"] == "agent")
    assert root["parent_span_id"] == ""
    assert {span["parent_span_id"] for span in spans if span is not root} == {root["span_id"]}
    assert result["trace"]["trace"]["agent_id"] == "support"
    assert result["trace"]["trace"]["agent_version"] == result["started"]["version"]


REFUND = FakeToolCall("issue_refund", {"order_id": "A1001", "amount_eur": 39.9, "reason": "arrived broken"},
                      id="call_refund")
POLICY = FakeToolCall("lookup_policy", {"topic": "refunds"}, id="call_policy")


def awaiting(run: dict[str, Any]) -> bool:
    return run["status"] == s.AWAITING_APPROVAL


def test_approvals_are_decided_per_call_and_recorded(live_server: LiveServer, project_key: tuple[str, str],
                                                     fake: FakeLLMServer) -> None:
    """Two refunds asked for at once: one approved, one rejected; the policy lookup beside them needs nobody."""
    second = FakeToolCall("issue_refund", {"order_id": "A1003", "amount_eur": 249.0, "reason": "changed my mind"},
                          id="call_refund_2")
    fake.queue(FakeReply(text="I will refund both orders.", tool_calls=[REFUND, POLICY, second]),
               FakeReply(text="Refunded A1001; the A1003 refund was not approved."))

    async def scenario() -> dict[str, Any]:
        async with AgentRig(live_server, project_key, fake) as rig:
            started = await rig.start("support", "Refund A1001 and A1003 please", multi_turn=False)
            run_id = started["run_id"]
            waiting = await rig.wait(run_id, lambda r: len([a for a in r["approvals"] if a["decision"] is None]) == 2)
            assert waiting["status"] == s.AWAITING_APPROVAL
            inbox = await rig.runs.approvals(rig.project_id)
            assert sorted(a["call_id"] for a in inbox) == ["call_refund", "call_refund_2"]
            assert inbox[0]["reason"] == "I will refund both orders."
            with pytest.raises(Conflict, match="no pending approval 'nope'"):
                await rig.runs.decide(rig.project_id, run_id, "nope", approved=True, by="ada", reason="")
            await rig.runs.decide(rig.project_id, run_id, "call_refund", approved=True, by="ada",
                                  reason="broken on arrival")
            with pytest.raises(Conflict, match="no pending approval 'call_refund'"):  # decided once only
                await rig.runs.decide(rig.project_id, run_id, "call_refund", approved=False, by="bob", reason="")
            await rig.runs.decide(rig.project_id, run_id, "call_refund_2", approved=False, by="bob",
                                  reason="outside the window")
            done = await rig.wait(run_id, final)
            return {"done": done, "trace": rig.trace(started["trace_id"]), "inbox": await rig.runs.approvals(
                rig.project_id)}

    result = run(scenario())
    done = result["done"]
    assert done["status"] == s.COMPLETED, done
    assert result["inbox"] == []
    decided = {a["call_id"]: a for a in done["approvals"]}
    assert (decided["call_refund"]["decision"], decided["call_refund"]["decided_by"]) == ("approved", "ada")
    assert decided["call_refund_2"]["decided_reason"] == "outside the window"
    tools = {step["tool_call_id"]: step for step in done["steps"] if step["kind"] == "tool"}
    assert tools["call_refund"]["status"] == "ok"
    assert "R-A1001-3990" in tools["call_refund"]["summary"]
    assert tools["call_refund_2"]["status"] == "rejected"
    assert tools["call_policy"]["status"] == "ok"
    # the model is told of the rejection, with who and why
    told = {r["tool_call_id"]: r for r in fake.requests[1].tool_results}
    assert "rejected by bob: outside the window" in str(told["call_refund_2"])
    approvals = [span for span in result["trace"]["spans"] if span["name"].startswith("approval")]
    assert len(approvals) == 2
    assert sorted(span["status"] for span in approvals) == ["error", "ok"]


def test_provider_errors_rate_limits_and_bad_tool_calls(live_server: LiveServer, project_key: tuple[str, str],
                                                        fake: FakeLLMServer) -> None:
    fake.queue(FakeReply(status=429, retry_after=1, error_message="slow down"),
               FakeReply(text="", tool_calls=[FakeToolCall("lookup_order", {"order_id": "12"}, id="bad_args"),
                                              FakeToolCall("lookup_order", {"order_id": "A9999"}, id="missing"),
                                              FakeToolCall("delete_everything", {}, id="unknown")]),
               FakeReply(text="Sorry, I could not find that order."),
               FakeReply(status=400, error_message="context_length_exceeded: too long"))

    async def scenario() -> tuple[dict[str, Any], dict[str, Any], float]:
        async with AgentRig(live_server, project_key, fake) as rig:
            first = await rig.start("support", "Where is order 12?")
            done = await rig.wait(first["run_id"], lambda r: r["status"] == s.WAITING)
            await rig.runs.send_message(rig.project_id, first["run_id"], "And my other order?", "ada")
            failed = await rig.wait(first["run_id"], final)
            return done, failed, fake.requests[1].received_at - fake.requests[0].received_at

    done, failed, waited = run(scenario())
    llm = [step for step in done["steps"] if step["kind"] == "llm"]
    assert llm[0]["attempt"] == 2  # the 429 was retried by Temporal ...
    assert waited >= 0.9  # ... after the Retry-After the provider asked for
    tools = {step["tool_call_id"]: step for step in done["steps"] if step["kind"] == "tool"}
    assert "invalid arguments for lookup_order" in tools["bad_args"]["error"]
    assert "order_id" in tools["bad_args"]["error"]
    assert "OrderNotFound" in tools["missing"]["error"]  # non-retryable per the spec: one attempt
    assert "unknown tool 'delete_everything'" in tools["unknown"]["error"]
    assert done["answer"] == "Sorry, I could not find that order."
    assert failed["status"] == s.FAILED
    assert "context_length_exceeded: too long" in failed["error"]
    assert "HTTP 400" in failed["error"]


def test_budgets_stop_a_run_that_would_loop(live_server: LiveServer, project_key: tuple[str, str],
                                            fake: FakeLLMServer) -> None:
    fake.queue(*[FakeReply(tool_calls=[FakeToolCall("lookup_policy", {"topic": "shipping"}, id=f"c{i}")])
                 for i in range(30)])
    from neon.execute import load_spec
    from server.tests.agent_rig import EXAMPLES

    spec = load_spec(EXAMPLES / "support.yaml").to_dict()
    spec["budgets"]["max_steps"] = 5

    async def scenario() -> dict[str, Any]:
        async with AgentRig(live_server, project_key, fake) as rig:
            started = await rig.start("support", "Tell me about shipping", spec=spec)
            return await rig.wait(started["run_id"], final)

    done = run(scenario())
    assert done["status"] == s.STOPPED
    assert done["error"] == "budget: 5 steps reached max_steps 5"
    assert len(fake.requests) == 3  # llm, tool, llm, tool, llm: then the sixth step is refused


def test_conversation_pause_resume_streaming_and_cancel(live_server: LiveServer, project_key: tuple[str, str],
                                                        fake: FakeLLMServer) -> None:
    import httpx

    fake.queue(FakeReply(text="The policy, one moment.", tool_calls=[POLICY], delay=1.0),
               FakeReply(text="Refunds are possible within thirty days of delivery.", stream_delay=0.15),
               FakeReply(text="Shipping takes three to five working days."),
               FakeReply(text="I can refund that.", tool_calls=[REFUND]))

    async def subscriber(url: str, key: str, run_id: str, got: list[dict[str, Any]], ready: asyncio.Event) -> None:
        import json

        async with httpx.AsyncClient(timeout=httpx.Timeout(10, read=None)) as http, \
                http.stream("GET", f"{url}/api/agent-runs/{run_id}/events", headers={"x-api-key": key}) as events:
            async for line in events.aiter_lines():
                if line.startswith(": connected"):
                    ready.set()
                if line.startswith("data: "):
                    got.append(json.loads(line[6:]))

    async def scenario() -> dict[str, Any]:
        async with AgentRig(live_server, project_key, fake) as rig:
            started = await rig.start("support", "What is the refund policy?")
            run_id = started["run_id"]
            got: list[dict[str, Any]] = []
            ready = asyncio.Event()
            listening = asyncio.create_task(subscriber(live_server.url, rig.key, run_id, got, ready))
            await ready.wait()
            # pause while the first LLM call runs: the run holds before its next LLM call
            await rig.wait(run_id, lambda r: any(st["kind"] == "llm" and st["status"] == "running"
                                                 for st in r["steps"]))
            await rig.runs.signal(rig.project_id, run_id, s.PAUSE)
            paused = await rig.wait(run_id, lambda r: r["status"] == s.PAUSED)
            assert len(fake.requests) == 1
            assert [st["kind"] for st in paused["steps"]][-1] == "tool"
            await rig.runs.signal(rig.project_id, run_id, s.RESUME)
            first = await rig.wait(run_id, lambda r: r["status"] == s.WAITING)
            listening.cancel()
            await rig.runs.send_message(rig.project_id, run_id, "And shipping?", "ada")
            second = await rig.wait(run_id, lambda r: r["status"] == s.WAITING and r["turn"] == 2)
            await rig.runs.send_message(rig.project_id, run_id, "Refund A1001", "ada")
            await rig.wait(run_id, lambda r: r["status"] == s.AWAITING_APPROVAL)
            await rig.runs.cancel(rig.project_id, run_id)
            cancelled = await rig.wait(run_id, lambda r: r["status"] == s.CANCELLED)
            return {"first": first, "second": second, "cancelled": cancelled, "got": got,
                    "trace": rig.trace(started["trace_id"])}

    result = run(scenario())
    assert result["first"]["answer"] == "Refunds are possible within thirty days of delivery."
    answering = [st["key"] for st in result["first"]["steps"] if st["kind"] == "llm"][-1]
    deltas = [e for e in result["got"] if e["type"] == "delta" and e["step_key"] == answering]
    assert len(deltas) >= 2  # tokens arrived in pieces, while the call ran
    assert "".join(d["text"] for d in deltas) == result["first"]["answer"]
    assert {d["attempt"] for d in deltas} == {1}
    assert result["second"]["answer"] == "Shipping takes three to five working days."
    assert result["cancelled"]["error"] == "cancelled"
    # the third turn's request carried the whole conversation, by reference
    assert [m["role"] for m in fake.requests[3].messages if m["role"] == "user"] == ["user"] * 3
    turns = [span for span in result["trace"]["spans"] if span["span_type"] == "agent"]
    assert len(turns) == 3
    assert sorted(span["status"] for span in turns) == ["error", "ok", "ok"]


def test_a_long_conversation_continues_as_new_and_keeps_its_history(live_server: LiveServer,
                                                                    project_key: tuple[str, str],
                                                                    fake: FakeLLMServer) -> None:
    """The dev server suggests continue-as-new early: the run starts fresh histories between turns, the model
    still sees the whole conversation, and the steps of earlier histories are kept (as a blob) and counted."""
    turns = 6
    fake.queue(*[FakeReply(text=f"answer {i}", tool_calls=[FakeToolCall("lookup_policy", {"topic": "shipping"},
                                                                         id=f"p{i}")]) if i % 2 == 0
                 else FakeReply(text=f"answer {i}") for i in range(turns * 2)])

    async def scenario() -> tuple[dict[str, Any], int]:
        async with AgentRig(live_server, project_key, fake, dev_server_args=(
                "--dynamic-config-value", "limit.historyCount.suggestContinueAsNew=40")) as rig:
            started = await rig.start("support", "message 0")
            run_id = started["run_id"]
            for turn in range(1, turns):
                await rig.wait(run_id, lambda r, t=turn: r["status"] == s.WAITING and r["turn"] == t)
                await rig.runs.send_message(rig.project_id, run_id, f"message {turn}", "ada")
            done = await rig.wait(run_id, lambda r: r["status"] == s.WAITING and r["turn"] == turns)
            assert rig.env is not None
            histories = 0
            async for _ in rig.env.client.list_workflows(f'WorkflowId = "{run_id}"'):
                histories += 1
            return done, histories

    done, histories = run(scenario())
    assert histories >= 2  # continued as new at least once: each history is an execution of the same run id
    assert done["earlier_step_count"] > 0
    assert done["earlier_step_count"] + len(done["steps"]) == done["usage"]["steps"] + 2 * turns  # + guardrails
    last = fake.requests[-1]
    assert [m["content"] for m in last.messages if m["role"] == "user"] == [f"message {i}" for i in range(turns)]
    assert done["answer"] == f"answer {len(fake.requests) - 1}"


def test_a_model_the_worker_cannot_call_fails_the_run_at_once(live_server: LiveServer,
                                                              project_key: tuple[str, str],
                                                              fake: FakeLLMServer) -> None:
    from neon.execute import load_spec
    from server.tests.agent_rig import EXAMPLES

    spec = load_spec(EXAMPLES / "support.yaml").to_dict()
    spec["model"] = {**spec["model"], "provider": "anthropic", "name": "claude-sonnet-4-5"}

    async def scenario() -> dict[str, Any]:
        async with AgentRig(live_server, project_key, fake) as rig:  # the worker has no Anthropic key
            started = await rig.start("support", "hello", spec=spec)
            return await rig.wait(started["run_id"], final, within=20)

    done = run(scenario())
    assert done["status"] == s.FAILED
    assert "LLM call to claude-sonnet-4-5) failed: LLMConfigError: no API key for anthropic" in done["error"]
    assert "ANTHROPIC_API_KEY" in done["error"]
    llm = next(step for step in done["steps"] if step["kind"] == "llm")
    assert llm["attempt"] == 1  # not retried: no retry can add a key
    assert fake.requests == []


def test_the_http_api_approval_timeouts_and_a_tool_that_cannot_load(live_server: LiveServer,
                                                                    project_key: tuple[str, str],
                                                                    fake: FakeLLMServer) -> None:
    import httpx

    from neon.execute import load_spec
    from server.tests.agent_rig import EXAMPLES

    spec = load_spec(EXAMPLES / "support.yaml").to_dict()
    spec["approval"] = {**spec["approval"], "timeout": 1, "on_timeout": "reject"}
    spec["tools"][1]["implementation"] = {"python": "examples.agents.nowhere:lookup_policy"}
    fake.queue(FakeReply(text="Refunding.", tool_calls=[REFUND, POLICY]), FakeReply(text="Nothing was done."))
    other = live_server.services.projects.create("someone-else")
    _, other_key = live_server.services.keys.create(other.id)

    async def scenario() -> dict[str, Any]:
        async with AgentRig(live_server, project_key, fake), \
                httpx.AsyncClient(base_url=live_server.url, timeout=30) as http:
            mine, theirs = {"x-api-key": project_key[1]}, {"x-api-key": other_key}
            bad = await http.post("/api/agent-runs", headers=mine, json={"agent": "nobody", "input": "hi"})
            assert bad.status_code == 404
            assert "no agent 'nobody'" in bad.json()["error"]["message"]
            started = await http.post("/api/agent-runs", headers=mine, json={
                "agent": "support", "input": "Refund A1001", "spec": spec, "multi_turn": False})
            assert started.status_code == 201, started.text
            run_id = started.json()["run_id"]
            assert (await http.get(f"/api/agent-runs/{run_id}", headers=theirs)).status_code == 404
            assert (await http.post(f"/api/agent-runs/{run_id}/cancel", headers=theirs)).status_code == 404
            listed = (await http.get("/api/agent-runs", headers=theirs)).json()["runs"]
            assert listed == []
            # listed at once (Temporal's own list may not show it yet), and filtered like the rest
            mine_now = (await http.get("/api/agent-runs", headers=mine)).json()["runs"]
            assert [r["run_id"] for r in mine_now] == [run_id]
            assert (mine_now[0]["agent"], mine_now[0]["trace_id"]) == ("support", s.trace_id_for(run_id))
            other_agent = (await http.get("/api/agent-runs", params={"agent": "triage"}, headers=mine)).json()
            assert other_agent["runs"] == []
            while True:
                run = (await http.get(f"/api/agent-runs/{run_id}", headers=mine)).json()
                if run["status"] in (s.COMPLETED, s.FAILED):
                    return run
                await asyncio.sleep(0.1)

    done = run(scenario())
    assert done["status"] == s.COMPLETED, done
    approval = done["approvals"][0]
    assert (approval["decision"], approval["timed_out"], approval["decided_by"]) == ("rejected", True,
                                                                                     "timeout policy")
    tools = {step["tool_call_id"]: step for step in done["steps"] if step["kind"] == "tool"}
    assert tools["call_refund"]["status"] == "rejected"
    assert "ToolResolutionError" in tools["call_policy"]["error"]
    assert "module 'examples.agents.nowhere' not found" in tools["call_policy"]["error"]
    assert tools["call_policy"]["attempt"] == 1  # a bad import path is not retried


def test_cancel_during_a_model_call_ends_the_run_cancelled(live_server: LiveServer, project_key: tuple[str, str],
                                                          fake: FakeLLMServer) -> None:
    """A call cut short by the cancellation is not a failed step, and nothing runs after it."""
    from neon.execute.replay import check_history

    fake.queue(FakeReply(text="This takes a while.", delay=3.0))

    async def scenario() -> tuple[dict[str, Any], str | None]:
        async with AgentRig(live_server, project_key, fake) as rig:
            run_id = (await rig.start("support", "What is the refund policy?"))["run_id"]
            await rig.wait(run_id, lambda r: any(st["kind"] == "llm" and st["status"] == "running"
                                                 for st in r["steps"]))
            await rig.runs.cancel(rig.project_id, run_id)
            cancelled = await rig.wait(run_id, lambda r: r["status"] == s.CANCELLED)
            assert rig.env is not None
            history = await rig.env.client.get_workflow_handle(run_id).fetch_history()
            return cancelled, await check_history(history)

    cancelled, problem = run(scenario())
    assert cancelled["error"] == "cancelled"
    llm = [step for step in cancelled["steps"] if step["kind"] == "llm"]
    assert [(step["status"], step["error"]) for step in llm] == [("cancelled", "cancelled")]
    assert len(fake.requests) == 1
    assert problem is None  # the cancelled run's history replays
