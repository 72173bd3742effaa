"""End to end: the example suite run by `neon eval` (a real subprocess) against a live server, twice, then
`neon compare` failing on the worse version with a clear report; and runs started through the API."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from neon_server.runtime import Services
from neon_server.storage.analytics import AnalyticsDB
from neon_server.storage.metadata import MetadataStore
from server.tests.conftest import LiveServer, make_services

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "evals"
REFUND_CASES = ["refund-1", "refund-2", "refund-3"]


@pytest.fixture
def metadata_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'neon.db'}"


def neon_cli(server: LiveServer, key: str, *args: str, variant: str = "v1",
             cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NEON_BASE_URL": server.url, "NEON_API_KEY": key, "SUPPORT_BOT_VARIANT": variant,
           "NEON_HOME": str(cwd or Path.cwd())}
    return subprocess.run([sys.executable, "-m", "neon.cli.main", *args], capture_output=True, text=True, env=env,
                          timeout=120, cwd=cwd)


def wait_for(predicate: Any, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def test_eval_twice_then_compare_fails_on_the_regression(live_server: LiveServer, project_key: tuple[str, str],
                                                         analytics: AnalyticsDB, tmp_path: Path) -> None:
    key = project_key[1]
    headers = {"x-api-key": key}
    main = neon_cli(live_server, key, "eval", "--path", str(EXAMPLES), "--suite", "support-bot", "--version",
                    "main", "--concurrency", "3", cwd=tmp_path)
    assert main.returncode == 0, main.stderr
    assert "10/10 passed" in main.stdout
    candidate = neon_cli(live_server, key, "eval", "--path", str(EXAMPLES), "--version", "pr-123",
                         variant="v2", cwd=tmp_path)
    assert candidate.returncode == 0, candidate.stderr
    assert "7/10 passed, 3 failed" in candidate.stdout

    runs = httpx.get(f"{live_server.url}/api/eval-runs", headers=headers, params={"suite": "support-bot"}).json()
    by_version = {r["version"]: r for r in runs["runs"]}
    assert set(by_version) == {"main", "pr-123"}
    pr = by_version["pr-123"]
    assert (pr["status"], pr["total"], pr["passed"], pr["failed"], pr["errored"]) == ("completed", 10, 7, 3, 0)
    assert pr["summary"]["scorers"]["contains_expected"]["mean"] == pytest.approx(0.7)
    assert pr["duration_ms"] > 0
    detail = httpx.get(f"{live_server.url}/api/eval-runs/{pr['id']}", headers=headers).json()
    results = {r["case_id"]: r for r in detail["results"]}
    assert len(results) == 10
    assert results["refund-1"]["output"] == "Please contact our support team about that."
    assert results["balance-1"]["tools"] == ["lookup_balance"]
    assert not results["refund-1"]["passed"]

    # each case's trace reached the server through the OTLP exporter, tagged, and its scores link to it
    trace_id = results["balance-1"]["trace_id"]
    trace = wait_for(lambda: _get_trace(live_server, headers, trace_id))
    assert {"eval", "suite:support-bot", "version:pr-123", "case:balance-1"} <= set(trace["trace"]["tags"])
    assert sorted(s["name"] for s in trace["spans"]) == ["eval:support-bot", "lookup_balance", "plan"]
    scores = httpx.get(f"{live_server.url}/api/scores", headers=headers,
                       params={"eval_run_id": pr["id"], "dataset_item_id": "refund-2"}).json()["scores"]
    assert {(s["name"], s["value"], s["source"]) for s in scores} == {
        ("contains_expected", 0.0, "eval"), ("expected_tools", 0.0, "eval")}

    report_md, report_json = tmp_path / "report.md", tmp_path / "report.json"
    compare = neon_cli(live_server, key, "compare", "--baseline", "main", "--candidate", "pr-123", "--threshold",
                       "0.95", "--markdown", str(report_md), "--json", str(report_json), cwd=tmp_path)
    assert compare.returncode == 1, compare.stdout + compare.stderr
    assert "pr-123 vs main: REGRESSION" in compare.stdout
    assert "contains_expected  1.000     0.700      -0.300" in compare.stdout
    markdown = report_md.read_text()
    assert "❌ Neon eval: `pr-123` vs `main` — regression" in markdown
    assert all(f"`{case}`" in markdown for case in REFUND_CASES)
    data = json.loads(report_json.read_text())
    assert data["regressed"] is True
    [suite] = data["suites"]
    scorers = {s["name"]: s for s in suite["scorers"]}
    assert scorers["contains_expected"]["regressed"] is True
    assert scorers["brief"]["regressed"] is False
    assert sorted(w["case_id"] for w in scorers["expected_tools"]["worse"]) == REFUND_CASES
    # 3 of 10 paired cases fell by 1: the interval lies at or below zero (a resample can miss all three)
    assert scorers["contains_expected"]["ci_low"] < -0.1
    assert scorers["contains_expected"]["ci_high"] <= 0

    same = neon_cli(live_server, key, "compare", "--baseline", "main", "--candidate", "main", cwd=tmp_path)
    assert same.returncode == 0, same.stdout + same.stderr
    assert "no regression" in same.stdout
    lenient = neon_cli(live_server, key, "compare", "--baseline", "main", "--candidate", "pr-123", "--threshold",
                       "0.6", cwd=tmp_path)
    assert lenient.returncode == 0, lenient.stdout

    # the GitHub Action's own scripts, as a runner would run them on pull request 123
    outputs = run_action(tmp_path, {"inputs.base-url": live_server.url, "inputs.api-key": key,
                                    "inputs.baseline": "main", "inputs.threshold": "0.95", "inputs.suite": "",
                                    "inputs.candidate": "", "github.event.pull_request.number": "123",
                                    "github.sha": "f" * 40}, steps=("version", "compare"), expect_exit=1)
    assert (outputs["candidate"], outputs["regressed"]) == ("pr-123", "true")
    assert "regression" in (tmp_path / "summary.md").read_text()


def run_action(tmp_path: Path, values: dict[str, str], *, steps: tuple[str, ...],
               expect_exit: int) -> dict[str, str]:
    """Run steps of the repository's action.yml with bash, its `${{ … }}` expressions filled from `values`."""
    import yaml

    action = yaml.safe_load((EXAMPLES.parents[1] / "action.yml").read_text())
    by_id = {step["id"]: step for step in action["runs"]["steps"]}
    outputs: dict[str, str] = {}
    for step_id in steps:
        step = by_id[step_id]
        output_file = tmp_path / f"{step_id}.out"
        output_file.write_text("")
        env = {**os.environ, "GITHUB_OUTPUT": str(output_file), "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
               "RUNNER_TEMP": str(tmp_path), "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
        for name, expression in step.get("env", {}).items():
            inner = str(expression).removeprefix("${{").removesuffix("}}").strip()
            env[name] = outputs[inner.rsplit(".", 1)[1]] if inner.startswith("steps.") else values[inner]
        done = subprocess.run(["bash", "-e", "-c", step["run"]], env=env, capture_output=True, text=True,
                              timeout=120, cwd=tmp_path)
        assert done.returncode == (expect_exit if step_id == steps[-1] else 0), done.stdout + done.stderr
        for line in output_file.read_text().splitlines():
            name, _, value = line.partition("=")
            outputs[name] = value
    return outputs


def _get_trace(server: LiveServer, headers: dict[str, str], trace_id: str) -> dict[str, Any] | None:
    response = httpx.get(f"{server.url}/api/traces/{trace_id}", headers=headers)
    if response.status_code != 200:
        return None
    data: dict[str, Any] = response.json()
    return data if len(data["spans"]) == 3 else None


def test_cli_errors_name_what_was_wrong(live_server: LiveServer, project_key: tuple[str, str],
                                        tmp_path: Path) -> None:
    key = project_key[1]
    missing = neon_cli(live_server, key, "eval", "--path", str(tmp_path / "nope"), cwd=tmp_path)
    assert (missing.returncode, missing.stderr.strip()) == (2, f"neon: eval path {str(tmp_path / 'nope')!r} "
                                                               "does not exist")
    no_suite = neon_cli(live_server, key, "eval", "--path", str(EXAMPLES), "--suite", "other", cwd=tmp_path)
    assert no_suite.returncode == 2
    assert "no suite named 'other' (found: support-bot)" in no_suite.stderr
    (tmp_path / "empty").mkdir()
    empty = neon_cli(live_server, key, "eval", "--path", str(tmp_path / "empty"), cwd=tmp_path)
    assert empty.returncode == 2
    assert "no suites found" in empty.stderr
    nothing = neon_cli(live_server, key, "compare", "--baseline", "main", "--candidate", "pr-1", cwd=tmp_path)
    assert nothing.returncode == 2
    assert "no completed run of any suite at version 'main'" in nothing.stderr
    bad = neon_cli(live_server, key, "compare", "--baseline", "a", "--candidate", "b", "--threshold", "1.5",
                   cwd=tmp_path)
    assert bad.returncode == 2
    assert "threshold must be a number in (0, 1]" in bad.stderr
    wrong_key = neon_cli(live_server, "neon_sk_wrong", "eval", "--path", str(EXAMPLES), cwd=tmp_path)
    assert wrong_key.returncode == 1
    assert "could not record the run" in wrong_key.stderr


# ---------------------------------------------------------------- runs started through the API
@pytest.fixture
def launching_server(tmp_path: Path, analytics: AnalyticsDB, metadata: MetadataStore) -> Iterator[LiveServer]:
    services: Services = make_services(tmp_path, analytics, metadata, evals_path=EXAMPLES)
    with LiveServer(services) as server:
        yield server
    services.eval_launcher.close()
    services.stop_writers()


def test_runs_started_through_the_api(launching_server: LiveServer) -> None:
    services = launching_server.services
    project = services.projects.create("launch")
    _key, secret = services.keys.create(project.id)
    headers = {"x-api-key": secret}
    started = httpx.post(f"{launching_server.url}/api/eval-runs/start", headers=headers,
                         json={"suite": "support-bot", "version": "nightly", "concurrency": 2})
    assert started.status_code == 202, started.text
    assert (started.json()["status"], started.json()["origin"]) == ("queued", "api")
    run_id = started.json()["id"]
    broken = httpx.post(f"{launching_server.url}/api/eval-runs/start", headers=headers,
                        json={"suite": "no-such-suite", "version": "nightly"}).json()["id"]

    def finished(run: str) -> dict[str, Any] | None:
        data: dict[str, Any] = httpx.get(f"{launching_server.url}/api/eval-runs/{run}", headers=headers).json()
        return data if data["status"] in ("completed", "failed") else None

    done = wait_for(lambda: finished(run_id), timeout=90)
    assert (done["status"], done["total"], done["passed"]) == ("completed", 10, 10), done["error"]
    failed = wait_for(lambda: finished(broken), timeout=90)
    assert failed["status"] == "failed"
    assert "no suite named 'no-such-suite'" in failed["error"]
    assert "exited with code 2" in failed["error"]
    wait_for(lambda: services.eval_launcher.running() == [])  # the processes exit after closing their runs


def test_a_run_past_its_time_limit_is_stopped_and_marked_failed(tmp_path: Path, analytics: AnalyticsDB,
                                                                metadata: MetadataStore) -> None:
    evals = tmp_path / "evals"
    evals.mkdir()
    (evals / "eval_slow.py").write_text(
        "import time\nfrom neon.evaluate import Case, define_suite\n"
        "def agent(x):\n    print('agent started', flush=True)\n    time.sleep(60)\n"
        "define_suite('slow', agent=agent, cases=[Case(input=1)])\n")
    services = make_services(tmp_path, analytics, metadata, evals_path=evals, eval_run_timeout_seconds=3)
    with LiveServer(services) as server:
        project = services.projects.create("slow")
        _key, secret = services.keys.create(project.id)
        headers = {"x-api-key": secret}
        run = httpx.post(f"{server.url}/api/eval-runs/start", headers=headers,
                         json={"suite": "slow", "version": "-v"}).json()  # a '-' version stays a value

        def closed() -> dict[str, Any] | None:
            data: dict[str, Any] = httpx.get(f"{server.url}/api/eval-runs/{run['id']}", headers=headers).json()
            return data if data["status"] == "failed" else None

        failed = wait_for(closed, timeout=30)
    services.eval_launcher.close()
    services.stop_writers()
    assert failed["error"].startswith("stopped after 3 s (eval_run_timeout_seconds)")
    assert failed["version"] == "-v"
    assert (tmp_path / "eval-runs" / f"{run['id']}.log").exists()
