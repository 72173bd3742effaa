"""Durable runs through real processes: `neon up`, `neon worker`, the Temporal dev server it supervises and the
fake LLM server. A worker killed in the middle of a tool call, the dev server killed mid-run, and a run waiting
for an approval across a restart of `neon up` — each run finishes, no completed LLM call is made again and no
span is written twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from neon.llm.fake import FakeLLMServer, FakeReply, FakeToolCall
from tests.e2e.conftest import NEON, NeonProcess, free_port

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # the example's stand-in model: examples.agents.fake_llm
    sys.path.insert(0, str(ROOT))
DURABLE_AGENT = """
name: durable
model: {provider: openai, name: gpt-4o-mini}
system_prompt: You run one long job, then report.
tools:
  - name: slow_step
    description: A long job.
    implementation: tests.e2e.agent_tools:slow_step
    parameters: {type: object, properties: {job: {type: string}}, required: [job]}
    timeout_seconds: 4          # a call whose worker died is retried after this long
    retry: {max_attempts: 5, initial_interval_seconds: 0.5}
"""


@pytest.fixture
def fake() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as server:
        yield server


def env_for(home: Path, fake: FakeLLMServer, extra: dict[str, str] | None = None) -> dict[str, str]:
    return {"OPENAI_BASE_URL": fake.openai_base_url, "OPENAI_API_KEY": "fake", "PYTHONPATH": str(ROOT),
            "NEON_TEST_MARK": str(home.parent / "mark"), "NEON_TEST_RELEASE": str(home.parent / "release"),
            **(extra or {})}


def key_of(home: Path) -> str:
    return str(json.loads((home / "credentials.json").read_text())["api_key"])


def api(server: NeonProcess, method: str, path: str, **kwargs: Any) -> Any:
    answer = httpx.request(method, f"{server.url}{path}", headers={"x-api-key": key_of(server.home)}, timeout=30,
                           **kwargs)
    assert answer.status_code < 400, answer.text
    return answer.json()


def wait_run(server: NeonProcess, run_id: str, done: Callable[[dict[str, Any]], bool],
             within: float = 90) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while True:
        assert server.proc.poll() is None, f"neon up exited:\n{server.stderr}"
        answer = httpx.get(f"{server.url}/api/agent-runs/{run_id}", headers={"x-api-key": key_of(server.home)},
                           timeout=30)
        run = answer.json() if answer.status_code == 200 else {"status": f"HTTP {answer.status_code}"}
        if done(run):
            return run
        assert time.monotonic() < deadline, f"run {run_id} never got there: {run}\n{server.stderr[-3000:]}"
        time.sleep(0.1)


def wait_ready(server: NeonProcess, within: float = 120) -> None:
    """Healthy, with Temporal up (and its worker running, when it has one)."""
    server.wait_healthy(timeout=within)
    deadline = time.monotonic() + within
    while True:
        health = httpx.get(f"{server.url}/api/health", timeout=10).json()
        if health["dependencies"].get("temporal", {}).get("status") == "ok":
            return
        assert time.monotonic() < deadline, f"Temporal never ready: {health}"
        time.sleep(0.1)


def spans_of(server: NeonProcess, trace_id: str) -> list[dict[str, Any]]:
    spans: list[dict[str, Any]] = api(server, "GET", f"/api/traces/{trace_id}")["spans"]
    return spans


class Worker:
    def __init__(self, home: Path, env: dict[str, str]) -> None:
        clean = {k: v for k, v in os.environ.items() if not k.startswith("NEON_")}
        self.log = home.parent / f"worker-{time.monotonic_ns()}.log"
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen([NEON, "worker", "--agents", str(home.parent / "agents")],
                                         env={**clean, "NEON_HOME": str(home), **env}, stdout=out,
                                         stderr=subprocess.STDOUT, cwd=ROOT)

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)


def test_a_worker_killed_during_a_tool_call_resumes_on_another(spawn: type[NeonProcess], neon_home: Path,
                                                               fake: FakeLLMServer) -> None:
    agents = neon_home.parent / "agents"
    agents.mkdir()
    (agents / "durable.yaml").write_text(DURABLE_AGENT)
    fake.queue(FakeReply(text="Starting the job.", tool_calls=[FakeToolCall("slow_step", {"job": "j1"}, id="c1")]),
               FakeReply(text="The job is done."))
    env = env_for(neon_home, fake)
    server = spawn(neon_home, free_port(), env={**env, "NEON_AGENT_WORKER": "false", "NEON_AGENTS_PATH": str(agents)})
    wait_ready(server)
    first = Worker(neon_home, env)
    try:
        run = api(server, "POST", "/api/agent-runs", json={"agent": "durable", "input": "run it",
                                                            "multi_turn": False})
        mark = neon_home.parent / "mark"
        deadline = time.monotonic() + 60
        while not (mark.exists() and mark.read_text().strip()):
            assert time.monotonic() < deadline, f"the tool never started:\n{first.log.read_text()}"
            time.sleep(0.05)
        first.kill()  # mid tool call: the LLM call before it is done and recorded
        assert len(fake.requests) == 1
        (neon_home.parent / "release").touch()
        second = Worker(neon_home, env)
        try:
            done = wait_run(server, run["run_id"], lambda r: r["status"] in ("completed", "failed"))
        finally:
            second.kill()
    finally:
        if first.proc.poll() is None:
            first.kill()
    assert done["status"] == "completed", done
    assert done["answer"] == "The job is done."
    assert len(fake.requests) == 2  # the first LLM call was not made again
    attempts = mark.read_text().split("\n")
    assert len([line for line in attempts if line]) == 2  # the tool ran again, on the second worker
    tool = next(step for step in done["steps"] if step["kind"] == "tool")
    assert tool["attempt"] == 2
    assert str(second.proc.pid) in tool["summary"]
    spans = spans_of(server, run["trace_id"])
    assert Counter(span["span_id"] for span in spans).most_common(1)[0][1] == 1
    assert sorted(span["span_type"] for span in spans) == ["agent", "generation", "generation", "tool"]
    trace = api(server, "GET", f"/api/traces/{run['trace_id']}")["trace"]
    assert trace["span_count"] == 4  # and the rollup counted each once


def test_an_approval_waits_across_a_restart_of_neon_up(spawn: type[NeonProcess], neon_home: Path) -> None:
    from examples.agents.fake_llm import support_model

    with FakeLLMServer(reply=support_model) as fake:
        port = free_port()  # the same address after the restart: runs reach Neon at the URL they started with
        env = {**env_for(neon_home, fake), "NEON_AGENTS_PATH": str(ROOT / "examples" / "agents")}
        server = spawn(neon_home, port, env=env)
        wait_ready(server)
        cli_env = {k: v for k, v in os.environ.items() if not k.startswith("NEON_")} | {"NEON_HOME": str(neon_home)}
        started = subprocess.run([NEON, "agent", "run", "support", "--input", "Please refund order A1001",
                                  "--follow"], env=cli_env, capture_output=True, text=True, timeout=120)
        assert started.returncode == 3, started.stdout + started.stderr  # waiting for an approval
        assert "waiting for approval: issue_refund" in started.stdout
        run_id = started.stdout.split()[1]
        server.stop()
        assert server.proc.returncode == 0, server.stderr

        again = spawn(neon_home, port, env=env)
        wait_ready(again)
        listed = subprocess.run([NEON, "agent", "approvals"], env=cli_env, capture_output=True, text=True,
                                timeout=60)
        assert run_id in listed.stdout, listed.stdout + listed.stderr
        step = listed.stdout.split()[1]
        decided = subprocess.run([NEON, "agent", "approve", run_id, step, "--reason", "arrived broken", "--by",
                                  "ada"], env=cli_env, capture_output=True, text=True, timeout=60)
        assert decided.returncode == 0, decided.stdout + decided.stderr
        done = wait_run(again, run_id, lambda r: r["status"] in ("waiting", "completed", "failed"))
        assert done["status"] == "waiting", done  # answered; open for the next message
        assert done["answer"].startswith("Done: refund R-A1001-3990")
        approval = done["approvals"][0]
        assert (approval["decision"], approval["decided_reason"]) == ("approved", "arrived broken")
        assert approval["decided_by"].startswith("ada (key neon_sk_")
        spans = spans_of(again, done["trace_id"])
        recorded = next(span for span in spans if span["name"] == "approval issue_refund")
        assert recorded["status"] == "ok"


def test_the_dev_server_killed_mid_run_is_restarted_and_the_run_finishes(spawn: type[NeonProcess],
                                                                        neon_home: Path) -> None:
    from examples.agents.fake_llm import support_model

    with FakeLLMServer(reply=support_model) as fake:
        env = {**env_for(neon_home, fake), "NEON_AGENTS_PATH": str(ROOT / "examples" / "agents")}
        server = spawn(neon_home, free_port(), env=env)
        wait_ready(server)
        health = httpx.get(f"{server.url}/api/health", timeout=10).json()
        pid = health["dependencies"]["temporal"]["pid"]
        run = api(server, "POST", "/api/agent-runs", json={"agent": "support", "input": "Where is order A1002?"})
        wait_run(server, run["run_id"], lambda r: any(st["kind"] == "tool" for st in r.get("steps", [])))
        os.kill(pid, signal.SIGKILL)
        done = wait_run(server, run["run_id"], lambda r: r["status"] in ("waiting", "completed", "failed"),
                        within=120)
        assert done["status"] == "waiting", done
        assert "A1002" in done["answer"]
        after = httpx.get(f"{server.url}/api/health", timeout=10).json()["dependencies"]["temporal"]
        assert after["restarts"] >= 1
        assert after["pid"] != pid
