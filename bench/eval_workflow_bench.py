"""Eval runs as workflows against the local runner: the wall time of one eval run of 100 cases at concurrency 8.

A real `neon up` (chDB, SQLite, its Temporal dev server and in-process worker) with the fake LLM server (instant
echo replies) as the model. Two suites of the same 100 cases:

- `py-llm`: a Python suite whose target calls the fake LLM over HTTP (OpenAI chat completions);
- `agent-llm`: an agent-spec suite (each case a child `neon.agent_run` of one LLM step).

Each is started through the API (`POST /api/eval-runs/start`, completion seen through `GET /api/eval-runs/{id}`)
and the Python one also run by the local runner `neon eval` (a subprocess uploading to the same server); an
agent-spec suite runs only as a workflow (`neon eval` records its cases as errored), so it has no local figure.
Medians of `--repeat` runs; the overhead ratio is workflow wall time / local wall time.

    uv run python bench/eval_workflow_bench.py [--cases 100] [--concurrency 8] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from agent_bench import wait_ready  # beside this file: `neon up` with its Temporal worker ready

from neon.llm.fake import FakeLLMServer

ROOT = Path(__file__).resolve().parents[1]
NEON = shutil.which("neon") or str(Path(sys.executable).with_name("neon"))
AGENT = """
name: echo-bench
model: {provider: openai, name: gpt-4o-mini}
system_prompt: Repeat the message.
"""
SUITES = '''
import os

import httpx

from neon.evaluate import Case, Score, agent_spec, define_suite

CASES = [Case(input=f"case {{i}}", expected=f"case {{i}}", id=f"c{{i:03d}}") for i in range({cases})]


async def ask_llm(text):
    async with httpx.AsyncClient(timeout=30) as http:
        answer = await http.post(os.environ["OPENAI_BASE_URL"].rstrip("/") + "/chat/completions",
                                 headers={{"authorization": "Bearer fake"}},
                                 json={{"model": "gpt-4o-mini", "messages": [{{"role": "user", "content": text}}]}})
        return answer.json()["choices"][0]["message"]["content"]


def echoed(case, outcome):
    return Score("echoed", 1.0 if str(case.expected) in str(outcome.output) else 0.0)


echoed.name = "echoed"

define_suite("py-llm", agent=ask_llm, scorers=[echoed], cases=CASES)
define_suite("agent-llm", agent=agent_spec({spec!r}), scorers=[echoed], cases=CASES)
'''


def workflow_run(url: str, key: str, suite: str, concurrency: int, cases: int) -> float:
    started = time.perf_counter()
    answer = httpx.post(f"{url}/api/eval-runs/start", headers={"x-api-key": key}, timeout=30,
                        json={"suite": suite, "version": "wf", "concurrency": concurrency})
    answer.raise_for_status()
    run_id = answer.json()["id"]
    while True:
        run = httpx.get(f"{url}/api/eval-runs/{run_id}/progress", headers={"x-api-key": key}, timeout=30).json()
        if run["status"] in ("completed", "failed", "cancelled"):
            break
        time.sleep(0.1)
    wall = time.perf_counter() - started
    assert (run["status"], run["passed"]) == ("completed", cases), run
    return wall


def local_run(env: dict[str, str], evals: Path, suite: str, concurrency: int) -> float:
    started = time.perf_counter()
    done = subprocess.run([NEON, "eval", "--path", str(evals), "--suite", suite, "--version", "local",
                           "--concurrency", str(concurrency)], env=env, cwd=ROOT, capture_output=True, text=True,
                          check=False, timeout=600)
    wall = time.perf_counter() - started
    assert done.returncode == 0, done.stdout + done.stderr
    return wall


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, FakeLLMServer() as fake:
        home, evals = Path(tmp) / "home", Path(tmp) / "evals"
        home.mkdir()
        evals.mkdir()
        (evals / "echo-bench.yaml").write_text(AGENT)
        (evals / "eval_bench.py").write_text(SUITES.format(cases=args.cases, spec=str(evals / "echo-bench.yaml")))
        port = 3300 + os.getpid() % 500
        env = {k: v for k, v in os.environ.items() if not k.startswith("NEON_")} | {
            "NEON_HOME": str(home), "NEON_EVALS_PATH": str(evals), "OPENAI_BASE_URL": fake.openai_base_url,
            "OPENAI_API_KEY": "fake", "NEON_LOG_LEVEL": "warning", "PYTHONPATH": str(ROOT)}
        server = subprocess.Popen([NEON, "up", "--port", str(port)], env=env, cwd=ROOT,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            url = f"http://127.0.0.1:{port}"
            wait_ready(url, time.monotonic() + 120)
            key = json.loads((home / "credentials.json").read_text())["api_key"]
            cli_env = env | {"NEON_BASE_URL": url, "NEON_API_KEY": key}
            workflow_run(url, key, "py-llm", args.concurrency, args.cases)  # warm up: imports, first workflows
            figures: dict[str, list[float]] = {"py-llm workflow": [], "py-llm neon eval": [], "agent-llm workflow": []}
            for _ in range(args.repeat):
                figures["py-llm workflow"].append(workflow_run(url, key, "py-llm", args.concurrency, args.cases))
                figures["py-llm neon eval"].append(local_run(cli_env, evals, "py-llm", args.concurrency))
                figures["agent-llm workflow"].append(workflow_run(url, key, "agent-llm", args.concurrency,
                                                                  args.cases))
            medians = {name: statistics.median(values) for name, values in figures.items()}
            print(f"{args.cases} cases, concurrency {args.concurrency}, median of {args.repeat}:")
            for name, values in figures.items():
                print(f"  {name:<20} {medians[name]:6.2f} s   (runs: {', '.join(f'{v:.2f}' for v in values)})")
            ratio = medians["py-llm workflow"] / medians["py-llm neon eval"]
            print(f"  overhead ratio, py-llm workflow / neon eval: {ratio:.2f}×")
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=60)


if __name__ == "__main__":
    main()
