"""Record the agent-run histories that `sdk/tests/test_agent_replay.py` replays (the determinism check CI runs).

    uv run python -m server.tests.record_histories            # every scenario
    uv run python -m server.tests.record_histories refund_approved multi_turn

Each scenario drives the support example agent (examples/agents/support.yaml) through a real Temporal dev
server, a real worker and a live Neon over throwaway stores, with the example's stand-in model
(examples/agents/fake_llm.py) or scripted replies, and saves the finished run's history as
`sdk/tests/histories/<scenario>.json`. Re-record after a deliberate change to the workflow (docs/agents.md).
"""

from __future__ import annotations

import asyncio
import secrets
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from examples.agents.fake_llm import support_model
from neon.execute import load_spec
from neon.execute import shared as s
from neon.llm.fake import FakeLLMServer, FakeReply
from neon_server.storage.analytics import open_analytics
from neon_server.storage.metadata import open_metadata
from server.tests.agent_rig import EXAMPLES, ROOT, AgentRig, final
from server.tests.conftest import LiveServer, make_services

HISTORIES = ROOT / "sdk" / "tests" / "histories"
Scenario = Callable[[AgentRig, FakeLLMServer], Awaitable[str]]  # drives one run to its end; returns its id


def awaiting(run: dict[str, Any]) -> bool:
    return bool(run["status"] == s.AWAITING_APPROVAL)


async def tool_then_answer(rig: AgentRig, fake: FakeLLMServer) -> str:
    started = await rig.start("support", "Where is my order A1001?", multi_turn=False)
    await rig.wait(started["run_id"], final)
    return str(started["run_id"])


async def _refund(rig: AgentRig, approved: bool) -> str:
    started = await rig.start("support", "Please refund order A1001, it arrived broken", multi_turn=False)
    run_id = str(started["run_id"])
    waiting = await rig.wait(run_id, awaiting)
    call = waiting["approvals"][0]["call_id"]
    await rig.runs.decide(rig.project_id, run_id, call, approved=approved, by="ada",
                          reason="broken on arrival" if approved else "outside the refund window")
    await rig.wait(run_id, final)
    return run_id


async def refund_approved(rig: AgentRig, fake: FakeLLMServer) -> str:
    return await _refund(rig, True)


async def refund_rejected(rig: AgentRig, fake: FakeLLMServer) -> str:
    return await _refund(rig, False)


async def approval_timeout(rig: AgentRig, fake: FakeLLMServer) -> str:
    """Nobody decides within the spec's approval timeout (shortened to a second): its policy rejects the call."""
    spec = load_spec(EXAMPLES / "support.yaml").to_dict()
    spec["approval"]["timeout"] = 1.0
    started = await rig.start("support", "Please refund order A1002", spec=spec, multi_turn=False)
    await rig.wait(started["run_id"], final)
    return str(started["run_id"])


async def card_redacted(rig: AgentRig, fake: FakeLLMServer) -> str:
    started = await rig.start("support", "My card 4111 1111 1111 1111 was charged: what is your refund policy?",
                              multi_turn=False)
    await rig.wait(started["run_id"], final)
    return str(started["run_id"])


async def multi_turn(rig: AgentRig, fake: FakeLLMServer) -> str:
    started = await rig.start("support", "Where is my order A1001?")
    run_id = str(started["run_id"])
    await rig.wait(run_id, lambda r: r["status"] == s.WAITING)
    await rig.runs.send_message(rig.project_id, run_id, "What is your refund policy?", "ada")
    await rig.wait(run_id, lambda r: r["status"] == s.WAITING and r["turn"] == 2)
    await rig.runs.signal(rig.project_id, run_id, s.CLOSE)
    await rig.wait(run_id, lambda r: r["status"] == s.COMPLETED)
    return run_id


async def budget_stop(rig: AgentRig, fake: FakeLLMServer) -> str:
    spec = load_spec(EXAMPLES / "support.yaml").to_dict()
    spec["budgets"]["max_steps"] = 2  # the LLM call and the lookup: the second LLM call is refused
    started = await rig.start("support", "Where is my order A1002?", spec=spec, multi_turn=False)
    await rig.wait(started["run_id"], final)
    return str(started["run_id"])


async def llm_failure(rig: AgentRig, fake: FakeLLMServer) -> str:
    fake.queue(FakeReply(status=400, error_message="context_length_exceeded: the conversation is too long"))
    started = await rig.start("support", "Where is my order A1003?", multi_turn=False)
    await rig.wait(started["run_id"], final)
    return str(started["run_id"])


def waiting_after(turns: int) -> Callable[[dict[str, Any]], bool]:
    return lambda run: bool(run["status"] == s.WAITING and run["turn"] == turns)


async def continued_as_new(rig: AgentRig, fake: FakeLLMServer) -> str:
    """Five turns on a dev server that suggests continue-as-new early: the saved history is the latest one."""
    questions = ["Where is my order A1001?", "What is your refund policy?"]
    started = await rig.start("support", questions[0])
    run_id = str(started["run_id"])
    for turn in range(1, 5):
        await rig.wait(run_id, waiting_after(turn))
        await rig.runs.send_message(rig.project_id, run_id, questions[turn % 2], "ada")
    done = await rig.wait(run_id, waiting_after(5))
    assert done["earlier_step_count"] > 0, "the run did not continue as new"
    await rig.runs.signal(rig.project_id, run_id, s.CLOSE)
    await rig.wait(run_id, lambda r: r["status"] == s.COMPLETED)
    return run_id


SCENARIOS: dict[str, Scenario] = {scenario.__name__: scenario for scenario in (
    tool_then_answer, refund_approved, refund_rejected, approval_timeout, card_redacted, multi_turn, budget_stop,
    llm_failure, continued_as_new)}
# Scenarios that need a dev server configured otherwise than the rest
DEV_SERVER_ARGS = {"continued_as_new": ("--dynamic-config-value", "limit.historyCount.suggestContinueAsNew=40")}


async def record(names: list[str], folder: Path, home: Path) -> None:
    analytics = open_analytics(f"chdb://{home / 'chdb'}?database=t_{secrets.token_hex(4)}")
    metadata = open_metadata(f"sqlite:///{home / 'neon.db'}")
    services = make_services(home, analytics, metadata)
    project = services.projects.create("histories")
    _key, secret = services.keys.create(project.id)
    try:
        with LiveServer(services) as live, FakeLLMServer(reply=support_model) as fake:
            for args in dict.fromkeys(DEV_SERVER_ARGS.get(name, ()) for name in names):
                async with AgentRig(live, (project.id, secret), fake, dev_server_args=args) as rig:
                    assert rig.env is not None
                    for name in (n for n in names if DEV_SERVER_ARGS.get(n, ()) == args):
                        run_id = await SCENARIOS[name](rig, fake)
                        history = await rig.env.client.get_workflow_handle(run_id).fetch_history()
                        (folder / f"{name}.json").write_text(history.to_json() + "\n")
                        print(f"{name}: {len(history.events)} events -> {folder / name}.json", flush=True)
    finally:
        services.stop_scoring()
        services.stop_writers()


def main() -> None:
    names = sys.argv[1:] or list(SCENARIOS)
    unknown = [name for name in names if name not in SCENARIOS]
    if unknown:
        sys.exit(f"unknown scenario {', '.join(unknown)}; known: {', '.join(SCENARIOS)}")
    HISTORIES.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="neon-histories-") as home:
        asyncio.run(record(names, HISTORIES, Path(home)))


if __name__ == "__main__":
    main()
