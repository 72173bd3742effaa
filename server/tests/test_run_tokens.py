"""Run tokens: signed per project by the server's secret, accepted only by the routes workers need."""

from __future__ import annotations

import secrets
import stat
import threading
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from neon_server.runtime import Services
from neon_server.services.errors import Unauthorized
from neon_server.services.run_tokens import RunTokens, load_secret
from neon_server.settings import SettingsError, load_settings
from neon_server.storage.analytics import AnalyticsDB
from neon_server.storage.metadata import MetadataStore
from server.tests.conftest import make_services


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def test_issue_and_verify(services: Services) -> None:
    token = services.run_tokens.issue("prj_0123456789abcdef")
    assert token.startswith("neon_rt_prj_0123456789abcdef.")
    assert len(token.rpartition(".")[2]) == 43  # 32 bytes, base64url without padding
    assert services.run_tokens.verify(token) == "prj_0123456789abcdef"
    assert services.run_tokens.issue("prj_0123456789abcdef") == token  # deterministic: nothing is stored


@pytest.mark.parametrize(("make_bad", "message"), [
    (lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"), "invalid signature"),
    (lambda t: t.replace("prj_aaaa", "prj_bbbb"), "run token for project prj_bbbb0000 has an invalid signature"),
    (lambda t: t.partition(".")[0], "malformed run token"),
    (lambda t: t + "==", "malformed run token"),
    (lambda t: t.replace("prj_aaaa0000", "../../etc"), "malformed run token"),
    (lambda t: "neon_rt_", "malformed run token"),
    (lambda t: "neon_rt_.x", "malformed run token"),
])
def test_tampered_and_malformed_tokens_are_refused(services: Services, make_bad: object, message: str) -> None:
    token = services.run_tokens.issue("prj_aaaa0000")
    assert callable(make_bad)
    with pytest.raises(Unauthorized, match=message):
        services.run_tokens.verify(make_bad(token))


def test_a_token_from_another_secret_is_refused() -> None:
    mine, theirs = RunTokens(secrets.token_bytes(32)), RunTokens(secrets.token_bytes(32))
    with pytest.raises(Unauthorized, match="issued by a server with another secret"):
        mine.verify(theirs.issue("prj_aaaa0000"))


def test_secret_is_created_once_and_reused(tmp_path: Path, analytics: AnalyticsDB, metadata: MetadataStore) -> None:
    first = make_services(tmp_path, analytics, metadata)
    try:
        token = first.run_tokens.issue("prj_aaaa0000")
    finally:
        first.stop_scoring()
        first.stop_writers()
    secret = tmp_path / "secret"
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert len(secret.read_text().strip()) == 64
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".secret")] == []  # no temporary left
    second = make_services(tmp_path, analytics, metadata)
    try:
        assert second.run_tokens.verify(token) == "prj_aaaa0000"
    finally:
        second.stop_scoring()
        second.stop_writers()


