"""The evaluation endpoints' documented answers (the UI's client types) match what they really return; and the
comparison of two chosen runs (the UI's "Compare" action)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import BaseModel, ConfigDict

from neon_server.api import eval_schemas as out


@pytest.fixture
def metadata_url(tmp_path: Path) -> str:  # the shapes do not depend on the metadata backend
    return f"sqlite:///{tmp_path / 'neon.db'}"


def strict(model: type[BaseModel]) -> type[BaseModel]:
    return type(f"Strict{model.__name__}", (model,), {"model_config": ConfigDict(extra="forbid")})


def check(model: type[BaseModel], response: Any, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    strict(model).model_validate(response.json())
    data: dict[str, Any] = response.json()
    return data


def record(client: TestClient, headers: dict[str, str], version: str, refund_score: float,
           suite: str = "support") -> str:
    """A finished run of three cases; the refund case scores `refund_score` on `correct`."""
    run = check(out.EvalRun, client.post("/api/eval-runs", headers=headers,
                                         json={"suite": suite, "version": version, "case_count": 3}), 201)
    results = [
        {"case_id": "balance", "trace_id": "a" * 32, "input": "balance of acc-1?", "expected": "42",
         "output": "42 EUR", "duration_ms": 12.5, "tools": ["lookup_balance"], "passed": True,
         "scores": [{"name": "correct", "value": 1.0, "passed": True, "evidence": {"called": ["lookup_balance"]}},
                    {"name": "tone", "value": None, "data_type": "categorical", "label": "polite"}]},
        {"case_id": "refund", "trace_id": "b" * 32, "input": {"question": "refund?"}, "expected": "30 days",
         "output": "ask support", "passed": refund_score >= 0.5,
         "scores": [{"name": "correct", "value": refund_score, "passed": refund_score >= 0.5,
                     "reason": "" if refund_score >= 0.5 else "expected '30 days' in the answer"}]},
        {"case_id": "broken", "input": "?", "error": "TimeoutError: 10 s", "passed": False,
         "scores": [{"name": "correct", "value": None, "error": "ValueError: no output"}]},
    ]
    assert check(out.ResultsStored, client.post(f"/api/eval-runs/{run['id']}/results", headers=headers,
                                                json={"results": results})) == {"stored": 3}
    check(out.EvalRun, client.post(f"/api/eval-runs/{run['id']}/finish", headers=headers, json={}))
    return str(run["id"])


def test_eval_answers_match_their_documented_schemas(client: TestClient, project_key: tuple[str, str]) -> None:
    headers = {"x-api-key": project_key[1]}
    base = record(client, headers, "main", 1.0)
    cand = record(client, headers, "pr-1", 0.0)

    page = check(out.EvalRunPage, client.get("/api/eval-runs", headers=headers))
    assert [r["id"] for r in page["runs"]] == [cand, base]
    assert page["runs"][0]["summary"]["scorers"]["correct"]["errors"] == 1
    detail = check(out.EvalRunDetail, client.get(f"/api/eval-runs/{cand}", headers=headers))
    assert [r["case_id"] for r in detail["results"]] == ["balance", "refund", "broken"]
    by_version = check(out.Comparison, client.get("/api/eval-runs/compare", headers=headers,
                                                  params={"baseline": "main", "candidate": "pr-1"}))
    assert by_version["regressed"] is True

    check(out.Dataset, client.post("/api/datasets", headers=headers, json={
        "name": "qa", "items": [{"id": "q1", "input": "hi", "expected": "hello", "expected_tools": ["greet"]}]}), 201)
    added = check(out.ItemsAdded, client.post("/api/datasets/qa/items", headers=headers,
                                              json={"items": [{"input": {"q": "bye"}, "metadata": {"k": 1}}]}), 201)
    check(out.ItemsRemoved, client.post("/api/datasets/qa/items/remove", headers=headers,
                                        json={"item_ids": ["q1"]}))
    check(out.DatasetList, client.get("/api/datasets", headers=headers))
    check(out.Dataset, client.get("/api/datasets/qa", headers=headers))
    versions = check(out.DatasetVersionList, client.get("/api/datasets/qa/versions", headers=headers))
    assert [v["item_count"] for v in versions["versions"]] == [1, 2, 1]
    items = check(out.DatasetItemPage, client.get("/api/datasets/qa/items", headers=headers, params={"version": 2}))
    assert [i["id"] for i in items["items"]] == ["q1", added["item_ids"][0]]
    check(out.FromTracesResult, client.post("/api/datasets/prod/from-traces", headers=headers,
                                            json={"filter": {"name": "nothing-matches"}}), 201)

    spec = client.get("/api/openapi.json").json()
    answer = spec["paths"]["/api/eval-runs/{run_id}"]["get"]["responses"]["200"]["content"]["application/json"]
    assert answer["schema"] == {"$ref": "#/components/schemas/EvalRunDetail"}


def test_compare_two_chosen_runs(client: TestClient, project_key: tuple[str, str]) -> None:
    headers = {"x-api-key": project_key[1]}
    base = record(client, headers, "main", 1.0)
    newer_base = record(client, headers, "main", 0.0)  # the newest `main` run is the bad one
    cand = record(client, headers, "pr-1", 0.0)

    picked = check(out.Comparison, client.get("/api/eval-runs/compare-runs", headers=headers,
                                              params={"baseline_run": base, "candidate_run": cand}))
    assert (picked["baseline"], picked["candidate"], picked["regressed"]) == ("main", "pr-1", True)
    [suite] = picked["suites"]
    assert (suite["baseline_run"], suite["candidate_run"]) == (base, cand)
    correct = next(s for s in suite["scorers"] if s["name"] == "correct")
    assert [(w["case_id"], w["baseline"], w["candidate"]) for w in correct["worse"]] == [("refund", 1.0, 0.0)]
    # by version, the newest run of each version is taken: here both are bad, so nothing regressed
    latest = client.get("/api/eval-runs/compare", headers=headers,
                        params={"baseline": "main", "candidate": "pr-1"}).json()
    assert latest["suites"][0]["baseline_run"] == newer_base
    assert latest["regressed"] is False

    other_suite = record(client, headers, "main", 1.0, suite="other")
    mixed = client.get("/api/eval-runs/compare-runs", headers=headers,
                       params={"baseline_run": other_suite, "candidate_run": cand})
    assert mixed.status_code == 422
    assert "runs of different suites cannot be compared" in mixed.json()["error"]["message"]
    missing = client.get("/api/eval-runs/compare-runs", headers=headers,
                         params={"baseline_run": "run_nope", "candidate_run": cand})
    assert missing.status_code == 404
    assert "no eval run 'run_nope'" in missing.json()["error"]["message"]
