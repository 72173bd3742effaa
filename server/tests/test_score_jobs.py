"""Score jobs over real HTTP, chDB and SQLite/PostgreSQL: traces ingested through /api/traces/ingest, chosen by a
filter, scored in the background by rule scorers and a judge (through FakeLLMServer), written idempotently; and
`neon score` (a real subprocess) doing the same from the command line."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from neon.cli.main import main
from neon.llm.fake import FakeLLMServer
from server.tests.conftest import LiveServer


def trace(name: str, output: str, *, question: str = "Where is my refund?", expected: str | None = None,
          tags: list[str] | None = None, agent_id: str = "support", status: str = "ok") -> dict[str, Any]:
    """A native-ingest trace: a root with input/output, an LLM call and a tool call."""
    body: dict[str, Any] = {
        "trace_id": secrets.token_hex(16), "name": name, "status": status, "agent_id": agent_id,
        "tags": tags or [], "input": {"question": question}, "output": output,
        "spans": [
            {"span_id": "llm", "name": "plan", "type": "generation", "model": "gpt-4o-mini", "input_tokens": 100,
             "output_tokens": 20, "duration_ms": 40, "output": "look up the order"},
            {"span_id": "tool", "name": "lookup_order", "type": "tool", "tool_name": "lookup_order",
             "duration_ms": 10, "input": {"order": 7}, "output": {"state": "refunded"}},
        ]}
    if expected is not None:
        body["metadata"] = {"expected": expected}
    return body


def ingest(server: LiveServer, key: str, traces: list[dict[str, Any]]) -> list[str]:
    response = httpx.post(f"{server.url}/api/traces/ingest", json={"traces": traces},
                          headers={"Authorization": f"Bearer {key}"}, timeout=30)
    assert response.status_code == 200, response.text
    ids: list[str] = response.json()["trace_ids"]
    return ids


def api(server: LiveServer, key: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
    return httpx.request(method, f"{server.url}{path}", headers={"Authorization": f"Bearer {key}"}, timeout=30,
                         **kwargs)


def wait_job(server: LiveServer, key: str, job_id: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job: dict[str, Any] = api(server, key, "GET", f"/api/score-jobs/{job_id}").json()
        if job["status"] in ("completed", "failed"):
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish: {job}")


def online_scores(server: LiveServer, key: str, **params: Any) -> list[dict[str, Any]]:
    response = api(server, key, "GET", "/api/scores", params={"source": "online", "limit": 1000, **params})
    assert response.status_code == 200, response.text
    scores: list[dict[str, Any]] = response.json()["scores"]
    return scores


SCORERS = [{"scorer": "contains", "args": {"needles": "refund", "name": "mentions_refund"}},
           {"scorer": "exact_match", "args": {"case_sensitive": False}},
           {"scorer": "latency_budget", "args": {"max_ms": 10_000}},
           {"scorer": "tool_selection", "args": {"expected": ["lookup_order"]}}]


def test_score_job_by_filter_writes_scores_and_a_rerun_replaces_them(live_server: LiveServer,
                                                                     project_key: tuple[str, str]) -> None:
    key = project_key[1]
    support = ingest(live_server, key, [
        trace("support", "Your refund was sent.", expected="your refund was sent."),
        trace("support", "Your refund is on its way.", tags=["vip"]),
        trace("support", "Please call us.", expected="Your refund was sent."),
    ])
    ingest(live_server, key, [trace("billing", "Refund sent.")])

    started = api(live_server, key, "POST", "/api/score-jobs", json={"filter": {"name": "support"},
                                                                      "scorers": SCORERS})
    assert started.status_code == 202, started.text
    job = wait_job(live_server, key, started.json()["id"])
    assert (job["status"], job["total"], job["done"], job["errors"]) == ("completed", 3, 3, 0)
    summary = job["summary"]
    assert summary["mentions_refund"] == {"scored": 3, "no_value": 0, "errors": 0, "passed": 2, "failed": 1,
                                          "first_error": None, "mean": pytest.approx(2 / 3)}
    # exact_match needs an expected value: the two traces that carry one in their metadata are scored
    assert (summary["exact_match"]["scored"], summary["exact_match"]["no_value"]) == (2, 1)
    assert summary["latency"]["passed"] == 3
    assert summary["tool_selection"]["mean"] == 1.0
    assert job["scores_written"] == 3 + 2 + 3 + 3

    scores = online_scores(live_server, key)
    assert len(scores) == 11
    assert {s["trace_id"] for s in scores} == set(support)
    by = {(s["trace_id"], s["name"]): s for s in scores}
    first = by[(support[0], "mentions_refund")]
    assert (first["value"], first["scorer"], first["source"]) == (True, "contains", "online")
    assert first["metadata"]["job_id"] == job["id"]
    assert first["metadata"]["passed"] == "true"
    assert by[(support[2], "mentions_refund")]["value"] is False
    assert by[(support[0], "exact_match")]["value"] is True
    assert by[(support[2], "exact_match")]["value"] is False
    assert by[(support[2], "exact_match")]["reason"]

    # the same scorers again: the scores are replaced, not added
    again = api(live_server, key, "POST", "/api/score-jobs", json={"filter": {"name": "support"},
                                                                    "scorers": SCORERS})
    assert wait_job(live_server, key, again.json()["id"])["status"] == "completed"
    assert len(online_scores(live_server, key)) == 11
    # another key keeps its verdicts beside the first ones
    keyed = api(live_server, key, "POST", "/api/score-jobs",
                json={"filter": {"name": "support", "tag": "vip"}, "scorers": SCORERS[:1], "key": "second"})
    assert wait_job(live_server, key, keyed.json()["id"])["total"] == 1
    assert len(online_scores(live_server, key, name="mentions_refund")) == 4

    listed = api(live_server, key, "GET", "/api/score-jobs").json()["jobs"]
    assert [j["id"] for j in listed][-1] == job["id"]


def test_dry_run_lists_without_scoring(live_server: LiveServer, project_key: tuple[str, str]) -> None:
    key = project_key[1]
    ids = ingest(live_server, key, [trace("support", "a"), trace("support", "b", status="error"),
                                    trace("other", "c")])
    response = api(live_server, key, "POST", "/api/score-jobs", json={
        "filter": {"name": "support", "status": "error"}, "scorers": ["json_valid"], "dry_run": True})
    assert response.status_code == 200, response.text
    result = response.json()
    assert (result["matched"], [t["trace_id"] for t in result["traces"]]) == (1, [ids[1]])
    assert online_scores(live_server, key) == []


BAD_JOBS = [
    ({"scorers": [{"scorer": "contain"}]}, "scorers[0].scorer: unknown scorer 'contain'; known: contains"),
    ({"scorers": [{"scorer": "regex", "args": {"pattern": "("}}]}, "scorers[0]: regex refused its arguments"),
    ({"scorers": [{"scorer": "contains", "args": {"text": "x"}}]}, "contains has no argument(s) 'text'"),
    ({"scorers": []}, "scorers must be a non-empty list"),
    ({"scorers": ["json_valid"], "filter": {"nme": "x"}}, "filter.nme: unknown field"),
    ({"scorers": ["json_valid"], "filter": {"from": "yesterday"}}, "filter.from: must be a date-time with a time zone"),
    ({"scorers": ["json_valid"], "filter": {"from": "2026-11-20T12:00:00"}}, "filter.from: must be a date-time with"),
    ({"scorers": ["json_valid"], "limit": 0}, "limit: Input should be greater than or equal to 1"),
    ({"scorers": ["json_valid", "json_valid"]}, "would both write the score 'json_valid'"),
    ({"scorers": [{"scorer": "llm_judge", "args": {"rubric": "r"}}]}, "llm_judge needs an LLM provider"),
    ({"scorers": "json_valid"}, "scorers must be a non-empty list of scorer specs"),
]


def test_bad_jobs_are_refused_naming_the_problem(live_server: LiveServer, project_key: tuple[str, str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("NEON_LLM_PROVIDER", "NEON_LLM_MODEL", "OPENAI_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_API_KEY",
                 "ANTHROPIC_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    for body, message in BAD_JOBS:
        response = api(live_server, project_key[1], "POST", "/api/score-jobs", json=body)
        assert response.status_code == 422, response.text
        assert message in response.json()["error"]["message"], body
    assert api(live_server, project_key[1], "GET", "/api/score-jobs").json() == {"jobs": []}


def test_unknown_job_is_404(live_server: LiveServer, project_key: tuple[str, str]) -> None:
    response = api(live_server, project_key[1], "GET", "/api/score-jobs/job_nope")
    assert response.status_code == 404
    assert "no score job 'job_nope'" in response.json()["error"]["message"]


def test_judge_reads_the_trace_and_its_failures_are_counted(live_server: LiveServer, project_key: tuple[str, str],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    key = project_key[1]
    with FakeLLMServer(replies=['{"reasoning": "answers the refund question", "score": 8}']) as llm:
        monkeypatch.setenv("NEON_LLM_PROVIDER", "openai")
        monkeypatch.setenv("NEON_LLM_MODEL", "judge-model")
        monkeypatch.setenv("OPENAI_BASE_URL", llm.openai_base_url)
        ids = ingest(live_server, key, [trace("judged", "Your refund was sent.", question="Where is my refund?")])
        llm.fail(400, times=1)  # the second trace's judge call fails for good (400 is not retried)
        ids += ingest(live_server, key, [trace("judged", "Hello.")])
        scorers = [{"scorer": "relevance", "args": {"max_chars": 2000}}, "json_valid"]
        started = api(live_server, key, "POST", "/api/score-jobs", json={"filter": {"name": "judged"},
                                                                          "scorers": scorers})
        job = wait_job(live_server, key, started.json()["id"])
        prompts = [r.last_user_message for r in llm.requests]
    assert job["status"] == "completed"
    assert (job["done"], job["errors"]) == (2, 1)
    assert job["summary"]["relevance"]["errors"] == 1
    assert "LLMError" in job["summary"]["relevance"]["first_error"]
    assert any('"question": "Where is my refund?"' in p and "Your refund was sent." in p for p in prompts)
    scores = {(s["trace_id"], s["name"]): s for s in online_scores(live_server, key)}
    judged = [s for (t, n), s in scores.items() if n == "relevance"]
    assert len(judged) == 1
    assert (judged[0]["value"], judged[0]["reason"], judged[0]["scorer"]) == (
        pytest.approx(0.8), "answers the refund question", "relevance")
    assert json.loads(judged[0]["evidence"])["model"] == "judge-model"
    # the failing judge did not stop the trace's other scorer
    assert {t for (t, n) in scores if n == "json_valid"} == set(ids)


def neon_score(server: LiveServer, key: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NEON_BASE_URL": server.url, "NEON_API_KEY": key}
    return subprocess.run([sys.executable, "-m", "neon.cli.main", "score", *args], capture_output=True, text=True,
                          env=env, timeout=120, cwd=Path(__file__).parent)


def test_neon_score_cli(live_server: LiveServer, project_key: tuple[str, str], tmp_path: Path,
                        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    key = project_key[1]
    ids = ingest(live_server, key, [trace("cli", "Your refund was sent.", agent_id="a1"),
                                    trace("cli", "No idea.", agent_id="a1"), trace("cli", "x", agent_id="a2")])
    # one real subprocess, as users run it …
    out = tmp_path / "job.json"
    run = neon_score(live_server, key, "--scorer", 'contains:{"needles": "refund"}', "--name", "cli",
                     "--agent-id", "a1", "--limit", "10", "--json", str(out))
    assert run.returncode == 0, run.stderr
    assert "completed — 2/2 traces, 2 scores written, 0 errors" in run.stdout
    assert "contains" in run.stdout
    assert json.loads(out.read_text())["summary"]["contains"]["passed"] == 1
    assert {s["trace_id"] for s in online_scores(live_server, key)} == set(ids[:2])

    # … and the other paths in this process (starting Python costs seconds per run)
    monkeypatch.setenv("NEON_BASE_URL", live_server.url)
    monkeypatch.setenv("NEON_API_KEY", key)

    def cli(*args: str) -> tuple[int, str, str]:
        code = main(["score", *args])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    code, stdout, _ = cli("--scorer", "json_valid", "--name", "cli", "--agent-id", "a1", "--dry-run")
    assert code == 0
    assert "2 trace(s) would be scored with json_valid" in stdout
    assert ids[2] not in stdout
    code, _, stderr = cli("--scorer", "contains:{needles}")
    assert (code, "not valid JSON" in stderr) == (2, True)
    code, _, stderr = cli("--scorer", "sentiment")
    assert (code, "unknown scorer 'sentiment'" in stderr) == (2, True)
    code, _, stderr = cli("--scorer", "json_valid", "--from", "last week")
    assert (code, "filter.from: must be a date-time with a time zone" in stderr) == (2, True)
