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
    assert second.tool_results and "2026-11-20" in str(second.tool_results[0])
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
