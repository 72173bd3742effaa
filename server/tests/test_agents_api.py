"""Agent spec versions through the real app on SQLite and PostgreSQL: recording is idempotent and re-validates
with the SDK's checks, versions are the SDK's content hashes, and list / get / versions / diff answer as
documented, within one project."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml
from fastapi.testclient import TestClient
from pydantic import BaseModel, ConfigDict

from neon.execute import AgentSpec, load_spec
from neon_server.api import agent_schemas as out
from neon_server.runtime import Services
from neon_server.storage.metadata import MetadataStore

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "agents" / "support.yaml"


def strict(model: type[BaseModel]) -> type[BaseModel]:
    return type(f"Strict{model.__name__}", (model,), {"model_config": ConfigDict(extra="forbid")})


def check(model: type[BaseModel], response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    strict(model).model_validate(response.json())
    return response.json()


def example() -> dict[str, Any]:
    """The example spec as its file says it (shorthand implementations, '2d'), not in canonical form."""
    data: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text())
    return data


def test_record_list_get_versions_and_diff(client: TestClient, project_key: tuple[str, str]) -> None:
    headers = {"x-api-key": project_key[1]}
    first = check(out.AgentRecorded, client.post("/api/agents", headers=headers, json=example()), 201)
    v1 = load_spec(EXAMPLE)
    assert (first["name"], first["version"], first["created"]) == ("support", v1.version, True)
    assert first["spec"] == v1.to_dict()  # stored canonical, whatever form it came in

    again = check(out.AgentRecorded, client.post("/api/agents", headers=headers, json=v1.to_dict()))
    assert (again["version"], again["created"], again["created_at"]) == (v1.version, False, first["created_at"])

    changed = example()
    changed["model"]["parameters"]["temperature"] = 0.7
    changed["tools"][2]["requires_approval"] = False
    second = check(out.AgentRecorded, client.post("/api/agents", headers=headers, json=changed), 201)
    v2 = AgentSpec.from_dict(changed)
    assert second["version"] == v2.version != v1.version
    other = {"name": "triage", "model": {"provider": "anthropic", "name": "claude-sonnet-4-5"},
             "system_prompt": "Sort the ticket."}
    check(out.AgentRecorded, client.post("/api/agents", headers=headers, json=other), 201)

    listed = check(out.AgentList, client.get("/api/agents", headers=headers))["agents"]
    assert [(a["name"], a["latest_version"], a["version_count"]) for a in listed] == [
        ("support", v2.version, 2), ("triage", AgentSpec.from_dict(other).version, 1)]
    assert listed[0]["model"] == "openai:gpt-4o-mini"
    assert listed[0]["tools"] == ["lookup_order", "lookup_policy", "issue_refund"]
    assert listed[0]["first_seen_at"] == first["created_at"]
    assert listed[0]["updated_at"] == second["created_at"]

    agent = check(out.Agent, client.get("/api/agents/support", headers=headers))
    assert agent["latest"]["version"] == v2.version
    assert agent["latest"]["spec"] == v2.to_dict()
    assert [v["version"] for v in agent["versions"]] == [v2.version, v1.version]

    old = check(out.AgentVersion, client.get(f"/api/agents/support/versions/{v1.version}", headers=headers))
    assert AgentSpec.from_dict(old["spec"]) == v1

    diff = check(out.AgentDiff, client.get("/api/agents/support/diff", headers=headers,
                                           params={"from": v1.version, "to": v2.version}))
    assert diff["from"] == v1.version
    assert diff["to"] == v2.version
    assert diff["changes"] == [
        {"path": "model.parameters.temperature", "kind": "changed", "old": 0.2, "new": 0.7},
        {"path": "tools[issue_refund].requires_approval", "kind": "changed", "old": True, "new": False},
    ]


def test_bad_specs_are_refused_with_every_error_by_field(client: TestClient, project_key: tuple[str, str]) -> None:
    headers = {"x-api-key": project_key[1]}
    bad = example()
    bad["model"]["provider"] = "openia"
    bad["tools"][0]["parameters"]["type"] = "array"
    bad["approval"]["timeout"] = "2 days"
    del bad["tools"][1]["name"]
    answer = check(out.SpecErrorResponse, client.post("/api/agents", headers=headers, json=bad), 422)["error"]
    assert answer["code"] == "invalid_input"
    assert answer["message"].startswith("invalid agent spec (4 errors): model.provider: expected one of")
    assert sorted(answer["errors"], key=lambda e: e["field"]) == [
        {"field": "approval.timeout",
         "message": "expected a duration such as '7d', '12h', '30m', '45s' or a number of seconds; got '2 days'"},
        {"field": "model.provider", "message": "expected one of 'openai', 'anthropic', got 'openia'"},
        {"field": "tools[0].parameters.type", "message": "expected 'object', got 'array'"},
        {"field": "tools[1].name", "message": "missing required field"},
    ]
    not_object = check(out.SpecErrorResponse, client.post("/api/agents", headers=headers, json=["support"]), 422)
    assert not_object["error"]["message"] == "request: Input should be a valid dictionary"  # before any spec check
    assert check(out.AgentList, client.get("/api/agents", headers=headers)) == {"agents": []}


def test_unknown_agents_and_versions_are_404(client: TestClient, project_key: tuple[str, str]) -> None:
    headers = {"x-api-key": project_key[1]}
    version = client.post("/api/agents", headers=headers, json=example()).json()["version"]
    missing = client.get("/api/agents/nobody", headers=headers)
    assert missing.status_code == 404
    assert missing.json()["error"] == {"code": "not_found", "message": "no agent 'nobody' in this project"}
    no_version = client.get("/api/agents/support/versions/000000000000", headers=headers)
    assert no_version.json()["error"]["message"] == "agent 'support' has no version '000000000000'"
    no_diff = client.get("/api/agents/support/diff", headers=headers, params={"from": version, "to": "abc"})
    assert no_diff.status_code == 422  # not a version at all (12 hex digits)
    assert "query.to" in no_diff.json()["error"]["message"]
    no_diff = client.get("/api/agents/support/diff", headers=headers, params={"from": version, "to": "0" * 12})
    assert no_diff.status_code == 404
    needs_both = client.get("/api/agents/support/diff", headers=headers, params={"from": version})
    assert needs_both.status_code == 422
    assert "to" in needs_both.json()["error"]["message"]


def test_agents_belong_to_one_project(client: TestClient, services: Services, project_key: tuple[str, str]) -> None:
    client.post("/api/agents", headers={"x-api-key": project_key[1]}, json=example())
    other = services.projects.create("another")
    _key, secret = services.keys.create(other.id)
    headers = {"x-api-key": secret}
    assert client.get("/api/agents", headers=headers).json() == {"agents": []}
    assert client.get("/api/agents/support", headers=headers).status_code == 404
    assert client.get("/api/agents").status_code == 401


def test_repository_records_each_version_once(metadata: MetadataStore) -> None:
    metadata.projects.create("prj_a", "a")
    spec = load_spec(EXAMPLE)
    stored, created = metadata.agent_versions.add("prj_a", spec.name, spec.version, spec.to_dict())
    assert created
    assert stored.created_at.tzinfo is not None
    again, created_again = metadata.agent_versions.add("prj_a", spec.name, spec.version, copy.deepcopy(spec.to_dict()))
    assert (again, created_again) == (stored, False)
    summary = metadata.agent_versions.latest("prj_a")[0]
    assert (summary.latest, summary.version_count, summary.first_seen_at) == (stored, 1, stored.created_at)


def test_openapi_documents_the_agent_routes(client: TestClient) -> None:
    paths = client.get("/api/openapi.json").json()["paths"]
    assert {"/api/agents", "/api/agents/{name}", "/api/agents/{name}/versions/{version}",
            "/api/agents/{name}/diff"} <= set(paths)
    post = paths["/api/agents"]["post"]
    assert set(post["responses"]) >= {"200", "201", "422"}