def test_secret_created_by_racing_processes_is_one(tmp_path: Path) -> None:
    found: list[bytes] = []
    start = threading.Barrier(8)

    def load() -> None:
        start.wait()
        found.append(load_secret(None, tmp_path))

    threads = [threading.Thread(target=load) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(found) == 8
    assert len(set(found)) == 1
    assert found[0] == bytes.fromhex((tmp_path / "secret").read_text())


def test_neon_secret_key_signs_instead_of_the_file(tmp_path: Path, analytics: AnalyticsDB,
                                                  metadata: MetadataStore) -> None:
    key = "k" * 40
    one = make_services(tmp_path / "one", analytics, metadata, secret_key=key)
    two = make_services(tmp_path / "two", analytics, metadata, secret_key=key)
    try:
        assert two.run_tokens.verify(one.run_tokens.issue("prj_aaaa0000")) == "prj_aaaa0000"
        assert not (tmp_path / "one" / "secret").exists()
    finally:
        for made in (one, two):
            made.stop_scoring()
            made.stop_writers()


def test_a_short_secret_key_is_refused_without_showing_it() -> None:
    with pytest.raises(SettingsError) as err:
        load_settings(secret_key="hunter2-is-too-short")
    assert "secret_key [--secret-key]: Value error, must be at least 32 characters" in str(err.value)
    assert "hunter2" not in str(err.value)
    assert "hunter2" not in repr(load_settings(secret_key="hunter2" * 6))


def test_a_broken_secret_file_stops_the_start_with_the_fix(tmp_path: Path) -> None:
    (tmp_path / "secret").write_text("not hex\n")
    with pytest.raises(ValueError, match=r"does not hold a secret.*delete it"):
        load_secret(None, tmp_path)


# ---------------------------------------------------------------- which routes take a run token
@pytest.fixture
def project_token(services: Services) -> tuple[str, str, str]:
    """(project id, API key, run token) of a fresh project."""
    project = services.projects.create(f"p-{secrets.token_hex(4)}")
    _key, secret = services.keys.create(project.id)
    return project.id, secret, services.run_tokens.issue(project.id)


@pytest.mark.parametrize(("method", "path", "body"), [
    ("GET", "/api/traces", None),
    ("GET", "/api/traces/0af7651916cd43dd8448eb211c80319c", None),
    ("POST", "/api/scores", {"trace_id": "0af7651916cd43dd8448eb211c80319c", "name": "x", "value": 1}),
    ("GET", "/api/keys", None),
    ("POST", "/api/keys", {"name": "escalate"}),
    ("GET", "/api/project", None),
    ("GET", "/api/live/traces", None),
    ("GET", "/api/agent-runs/run_x/events", None),
])
def test_run_token_is_refused_on_other_routes(client: TestClient, project_token: tuple[str, str, str], method: str,
                                              path: str, body: object) -> None:
    _project, key, token = project_token
    response = client.request(method, path, headers=bearer(token), json=body)
    assert response.status_code == 403, response.text
    assert response.json()["error"]["code"] == "forbidden"
    message = response.json()["error"]["message"]
    assert message.startswith("run tokens can only ingest spans, read and write agent blobs")
    assert f"{method} {path} needs an API key" in message
    if method == "GET" and "events" not in path and "live" not in path:
        assert client.request(method, path, headers=bearer(key)).status_code in (200, 404)


def test_a_bad_run_token_is_401_everywhere(client: TestClient, project_token: tuple[str, str, str]) -> None:
    bad = project_token[2][:-2] + "xx"
    routes = (("GET", "/api/traces"), ("POST", "/api/traces/ingest"), ("GET", f"/api/agent-blobs/sha256:{'0' * 64}"))
    for method, path in routes:
        response = client.request(method, path, headers={**bearer(bad), "content-type": "application/json"},
                                  content=b"{}")
        assert response.status_code == 401, (path, response.text)
        assert "invalid signature" in response.json()["error"]["message"]


def test_run_token_ingests_into_its_project(client: TestClient, services: Services,
                                            project_token: tuple[str, str, str]) -> None:
    project_id, key, token = project_token
    trace_id = secrets.token_hex(16)
    now = time.time_ns()
    native = {"trace_id": trace_id, "name": "agent", "spans": [{"span_id": "s", "name": "step"}]}
    answer = client.post("/api/traces/ingest", headers=bearer(token), json=native)
    assert answer.status_code == 200, answer.text
    assert answer.json()["accepted_spans"] == 2
    otlp_trace = secrets.token_hex(16)
    otlp = {"resourceSpans": [{"scopeSpans": [{"spans": [{
        "traceId": otlp_trace, "spanId": secrets.token_hex(8), "name": "otlp-step",
        "startTimeUnixNano": str(now), "endTimeUnixNano": str(now + 1000)}]}]}]}
    exported = client.post("/v1/traces", headers=bearer(token), json=otlp)
    assert exported.status_code == 200, exported.text
    for written in (trace_id, otlp_trace):
        got = client.get(f"/api/traces/{written}", headers=bearer(key))
        assert got.status_code == 200, got.text
    other = services.projects.create(f"q-{secrets.token_hex(4)}")
    _k, other_key = services.keys.create(other.id)
    assert client.get(f"/api/traces/{trace_id}", headers=bearer(other_key)).status_code == 404
    assert project_id != other.id
