"""The eval-run API on SQLite and PostgreSQL: recording a run case by case, retries, closing it, refusals."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from neon import NeonClient, NeonError
from server.tests.conftest import LiveServer


def result(case_id: str, value: float | None, **extra: Any) -> dict[str, Any]:
    return {"case_id": case_id, "trace_id": f"{abs(hash(case_id)) % 16**32:032x}", "input": case_id,
            "output": "x", "passed": bool(value and value >= 0.5), "duration_ms": 5.0,
            "scores": [{"name": "acc", "value": value}], **extra}


def test_record_a_run_retry_and_close(live_server: LiveServer, project_key: tuple[str, str]) -> None:
    with NeonClient(live_server.url, project_key[1]) as client:
        run = client.create_eval_run("core", "main", case_count=3, metadata={"commit": "abc"})
        assert (run["status"], run["origin"], run["case_count"], run["metadata"]) == (
            "running", "cli", 3, {"commit": "abc"})
        assert client.add_eval_results(run["id"], [result("a", 1.0), result("b", 0.0)])["stored"] == 2
        # a retried request (same case ids) replaces, it does not double
        client.add_eval_results(run["id"], [result("b", 0.25), result("c", None, error="RuntimeError: boom")])
        closed = client.finish_eval_run(run["id"])
        assert (closed["status"], closed["total"], closed["passed"], closed["failed"], closed["errored"]) == (
            "completed", 3, 1, 1, 1)
        assert closed["summary"]["scorers"]["acc"]["mean"] == pytest.approx((1.0 + 0.25) / 2)
        detail = client.get_eval_run(run["id"])
        assert [r["case_id"] for r in detail["results"]] == ["a", "b", "c"]
        assert detail["results"][1]["scores"][0]["value"] == 0.25

        with pytest.raises(NeonError, match="is completed: results can only be added while it runs") as err:
            client.add_eval_results(run["id"], [result("d", 1.0)])
        assert err.value.status_code == 409
        with pytest.raises(NeonError, match="already completed"):
            client.finish_eval_run(run["id"])
        other = client.create_eval_run("core", "pr-9")
        client.finish_eval_run(other["id"], status="failed", error="agent import failed")
        assert [r["version"] for r in client.list_eval_runs(suite="core")] == ["pr-9", "main"]
        assert [r["version"] for r in client.list_eval_runs(status="completed")] == ["main"]
        assert client.list_eval_runs(version="nope") == []

    scores = httpx.get(f"{live_server.url}/api/scores", headers={"x-api-key": project_key[1]},
                       params={"eval_run_id": run["id"]}).json()["scores"]
    assert sorted((s["dataset_item_id"], s["value"]) for s in scores) == [("a", 1.0), ("b", 0.25)]


BAD_REQUESTS = [
    ("/api/eval-runs", {"suite": "", "version": "v"}, 422, "suite: must not be empty"),
    ("/api/eval-runs", {"suite": "s", "version": "x" * 201}, 422, "version: must be at most 200 characters"),
    ("/api/eval-runs/RUN/results", {"results": [{"case_id": "a", "scores": [{"name": "acc", "value": 1.5}]}]},
     422, "results[0].scores[0].value: Input should be less than or equal to 1"),
    ("/api/eval-runs/RUN/results", {"results": [{"case_id": "a", "trace_id": "xyz"}]}, 422,
     "results[0].trace_id: must be 32 lowercase hex characters"),
    ("/api/eval-runs/RUN/results", {"results": [{"case_id": "a"}, {"case_id": "a"}]}, 422, "appears twice"),
    ("/api/eval-runs/RUN/results", {"results": []}, 422, "results: must not be empty"),
    ("/api/eval-runs/RUN/results", {"results": [{"case_id": "a", "scores": [{"name": "n", "value": 1},
                                                                             {"name": "n", "value": 0}]}]},
     422, "name 'n' appears twice"),
    ("/api/eval-runs/run_missing/results", {"results": [{"case_id": "a"}]}, 404, "no eval run 'run_missing'"),
    ("/api/eval-runs/RUN/finish", {"status": "done"}, 422, "status"),
    ("/api/eval-runs/start", {"suite": "s", "version": "v"}, 409, "this server has no evals folder"),
]


def test_bad_requests_are_refused_with_a_reason(live_server: LiveServer, project_key: tuple[str, str]) -> None:
    headers = {"x-api-key": project_key[1]}
    run = httpx.post(f"{live_server.url}/api/eval-runs", headers=headers, json={"suite": "s", "version": "v"})
    for path, body, status, message in BAD_REQUESTS:
        response = httpx.post(f"{live_server.url}{path.replace('RUN', run.json()['id'])}", headers=headers,
                              json=body)
        assert response.status_code == status, (path, response.text)
        assert message in response.json()["error"]["message"], path


def test_compare_endpoint_picks_the_latest_completed_runs(live_server: LiveServer,
                                                          project_key: tuple[str, str]) -> None:
    headers = {"x-api-key": project_key[1]}
    with NeonClient(live_server.url, project_key[1]) as client:
        for version, values in (("main", [1.0, 1.0, 0.0]), ("main", [1.0, 1.0, 1.0]), ("pr", [1.0, 0.5, 1.0])):
            run = client.create_eval_run("core", version)
            client.add_eval_results(run["id"], [result(c, v) for c, v in zip("abc", values, strict=True)])
            client.finish_eval_run(run["id"])
        client.create_eval_run("core", "pr")  # still running: not compared
        data = client.compare_eval_runs("main", "pr", threshold=0.9, seed=3)
    [suite] = data["suites"]
    [acc] = suite["scorers"]
    assert (acc["baseline_mean"], acc["candidate_mean"]) == (1.0, pytest.approx(2.5 / 3))
    assert (acc["regressed"], data["regressed"]) == (True, True)
    assert [w["case_id"] for w in acc["worse"]] == ["b"]
    again = httpx.get(f"{live_server.url}/api/eval-runs/compare", headers=headers,
                      params={"baseline": "main", "candidate": "pr", "threshold": 0.9, "seed": 3}).json()
    assert again == data  # seeded: the same answer twice
    for params, message in ((({"baseline": "main", "candidate": "nope"}), "no completed run of any suite at "
                                                                          "version 'nope'"),
                            ({"baseline": "main", "candidate": "pr", "suite": "x"}, "no completed run of suite 'x'"),
                            ({"baseline": "main", "candidate": "pr", "threshold": 0},
                             "threshold: Input should be greater than 0")):
        response = httpx.get(f"{live_server.url}/api/eval-runs/compare", headers=headers, params=params)
        assert response.status_code in (404, 422)
        assert message in response.json()["error"]["message"]


def test_runs_are_scoped_to_their_project(live_server: LiveServer, project_key: tuple[str, str]) -> None:
    services = live_server.services
    other = services.projects.create("elsewhere")
    _key, secret = services.keys.create(other.id)
    with NeonClient(live_server.url, project_key[1]) as mine, NeonClient(live_server.url, secret) as theirs:
        run = mine.create_eval_run("core", "main")
        with pytest.raises(NeonError, match="no eval run"):
            theirs.get_eval_run(run["id"])
        with pytest.raises(NeonError, match="no eval run"):
            theirs.add_eval_results(run["id"], [result("a", 1.0)])
        assert theirs.list_eval_runs() == []
