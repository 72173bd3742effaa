"""Every route but health needs a key; a key works only inside its own project."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from neon_server.runtime import Services


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture
def two_projects(services: Services) -> dict[str, Any]:
    a = services.projects.create("team-a")
    b = services.projects.create("team-b")
    key_a, secret_a = services.keys.create(a.id, "a")
    key_b, secret_b = services.keys.create(b.id, "b")
    return {"a": a, "b": b, "key_a": key_a, "key_b": key_b, "secret_a": secret_a, "secret_b": secret_b}


def test_health_needs_no_key_and_reports_dependencies(client: TestClient) -> None:
    response = client.get("/api/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["dependencies"]["analytics"]["status"] == "ok"
    assert body["dependencies"]["analytics"]["backend"] == "chdb"
    assert body["dependencies"]["metadata"]["status"] == "ok"


@pytest.mark.parametrize(("headers", "message"), [
    ({}, "missing API key"),
    ({"Authorization": "Bearer "}, "missing API key"),
    ({"Authorization": "Basic dXNlcjpwYXNz"}, "unsupported Authorization scheme 'Basic'"),
    ({"Authorization": "Bearer not-a-key"}, "malformed API key"),
    ({"x-api-key": "neon_sk_aaaaaaaaaaaa_" + "B" * 43}, "unknown API key neon_sk_aaaaaaaaaaaa"),
])
def test_bad_keys_get_401_with_a_clear_message(client: TestClient, headers: dict[str, str], message: str) -> None:
    response = client.get("/api/keys", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["error"]["code"] == "unauthorized"
    assert message in response.json()["error"]["message"]


def test_revoked_key_gets_401(client: TestClient, two_projects: dict[str, Any]) -> None:
    secret = two_projects["secret_a"]
    assert client.get("/api/project", headers=bearer(secret)).status_code == 200
    revoke = client.delete(f"/api/keys/{two_projects['key_a'].id}", headers=bearer(secret))
    assert revoke.status_code == 200
    assert revoke.json()["active"] is False
    response = client.get("/api/project", headers=bearer(secret))
    assert response.status_code == 401
    assert "was revoked at" in response.json()["error"]["message"]


def test_bearer_and_x_api_key_both_work(client: TestClient, two_projects: dict[str, Any]) -> None:
    for headers in (bearer(two_projects["secret_a"]), {"x-api-key": two_projects["secret_a"]},
                    {"authorization": f"bearer  {two_projects['secret_a']}"}):
        response = client.get("/api/project", headers=headers)
        assert response.status_code == 200, headers
        assert response.json()["name"] == "team-a"


def test_key_of_project_a_cannot_read_or_write_project_b(client: TestClient, two_projects: dict[str, Any]) -> None:
    a, b = bearer(two_projects["secret_a"]), bearer(two_projects["secret_b"])
    listed = client.get("/api/keys", headers=a).json()
    assert [k["id"] for k in listed] == [two_projects["key_a"].id]
    assert {k["project_id"] for k in listed} == {two_projects["a"].id}

    # Writing: revoking B's key with A's key finds nothing, and B's key keeps working.
    response = client.delete(f"/api/keys/{two_projects['key_b'].id}", headers=a)
    assert response.status_code == 404
    assert response.json()["error"]["message"] == f"no API key '{two_projects['key_b'].id}' in this project"
    assert client.get("/api/project", headers=b).json()["name"] == "team-b"

    # A key created with A's key belongs to A, whatever the body says.
    created = client.post("/api/keys", headers=a, json={"name": "x", "project_id": two_projects["b"].id})
    assert created.status_code == 201
    assert created.json()["key"]["project_id"] == two_projects["a"].id
    new_secret = created.json()["secret"]
    assert client.get("/api/project", headers=bearer(new_secret)).json()["name"] == "team-a"
    assert len(client.get("/api/keys", headers=b).json()) == 1


def test_created_key_secret_is_shown_once(client: TestClient, two_projects: dict[str, Any]) -> None:
    a = bearer(two_projects["secret_a"])
    created = client.post("/api/keys", headers=a, json={"name": "ci"}).json()
    assert created["secret"].startswith(created["key"]["prefix"] + "_")
    listed = client.get("/api/keys", headers=a).text
    assert created["secret"] not in listed


def test_errors_are_json_with_messages(client: TestClient, two_projects: dict[str, Any]) -> None:
    a = bearer(two_projects["secret_a"])
    too_long = client.post("/api/keys", headers=a, json={"name": "x" * 201})
    assert too_long.status_code == 422
    assert "name: must be at most 200 characters" in too_long.json()["error"]["message"]
    not_json = client.post("/api/keys", headers={**a, "content-type": "application/json"}, content=b"{")
    assert not_json.status_code == 422
    missing = client.get("/api/nothing-here", headers=a)
    assert missing.status_code == 404
    assert missing.json()["error"]["message"] == "no such endpoint: GET /api/nothing-here"


def test_openapi_schema_lists_the_routes(client: TestClient) -> None:
    paths = client.get("/api/openapi.json").json()["paths"]
    assert {"/api/health", "/api/project", "/api/keys", "/api/keys/{key_id}"} <= set(paths)
