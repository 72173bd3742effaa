"""Agent blobs over the real app: content addresses checked, writes idempotent, limits, projects kept apart."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from neon.execute.shared import blob_ref, canonical_json
from neon_server.runtime import Services
from neon_server.storage.analytics import AnalyticsDB
from neon_server.storage.metadata import MetadataStore
from server.tests.conftest import make_services

MESSAGE = {"role": "assistant", "content": "Grüße — 42", "tool_calls": [{"id": "c1", "name": "lookup",
                                                                      "arguments": {"b": 2, "a": [1.5, None]}}]}
BLOB_LIMIT = 4096
BATCH_LIMIT = 3 * BLOB_LIMIT


@pytest.fixture
def metadata_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'neon.db'}"


@pytest.fixture
def services(tmp_path: Path, analytics: AnalyticsDB, metadata: MetadataStore) -> Iterator[Services]:
    made = make_services(tmp_path, analytics, metadata, agent_blob_max_bytes=BLOB_LIMIT,
                         agent_blob_max_batch_bytes=BATCH_LIMIT)
    yield made
    made.stop_scoring()
    made.stop_writers()


def new_project(services: Services) -> dict[str, Any]:
    project = services.projects.create(f"p-{secrets.token_hex(4)}")
    _key, key = services.keys.create(project.id)
    return {"id": project.id, "key": {"Authorization": f"Bearer {key}"},
            "token": {"Authorization": f"Bearer {services.run_tokens.issue(project.id)}"}}


@pytest.fixture
def project(services: Services) -> dict[str, Any]:
    return new_project(services)


def test_put_then_get_with_token_and_key(client: TestClient, services: Services, project: dict[str, Any]) -> None:
    ref = blob_ref(MESSAGE)
    put = client.put(f"/api/agent-blobs/{ref}", headers=project["token"], json=MESSAGE)
    assert put.status_code == 201, put.text
    assert put.json() == {"ref": ref, "created": True}
    digest = ref.removeprefix("sha256:")
    stored = services.settings.home / "agent-blobs" / project["id"] / digest[:2] / digest
    assert stored.read_bytes() == canonical_json(MESSAGE)
    assert [p.name for p in stored.parent.iterdir()] == [digest]  # no temporary file left behind
    for headers in (project["token"], project["key"]):
        got = client.get(f"/api/agent-blobs/{ref}", headers=headers)
        assert got.status_code == 200
        assert got.headers["content-type"] == "application/json"
        assert got.json() == MESSAGE


def test_put_is_idempotent(client: TestClient, services: Services, project: dict[str, Any]) -> None:
    ref = blob_ref(MESSAGE)
    assert client.put(f"/api/agent-blobs/{ref}", headers=project["token"], json=MESSAGE).status_code == 201
    digest = ref.removeprefix("sha256:")
    stored = services.settings.home / "agent-blobs" / project["id"] / digest[:2] / digest
    before = stored.stat().st_mtime_ns
    # The same value in another key order and spacing is the same blob.
    again = client.put(f"/api/agent-blobs/{ref}", headers={**project["token"], "content-type": "application/json"},
                       content=b'{ "tool_calls": [{"name": "lookup", "id": "c1", "arguments": {"a": [1.5, null], '
                               b'"b": 2}}], "content": "Gr\\u00fc\\u00dfe \\u2014 42", "role": "assistant" }')
    assert again.status_code == 200, again.text
    assert again.json() == {"ref": ref, "created": False}
    assert stored.stat().st_mtime_ns == before
    batch = client.post("/api/agent-blobs", headers=project["token"], json=[MESSAGE, "x", MESSAGE])
    assert batch.status_code == 200
    assert batch.json() == {"refs": [ref, blob_ref("x"), ref]}


def test_batch_put_and_get_in_order(client: TestClient, project: dict[str, Any]) -> None:
    values: list[Any] = [{"role": "user", "content": "hi"}, "plain text", 3, None, [1, {"z": 0, "a": 1}], MESSAGE]
    put = client.post("/api/agent-blobs", headers=project["token"], json=values)
    assert put.status_code == 200, put.text
    refs = put.json()["refs"]
    assert refs == [blob_ref(v) for v in values]
    asked = [refs[5], refs[0], refs[5], refs[3]]
    got = client.post("/api/agent-blobs/get", headers=project["token"], json=asked)
    assert got.status_code == 200, got.text
    assert got.json() == {"values": [MESSAGE, values[0], MESSAGE, None]}
    assert client.post("/api/agent-blobs/get", headers=project["key"], json=[]).json() == {"values": []}
    assert client.post("/api/agent-blobs", headers=project["key"], json=[]).json() == {"refs": []}


def test_hash_mismatch_names_both_hashes(client: TestClient, project: dict[str, Any]) -> None:
    claimed = blob_ref("something else")
    response = client.put(f"/api/agent-blobs/{claimed}", headers=project["token"], json=MESSAGE)
    assert response.status_code == 422
    message = response.json()["error"]["message"]
    assert f"hashes to {blob_ref(MESSAGE)}, not to the ref {claimed}" in message
    assert "canonical JSON" in message
    assert client.get(f"/api/agent-blobs/{claimed}", headers=project["key"]).status_code == 404


@pytest.mark.parametrize("ref", ["sha256:" + "A" * 64, "sha256:abc", "md5:" + "0" * 64, "0" * 64])
def test_malformed_refs_are_422(client: TestClient, project: dict[str, Any], ref: str) -> None:
    for response in (client.put(f"/api/agent-blobs/{ref}", headers=project["token"], json=1),
                     client.get(f"/api/agent-blobs/{ref}", headers=project["token"]),
                     client.post("/api/agent-blobs/get", headers=project["token"], json=[ref])):
        assert response.status_code == 422, response.text
        assert "should match pattern '^sha256:[0-9a-f]{64}$'" in response.json()["error"]["message"]


def test_bodies_that_are_not_json_values(client: TestClient, project: dict[str, Any]) -> None:
    headers = {**project["token"], "content-type": "application/json"}
    for body in (b"{", b"NaN", b'{"x": Infinity}', b"\xff\xfe"):
        response = client.post("/api/agent-blobs", headers=headers, content=b"[" + body + b"]")
        assert response.status_code == 422, body
        assert "not JSON" in response.json()["error"]["message"]
    not_a_list = client.post("/api/agent-blobs", headers=headers, content=b'{"a": 1}')
    assert not_a_list.status_code == 422
    assert "must be a JSON list" in not_a_list.json()["error"]["message"]


def test_size_limits(client: TestClient, services: Services, project: dict[str, Any]) -> None:
    big = "x" * BLOB_LIMIT  # with its quotes, two bytes over the limit
    one = client.put(f"/api/agent-blobs/{blob_ref(big)}", headers=project["token"], json=big)
    assert one.status_code == 413
    assert f"over the limit of {BLOB_LIMIT} (NEON_AGENT_BLOB_MAX_BYTES)" in one.json()["error"]["message"]
    fits = "x" * (BLOB_LIMIT - 2)
    assert client.put(f"/api/agent-blobs/{blob_ref(fits)}", headers=project["token"], json=fits).status_code == 201
    in_batch = client.post("/api/agent-blobs", headers=project["token"], json=["ok", big])
    assert in_batch.status_code == 413
    assert "blob [1] is" in in_batch.json()["error"]["message"]
    assert client.get(f"/api/agent-blobs/{blob_ref('ok')}", headers=project["key"]).status_code == 404  # none kept
    many = [f"{i}" + "y" * (BLOB_LIMIT - 10) for i in range(4)]
    batch = client.post("/api/agent-blobs", headers=project["token"], json=many)
    assert batch.status_code == 413
    assert "NEON_AGENT_BLOB_MAX_BATCH_BYTES" in batch.json()["error"]["message"]
    refs = client.post("/api/agent-blobs", headers=project["token"], json=many[:2]).json()["refs"]
    refs += client.post("/api/agent-blobs", headers=project["token"], json=many[2:]).json()["refs"]
    answer = client.post("/api/agent-blobs/get", headers=project["token"], json=refs)
    assert answer.status_code == 413
    assert "ask for fewer refs at once" in answer.json()["error"]["message"]
    assert client.post("/api/agent-blobs/get", headers=project["token"], json=refs[:2]).json()["values"] == many[:2]
    over_body = client.post("/api/agent-blobs", headers=project["token"], json=["z" * (BATCH_LIMIT + 1)])
    assert over_body.status_code == 413


def test_missing_blobs_are_named(client: TestClient, project: dict[str, Any]) -> None:
    present = client.post("/api/agent-blobs", headers=project["token"], json=["here"]).json()["refs"][0]
    absent = blob_ref("never stored")
    single = client.get(f"/api/agent-blobs/{absent}", headers=project["token"])
    assert single.status_code == 404
    assert single.json()["error"]["message"] == f"no agent blob {absent} in this project"
    several = client.post("/api/agent-blobs/get", headers=project["token"], json=[present, absent])
    assert several.status_code == 404
    assert absent in several.json()["error"]["message"]
    assert present not in several.json()["error"]["message"]


def test_projects_cannot_read_each_others_blobs(client: TestClient, services: Services,
                                                project: dict[str, Any]) -> None:
    other = new_project(services)
    secret = {"owner": "a", "ssn": "123"}
    ref = client.post("/api/agent-blobs", headers=project["token"], json=[secret]).json()["refs"][0]
    for headers in (other["token"], other["key"]):
        assert client.get(f"/api/agent-blobs/{ref}", headers=headers).status_code == 404
        assert client.post("/api/agent-blobs/get", headers=headers, json=[ref]).status_code == 404
    # The other project storing the same value gets its own copy; the first is untouched.
    assert client.put(f"/api/agent-blobs/{ref}", headers=other["token"], json=secret).json()["created"] is True
    assert client.get(f"/api/agent-blobs/{ref}", headers=project["key"]).json() == secret


def test_blob_routes_need_credentials(client: TestClient) -> None:
    ref = blob_ref(1)
    for response in (client.put(f"/api/agent-blobs/{ref}", json=1), client.get(f"/api/agent-blobs/{ref}"),
                     client.post("/api/agent-blobs", json=[1]), client.post("/api/agent-blobs/get", json=[ref])):
        assert response.status_code == 401
        assert "missing API key" in response.json()["error"]["message"]


def test_digest_is_sha256_of_canonical_json() -> None:
    # The contract workers and server share: pin it, so a change to canonical_json cannot pass unnoticed.
    assert canonical_json({"b": 1, "a": "é"}) == '{"a":"é","b":1}'.encode()
    assert blob_ref({"b": 1, "a": "é"}) == "sha256:" + hashlib.sha256('{"a":"é","b":1}'.encode()).hexdigest()
