"""The Neptune protocol through HTTP (TestClient over real chDB and SQLite/PostgreSQL): sign-in, ingest and its
statuses, bad input answered as neptune-scale expects, files."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest
from fastapi.testclient import TestClient
from neptune_api.proto.neptune_pb.ingest.v1 import common_pb2 as c
from neptune_api.proto.neptune_pb.ingest.v1.pub import client_pb2, ingest_pb2

from neon_server.app import create_app
from neon_server.runtime import Services
from neon_server.services.neptune_tokens import NeptuneTokens
from neon_server.services.run_tokens import load_secret
from neon_server.storage.analytics import AnalyticsDB
from neon_server.storage.metadata import MetadataStore
from server.tests.conftest import make_services

PB = {"content-type": "application/x-protobuf"}


def neptune_token(key: str, url: str = "http://testserver") -> str:
    return base64.b64encode(json.dumps({"api_address": url, "api_url": url, "api_key": key}).encode()).decode()


class Neptune:
    """A project seen through the Neptune protocol, as neptune-scale drives it."""

    def __init__(self, client: TestClient, services: Services, project_id: str, key: str) -> None:
        self.client, self.services, self.project_id, self.key = client, services, project_id, key
        self.project = "any-ws/" + services.projects.get(project_id).name
        answer = client.get("/api/backend/v1/authorization/oauth-token",
                            headers={"X-Neptune-Api-Token": neptune_token(key)})
        assert answer.status_code == 200, answer.text
        self.tokens = answer.json()
        self.auth = {"authorization": f"Bearer {self.tokens['accessToken']}"}

    def submit(self, op: ingest_pb2.RunOperation | bytes) -> str:
        body = op if isinstance(op, bytes) else op.SerializeToString()
        answer = self.client.post("/api/client/v1/ingest", content=body, headers={**PB, **self.auth})
        assert answer.status_code == 200, answer.text
        reply = client_pb2.SubmitResponse.FromString(answer.content)
        assert reply.request_ids == [reply.request_id]
        return str(reply.request_id)

    def check(self, *ids: str, auth: dict[str, str] | None = None) -> list[list[tuple[int, int, int]]]:
        body = client_pb2.RequestIdList(ids=[client_pb2.RequestId(value=i) for i in ids]).SerializeToString()
        answer = self.client.post(f"/api/client/v1/ingest/check?projectIdentifier={self.project}", content=body,
                                  headers={**PB, **(auth or self.auth)})
        assert answer.status_code == 200, answer.text
        statuses = client_pb2.BulkRequestStatus.FromString(answer.content).statuses
        return [[(e.code, e.count, e.detail) for e in s.code_by_count] for s in statuses]

    def create(self, run_id: str, **fields: object) -> ingest_pb2.RunOperation:
        return ingest_pb2.RunOperation(project=self.project, run_id=run_id, create=c.Run(family=run_id, **fields))

    def batch(self, run_id: str, *snapshots: c.UpdateRunSnapshot, project: str | None = None
              ) -> ingest_pb2.RunOperation:
        return ingest_pb2.RunOperation(project=project or self.project, run_id=run_id,
                                       update_batch=c.UpdateRunSnapshots(snapshots=list(snapshots)))


@pytest.fixture
def neptune(client: TestClient, services: Services, project_key: tuple[str, str]) -> Neptune:
    return Neptune(client, services, *project_key)


def metrics(step: float, **values: float) -> c.UpdateRunSnapshot:
    whole = int(step)
    return c.UpdateRunSnapshot(step=c.Step(whole=whole, micro=round((step - whole) * 1e6)),
                               append={k: c.Value(float64=v) for k, v in values.items()})


# ------------------------------------------------------------------------------------------------ sign-in
def test_sign_in_as_neptune_scale_does(client: TestClient, neptune: Neptune) -> None:
    config = client.get("/api/backend/v1/clients/config").json()
    assert config["security"]["clientId"] == "neptune-cli"
    assert isinstance(config["pyLibVersions"], dict)
    assert config["apiUrl"] == "http://testserver"
    discovery = client.get(config["security"]["openIdDiscovery"]).json()
    assert {"authorization_endpoint", "token_endpoint"} <= set(discovery)
    claims = jwt.decode(neptune.tokens["accessToken"], options={"verify_signature": False})
    assert claims["sub"] == neptune.project_id
    assert claims["exp"] > claims["iat"]
    # neptune-query refreshes at <iss>/protocol/openid-connect/token; neptune-scale at the discovered endpoint
    assert discovery["token_endpoint"] == claims["iss"] + "/protocol/openid-connect/token"
    refreshed = client.post(discovery["token_endpoint"], data={
        "grant_type": "refresh_token", "refresh_token": neptune.tokens["refreshToken"], "client_id": "neptune-cli",
        "expires_in": "-3.5"})
    assert refreshed.status_code == 200, refreshed.text
    new = refreshed.json()
    assert neptune.services.neptune_tokens.verify(new["access_token"]).project_id == neptune.project_id
    assert new["refresh_token"] != neptune.tokens["refreshToken"]


def test_a_rejected_key_is_401(client: TestClient, services: Services, neptune: Neptune) -> None:
    for header in ("", "not base64!", base64.b64encode(b'{"api_url": "x"}').decode(),
                   neptune_token("neon_sk_aaaaaaaaaaaa_" + "a" * 43), neptune_token("garbage")):
        answer = client.get("/api/backend/v1/authorization/oauth-token", headers={"X-Neptune-Api-Token": header})
        assert answer.status_code == 401, header
        assert answer.json()["error"]["message"]


def test_refresh_needs_a_live_key_and_a_refresh_token(client: TestClient, services: Services,
                                                      neptune: Neptune) -> None:
    path = "/api/neptune/oauth/protocol/openid-connect/token"
    access = client.post(path, data={"grant_type": "refresh_token", "refresh_token": neptune.tokens["accessToken"]})
    assert access.status_code == 401
    key = services.keys.list(neptune.project_id)[0]
    services.keys.revoke(neptune.project_id, key.id)
    revoked = client.post(path, data={"grant_type": "refresh_token", "refresh_token": neptune.tokens["refreshToken"]})
    assert revoked.status_code == 401
    assert "revoked" in revoked.json()["error"]["message"]


# ------------------------------------------------------------------------------------------------ ingest
def test_ingest_writes_before_answering_and_check_reports_it(neptune: Neptune) -> None:
    created = neptune.submit(neptune.create("r1", experiment_id="exp"))
    assert neptune.check(created) == [[(0, 1, 0)]]
    assert neptune.services.track.run(neptune.project_id, "r1").experiment_name == "exp"
    written = neptune.submit(neptune.batch("r1", metrics(0.5, loss=1.0), metrics(1.25, loss=float("nan")),
                                           c.UpdateRunSnapshot(assign={"lr": c.Value(float64=0.1)})))
    # answered, so already in the store (no waiting)
    points = neptune.services.track.points("float", neptune.project_id, "r1", "loss").to_pydict()
    assert points["step"] == [0.5, 1.25]
    assert points["value"][0] == 1.0
    assert neptune.services.track.attributes(neptune.project_id, "r1")["lr"] == ("float", 0.1)
    assert neptune.check(written, created) == [[(0, 3, 0)], [(0, 1, 0)]]
    again = neptune.submit(neptune.create("r1", experiment_id="exp"))  # a resume
    assert neptune.check(again) == [[(6, 1, 11)]]  # RUN_DUPLICATE: a warning, the run goes on


def test_data_problems_come_back_as_codes_and_the_rest_is_written(neptune: Neptune) -> None:
    neptune.submit(neptune.create("r1"))
    big = "x" * (1 << 20 + 1)
    request = neptune.submit(neptune.batch("r1", metrics(1, good=1.0), c.UpdateRunSnapshot(assign={
        "too_long": c.Value(string=big), "sys/id": c.Value(string="mine"), "fine": c.Value(string="ok")})))
    status = neptune.check(request)[0]
    assert (0, 2, 0) in status  # good, fine
    assert (3, 1, 36) in status  # STRING_VALUE_EXCEEDS_SIZE_LIMIT
    assert (3, 1, 19) in status  # FIELD_PATH_NON_WRITABLE
    attributes = neptune.services.track.attributes(neptune.project_id, "r1")
    assert attributes["fine"] == ("string", "ok")
    assert "too_long" not in attributes
    assert attributes["sys/id"] == ("string", "NEON-1")
    unknown = neptune.submit(neptune.batch("nope", metrics(1, m=1.0)))
    assert neptune.check(unknown) == [[(5, 1, 10)]]  # RUN_NOT_FOUND
    orphan = neptune.submit(neptune.create("child", fork_point=c.ForkPoint(
        parent_project=neptune.project, parent_run_id="missing", step=c.Step(whole=1))))
    assert neptune.check(orphan) == [[(5, 1, 13)]]  # RUN_FORK_PARENT_NOT_FOUND: a warning, so the client goes on
    orphan_run = neptune.services.track.run(neptune.project_id, "child")  # and what it logs next is kept
    assert (orphan_run.fork_parent_run_id, orphan_run.fork_step) == ("", None)
    logged = neptune.submit(neptune.batch("child", metrics(2, m=1.0)))
    assert neptune.check(logged) == [[(0, 1, 0)]]


def test_malformed_or_misaddressed_requests_stop_the_client_without_losing_anything(neptune: Neptune) -> None:
    malformed = neptune.submit(b"\xff\xff\xff not protobuf")
    assert neptune.check(malformed) == [[(3, 1, 14)]]  # RUN_INVALID_CREATION_PARAMETERS: fatal, ops kept locally
    elsewhere = neptune.submit(neptune.batch("r1", metrics(1, m=1.0), project="ws/not-this-one"))
    assert neptune.check(elsewhere) == [[(5, 1, 8)]]  # PROJECT_NOT_FOUND
    answer = neptune.client.post("/api/client/v1/ingest", content=neptune.create("r1").SerializeToString(),
                                 headers={**PB, **neptune.auth, "content-encoding": "br"})
    assert answer.status_code == 200
    brotli = client_pb2.SubmitResponse.FromString(answer.content).request_id
    assert neptune.check(brotli) == [[(3, 1, 14)]]
    invalid = neptune.submit(neptune.batch("r1", metrics(1, m=1.0), project="no-slash"))
    assert neptune.check(invalid) == [[(3, 1, 9)]]  # PROJECT_INVALID_NAME
    assert neptune.services.track.runs(neptune.project_id) == []


def test_a_16_mib_request_is_accepted(neptune: Neptune) -> None:
    neptune.submit(neptune.create("big"))
    line = "y" * (1 << 20)
    op = neptune.batch("big", *(c.UpdateRunSnapshot(step=c.Step(whole=i), append={"log": c.Value(string=line)})
                                for i in range(15)))
    assert len(op.SerializeToString()) > 15 * 2**20
    assert neptune.check(neptune.submit(op)) == [[(0, 15, 0)]]
    assert neptune.services.track.series(neptune.project_id, "big")["log"].count == 15


def test_a_body_over_the_limit_stops_the_client_instead_of_a_413_retried_forever(
        tmp_path: Path, analytics: AnalyticsDB, metadata: MetadataStore) -> None:
    services = make_services(tmp_path, analytics, metadata, ingest_max_body_bytes=16 * 2**20)
    project = services.projects.create("limits")
    _, key = services.keys.create(project.id)
    try:
        with TestClient(create_app(services)) as client:
            neptune = Neptune(client, services, project.id, key)
            neptune.submit(neptune.create("r1"))
            line = "z" * (1 << 20)
            op = neptune.batch("r1", *(c.UpdateRunSnapshot(step=c.Step(whole=i), append={"log": c.Value(string=line)})
                                       for i in range(17)))
            assert neptune.check(neptune.submit(op)) == [[(3, 1, 14)]]
            assert "log" not in services.track.series(project.id, "r1")
    finally:
        services.stop_scoring()
        services.stop_writers()


def test_tokens_on_data_routes(client: TestClient, services: Services, neptune: Neptune) -> None:
    body = neptune.create("r1").SerializeToString()
    url = "/api/client/v1/ingest"
    assert client.post(url, content=body, headers=PB).status_code == 401
    claims = jwt.decode(neptune.tokens["accessToken"], options={"verify_signature": False})
    forged = jwt.encode({**claims, "sub": "prj_other"}, "another-secret-of-at-least-32-bytes!", algorithm="HS256")
    # signed with the server's own secret, but issued two hours ago
    past = NeptuneTokens(load_secret(None, services.settings.home), clock=lambda: time.time() - 7200)
    expired = past.issue(services.neptune_tokens.verify(neptune.tokens["accessToken"]), "http://testserver").access
    for token, why in ((forged, "invalid signature"), (neptune.tokens["refreshToken"], "refresh token was sent"),
                       ("junk", "invalid"), (expired, "expired")):
        answer = client.post(url, content=body, headers={**PB, "authorization": f"Bearer {token}"})
        # 401, not 403: neptune-scale retries it, refreshing an expired token first (403 would stop it)
        assert answer.status_code == 401, token
        assert why in answer.json()["error"]["message"]
    assert services.track.runs(neptune.project_id) == []


def test_a_token_of_another_project(client: TestClient, services: Services, neptune: Neptune) -> None:
    other = services.projects.create("other-project")
    _, other_key = services.keys.create(other.id)
    theirs = Neptune(client, services, other.id, other_key)
    # their token, our project's name: PROJECT_NOT_FOUND, nothing written anywhere
    request = theirs.submit(neptune.create("r1"))
    assert theirs.check(request) == [[(5, 1, 8)]]
    assert services.track.runs(neptune.project_id) == []
    assert services.track.runs(other.id) == []
    # our request ids mean nothing to them
    ours = neptune.submit(neptune.create("r1"))
    assert theirs.check(ours) == [[(13, 1, 64)]]
    assert neptune.check(ours) == [[(0, 1, 0)]]


# ------------------------------------------------------------------------------------------------ files
def sign(neptune: Neptune, path: str, size: int | None, permission: str = "write") -> dict[str, object]:
    answer = neptune.client.post("/api/storagebridge/v1/signedUrl", headers=neptune.auth, json={"files": [
        {"path": path, "permission": permission, "project_identifier": neptune.project, "size": size}]})
    assert answer.status_code == 200, answer.text
    signed: dict[str, object] = answer.json()["files"][0]
    assert signed["path"] == path
    assert signed["provider"] == "aws"
    return signed


def test_a_file_is_put_with_an_etag_and_read_back(neptune: Neptune) -> None:
    data = b"file content\n"
    signed = sign(neptune, "r1-abc/files_one-123/none/f.txt", len(data))
    assert signed["multipart"] is None
    put = neptune.client.put(str(signed["url"]), content=data, headers={"content-type": "text/plain"})
    assert put.status_code == 200, put.text
    assert put.headers["etag"] == f'"{hashlib.md5(data).hexdigest()}"'  # noqa: S324 - S3's ETag
    stored = neptune.services.settings.home / "track-files" / neptune.project_id / "r1-abc/files_one-123/none/f.txt"
    assert stored.read_bytes() == data
    read = sign(neptune, "r1-abc/files_one-123/none/f.txt", None, "read")
    got = neptune.client.get(str(read["url"]))
    assert got.status_code == 200
    assert got.content == data
    assert neptune.client.get(str(sign(neptune, "missing", None, "read")["url"])).status_code == 404


def test_file_urls_are_scoped_and_paths_cannot_escape(neptune: Neptune) -> None:
    url = str(sign(neptune, "a/b.txt", 3)["url"])
    for altered in (url.replace("a%2Fb.txt", "a%2Fc.txt"), url.replace("op=write", "op=read"), url[:-4] + "0000",
                    url.split("&sig=", maxsplit=1)[0]):
        assert neptune.client.put(altered, content=b"abc").status_code == 403, altered
    read_url = str(sign(neptune, "a/b.txt", None, "read")["url"])
    assert neptune.client.put(read_url, content=b"abc").status_code == 403
    for bad in ("../escape", "/etc/passwd", "a/../../b", "a//b", "a\\..\\b"):
        answer = neptune.client.put(str(sign(neptune, bad, 3)["url"]), content=b"abc")
        assert answer.status_code == 400, bad  # the client reports it and moves on
        assert "path" in answer.json()["error"]["message"]
    assert not (neptune.services.settings.home / "escape").exists()
    # a path that is a folder of stored files, or under a stored file: refused (a 5xx would be retried forever)
    assert neptune.client.put(str(sign(neptune, "a/b.txt", 3)["url"]), content=b"abc").status_code == 200
    for clash in ("a", "a/b.txt/c"):
        assert neptune.client.put(str(sign(neptune, clash, 3)["url"]), content=b"abc").status_code == 400, clash
    wrong = neptune.client.post("/api/storagebridge/v1/signedUrl", headers=neptune.auth, json={"files": [
        {"path": "x", "permission": "write", "project_identifier": "ws/other", "size": 1}]})
    assert wrong.status_code == 403


@pytest.fixture
def small_parts(tmp_path: Path, analytics: AnalyticsDB, metadata: MetadataStore) -> Iterator[Neptune]:
    services = make_services(tmp_path, analytics, metadata, neptune_file_part_bytes=1024)
    project = services.projects.create("files")
    _, key = services.keys.create(project.id)
    with TestClient(create_app(services)) as client:
        yield Neptune(client, services, project.id, key)
    services.stop_scoring()
    services.stop_writers()


def test_a_big_file_is_uploaded_in_parts(small_parts: Neptune) -> None:
    neptune = small_parts
    data = bytes(range(256)) * 10  # 2560 bytes: 3 parts of 1024
    signed = sign(neptune, "run/big/none/data.bin", len(data))
    multipart = signed["multipart"]
    assert isinstance(multipart, dict)
    assert multipart["part_size"] == 1024
    assert len(multipart["part_urls"]) == 3
    etags = []
    for number, part_url in enumerate(multipart["part_urls"]):
        chunk = data[number * 1024:(number + 1) * 1024]
        put = neptune.client.put(part_url, content=chunk)
        assert put.status_code == 200
        etags.append(put.headers["etag"].strip('"'))
    assert neptune.services.neptune_files.store.find(neptune.project_id, "run/big/none/data.bin") is None
    done = neptune.client.post("/api/storagebridge/v1/s3/completeMultipartUpload", headers=neptune.auth, json={
        "upload_id": multipart["upload_id"], "project_identifier": neptune.project, "path": "run/big/none/data.bin",
        "parts": [{"part_number": n, "etag": e} for n, e in enumerate(etags, start=1)]})
    assert done.status_code == 200, done.text
    read = sign(neptune, "run/big/none/data.bin", None, "read")
    assert neptune.client.get(str(read["url"])).content == data
    again = neptune.client.post("/api/storagebridge/v1/s3/completeMultipartUpload", headers=neptune.auth, json={
        "upload_id": multipart["upload_id"], "project_identifier": neptune.project, "path": "run/big/none/data.bin",
        "parts": [{"part_number": n, "etag": e} for n, e in enumerate(etags, start=1)]})
    assert again.status_code == 400
    assert "no multipart upload" in again.json()["error"]["message"]


def test_unfinished_uploads_are_forgotten_after_a_day(small_parts: Neptune) -> None:
    neptune = small_parts
    multipart = sign(neptune, "run/left/none/a.bin", 4000)["multipart"]
    assert isinstance(multipart, dict)
    assert neptune.client.put(multipart["part_urls"][0], content=b"x" * 1024).status_code == 200
    uploads = neptune.services.settings.home / "track-files" / ".uploads" / neptune.project_id
    (left,) = uploads.iterdir()
    sign(neptune, "run/other/none/b.bin", 4000)  # a new upload looks for old ones
    assert left.exists()
    old = time.time() - 86_401
    os.utime(left, (old, old))
    sign(neptune, "run/other/none/b.bin", 4000)
    assert not left.exists()
