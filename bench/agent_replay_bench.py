"""Replaying a long run: the determinism check, the timeline build and `GET /api/agent-runs/{id}/replay`.

One run of 50 steps is recorded once — an agent whose (fake) model calls a tool 24 times, then answers, and an
output check: 25 LLM steps, 24 tool steps, one guardrail — on a real Temporal dev server and worker with a live
Neon over throwaway stores (the test rig). Then each is timed N times and the median and p95 reported:

- the Replayer check (`neon.execute.replay.check_history`), with one Replayer reused;
- the timeline build (`neon.execute.history.timeline_of`);
- the replay answer through HTTP (history fetch, check, timeline, blobs read back).

    uv run python bench/agent_replay_bench.py [--repeats 20]
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from neon.execute import parse_spec  # noqa: E402
from neon.execute.history import timeline_of  # noqa: E402
from neon.execute.replay import check_history, replayer  # noqa: E402
from neon.llm.fake import FakeLLMServer, FakeReply, FakeRequest, FakeToolCall  # noqa: E402
from neon_server.storage.analytics import open_analytics  # noqa: E402
from neon_server.storage.metadata import open_metadata  # noqa: E402
from server.tests.agent_rig import AgentRig, final  # noqa: E402
from server.tests.conftest import LiveServer, make_services  # noqa: E402

TOOL_CALLS = 24
AGENT = """
name: looper
model: {provider: openai, name: gpt-4o-mini}
system_prompt: Look the shipping policy up until you are sure, then answer.
tools:
  - name: lookup_policy
    description: a policy
    implementation: examples.agents.tools:lookup_policy
    parameters: {type: object, properties: {topic: {type: string}}, required: [topic]}
guardrails:
  output: [{type: max_length, chars: 2000}]
budgets: {max_steps: 60}
"""


def looping(request: FakeRequest) -> FakeReply:
    if request.assistant_turns < TOOL_CALLS:
        return FakeReply(text=f"Checking again ({request.assistant_turns + 1}).",
                         tool_calls=[FakeToolCall("lookup_policy", {"topic": "shipping"})])
    return FakeReply(text="Orders ship within 2 working days.")


async def timed(repeats: int, action: Callable[[], Awaitable[Any]]) -> tuple[float, float]:
    """(median, p95) in ms of `repeats` runs of `action`, after one unmeasured warm-up."""
    await action()
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        await action()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, int(len(samples) * 0.95))]


async def bench(repeats: int, home: Path) -> None:
    analytics = open_analytics(f"chdb://{home / 'chdb'}?database=b_{secrets.token_hex(4)}")
    services = make_services(home, analytics, open_metadata(f"sqlite:///{home / 'neon.db'}"))
    project = services.projects.create("replay-bench")
    _, key = services.keys.create(project.id)
    try:
        with LiveServer(services) as live, FakeLLMServer(reply=looping) as fake:
            async with AgentRig(live, (project.id, key), fake, specs={"looper": parse_spec(AGENT)}) as rig:
                assert rig.env is not None
                started = time.perf_counter()
                run = await rig.start("looper", "How fast do you ship?", multi_turn=False, stream=False)
                done = await rig.wait(run["run_id"], final, within=600)
                print(f"recorded: {done['usage']['steps']} counted steps, {len(done['steps'])} steps, "
                      f"status {done['status']}, in {time.perf_counter() - started:.1f} s")
                history = await rig.env.client.get_workflow_handle(run["run_id"]).fetch_history()
                print(f"history: {len(history.events)} events, {len(history.to_json()) / 1024:.0f} KiB as JSON")
                shared = replayer()

                async def check() -> None:
                    assert await check_history(history, using=shared) is None

                async def build() -> None:
                    assert len(timeline_of(history).steps) == 50

                async with httpx.AsyncClient(base_url=live.url, timeout=120) as client:
                    async def http() -> None:
                        answer = await client.get(f"/api/agent-runs/{run['run_id']}/replay",
                                                  headers={"x-api-key": key})
                        assert answer.status_code == 200, answer.text
                        assert len(answer.json()["steps"]) == 50

                    calls = len(fake.requests)
                    size = len((await client.get(f"/api/agent-runs/{run['run_id']}/replay",
                                                 headers={"x-api-key": key})).content)
                    print(f"replay answer: {size / 1024:.0f} KiB")
                    for name, action in (("Replayer check", check), ("timeline build", build),
                                         ("GET /replay (HTTP)", http)):
                        median, p95 = await timed(repeats, action)
                        print(f"{name:<20} median {median:8.1f} ms   p95 {p95:8.1f} ms   ({repeats} runs)")
                    assert len(fake.requests) == calls, "replay called the model"
    finally:
        services.stop_scoring()
        services.stop_writers()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="neon-replay-bench-") as home:
        asyncio.run(bench(args.repeats, Path(home)))


if __name__ == "__main__":
    main()
