"""Durable agent runs: throughput and the cost of durability per step, in embedded mode.

A real `neon up` (chDB, SQLite, the Temporal dev server it supervises, its in-process worker) runs a 5-step agent
— LLM → tool → LLM → tool → LLM — against the fake LLM server (instant replies). Measured:

- runs per second at several concurrencies (runs started through the API, completion seen through the API);
- one run's latency at concurrency 1, against the same 5 steps called directly (the same LLM client and tool
  function, no Temporal, no blobs, no spans): the difference per step is what durability costs.

    uv run python bench/agent_bench.py [--runs 40] [--concurrency 1 4 16]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from neon.llm.fake import FakeLLMServer, FakeReply, FakeRequest, FakeToolCall

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
NEON = shutil.which("neon") or str(Path(sys.executable).with_name("neon"))
AGENT = """
name: bench
model: {provider: openai, name: gpt-4o-mini}
system_prompt: Answer with the shipping policy.
tools:
  - name: lookup_policy
    description: a policy
    implementation: examples.agents.tools:lookup_policy
    parameters: {type: object, properties: {topic: {type: string}}, required: [topic]}
budgets: {max_steps: 10}
"""


def five_steps(request: FakeRequest) -> FakeReply:
    """Two tool calls, then an answer: LLM, tool, LLM, tool, LLM."""
    if request.assistant_turns < 2:
        return FakeReply(tool_calls=[FakeToolCall("lookup_policy", {"topic": "shipping"})])
    return FakeReply(text="Orders ship within 2 working days.")


def wait_ready(url: str, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            health = httpx.get(f"{url}/api/health", timeout=2).json()
            if health["dependencies"].get("temporal", {}).get("status") == "ok" and \
                    health.get("workers", {}).get("status") == "ok":
                return
        except (httpx.TransportError, ValueError, KeyError):
            pass
        time.sleep(0.1)
    raise SystemExit("neon up did not get ready")


_concurrency = [1]


def concurrency_hint() -> int:
    return _concurrency[0]


def one_run(url: str, key: str) -> float:
    started = time.perf_counter()
    answer = httpx.post(f"{url}/api/agent-runs", headers={"x-api-key": key}, timeout=30,
                        json={"agent": "bench", "input": "shipping?", "multi_turn": False, "stream": False})
    answer.raise_for_status()
    run_id = answer.json()["run_id"]
    while True:
        run = httpx.get(f"{url}/api/agent-runs/{run_id}", headers={"x-api-key": key}, timeout=30).json()
        if run["status"] in ("completed", "failed", "stopped"):
            assert run["status"] == "completed", run
            return time.perf_counter() - started
        time.sleep(0.05 if concurrency_hint() == 1 else 0.2)  # polling is load too: the run's query needs the worker


def direct_run(fake: FakeLLMServer) -> float:
    """The same five steps without durability: the LLM client (one attempt) and the tool function, in order."""
    from examples.agents.tools import lookup_policy
    from neon.llm import ToolDefinition

    provider = fake.provider("openai", model="gpt-4o-mini", max_retries=0)
    schema = {"type": "object", "properties": {"topic": {"type": "string"}}}
    tools = [ToolDefinition("lookup_policy", "a policy", schema)]

    async def go() -> float:
        started = time.perf_counter()
        messages: list[dict[str, Any]] = [{"role": "system", "content": "Answer with the shipping policy."},
                                          {"role": "user", "content": "shipping?"}]
        while True:
            reply = await provider.complete(messages, tools=tools)
            messages.append(reply.message)
            if not reply.tool_calls:
                return time.perf_counter() - started
            for call in reply.tool_calls:
                result = await lookup_policy(**call.arguments)
                messages.append({"role": "tool", "tool_call_id": call.id, "name": call.name, "content": result})

    return asyncio.run(go())


def main() -> None:
    from neon.tracing.config import disable_autoconfigure

    disable_autoconfigure()  # the direct baseline's LLM calls make spans for nobody
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, FakeLLMServer(reply=five_steps) as fake:
        home, agents = Path(tmp) / "home", Path(tmp) / "agents"
        home.mkdir()
        agents.mkdir()
        (agents / "bench.yaml").write_text(AGENT)
        port = 3300 + os.getpid() % 500
        env = {k: v for k, v in os.environ.items() if not k.startswith("NEON_")} | {
            "NEON_HOME": str(home), "NEON_AGENTS_PATH": str(agents), "OPENAI_BASE_URL": fake.openai_base_url,
            "OPENAI_API_KEY": "fake", "NEON_LOG_LEVEL": "warning", "PYTHONPATH": str(ROOT)}
        started = time.monotonic()
        server = subprocess.Popen([NEON, "up", "--port", str(port)], env=env, cwd=ROOT,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            url = f"http://127.0.0.1:{port}"
            wait_ready(url, started + 120)
            print(f"neon up to a ready worker: {time.monotonic() - started:.1f} s")
            key = json.loads((home / "credentials.json").read_text())["api_key"]
            one_run(url, key)  # warm up
            direct = [direct_run(fake) for _ in range(20)]
            print(f"5 steps called directly: median {statistics.median(direct) * 1e3:.1f} ms")
            for concurrency in args.concurrency:
                _concurrency[0] = concurrency
                t0 = time.perf_counter()
                with ThreadPoolExecutor(concurrency) as pool:
                    latencies = list(pool.map(lambda _: one_run(url, key), range(args.runs)))
                wall = time.perf_counter() - t0
                print(f"concurrency {concurrency:>3}: {args.runs / wall:6.1f} runs/s, "
                      f"run latency median {statistics.median(latencies) * 1e3:.0f} ms, "
                      f"p95 {sorted(latencies)[int(len(latencies) * 0.95) - 1] * 1e3:.0f} ms")
                if concurrency == 1:
                    per_step = (statistics.median(latencies) - statistics.median(direct)) / 5
                    print(f"  durability cost per step (run latency − direct) / 5: {per_step * 1e3:.0f} ms")
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=60)


if __name__ == "__main__":
    main()
