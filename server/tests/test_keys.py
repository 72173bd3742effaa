"""API keys: format, hashing at rest, verification errors, revocation and the short verification cache."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from neon_server.services.errors import Unauthorized
from neon_server.services.keys import KEY_PATTERN, KeyService, hash_key
from neon_server.storage.metadata import MetadataStore


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def project(metadata: MetadataStore) -> str:
    return metadata.projects.create("prj_a", "a").id


def test_keys_are_random_shown_once_and_stored_as_hash(metadata: MetadataStore, project: str) -> None:
    service = KeyService(metadata.api_keys)
    key, secret = service.create(project, "ci")
    _other_key, other_secret = service.create(project, "ci")
    assert KEY_PATTERN.match(secret)
    assert secret != other_secret
    assert secret.startswith(key.prefix + "_")
    with metadata.engine.connect() as conn:
        stored = conn.execute(text("SELECT * FROM api_keys")).mappings().all()
    dump = repr(stored)
    assert secret not in dump
    assert secret.rsplit("_", 1)[1] not in dump
    assert {r["secret_hash"] for r in stored} == {hash_key(secret), hash_key(other_secret)}


def test_authenticate_and_each_failure_says_why(metadata: MetadataStore, project: str) -> None:
    service = KeyService(metadata.api_keys, cache_seconds=0)
    key, secret = service.create(project)
    principal = service.authenticate(secret)
    assert (principal.project_id, principal.key_id, principal.key_prefix) == (project, key.id, key.prefix)

    with pytest.raises(Unauthorized, match="malformed API key"):
        service.authenticate("hello")
    with pytest.raises(Unauthorized, match="malformed API key"):
        service.authenticate(secret + "x")
    forged = secret[:-4] + ("AAAA" if not secret.endswith("AAAA") else "BBBB")
    with pytest.raises(Unauthorized, match=f"unknown API key {key.prefix}"):
        service.authenticate(forged)  # right prefix, wrong secret
    with pytest.raises(Unauthorized, match="unknown API key neon_sk_zzzzzzzzzzzz"):
        service.authenticate("neon_sk_zzzzzzzzzzzz_" + "A" * 43)
    service.revoke(project, key.id)
    with pytest.raises(Unauthorized, match=f"API key {key.prefix}… was revoked at 20"):
        service.authenticate(secret)


def test_revocation_is_immediate_here_and_within_the_cache_window_elsewhere(
        metadata: MetadataStore, project: str) -> None:
    clock = Clock()
    server = KeyService(metadata.api_keys, cache_seconds=2.0, clock=clock)
    admin = KeyService(metadata.api_keys, cache_seconds=0)  # e.g. the CLI, another process
    key, secret = server.create(project)
    assert server.authenticate(secret).key_id == key.id
    assert server.cached(secret) is not None

    admin.revoke(project, key.id)
    assert server.authenticate(secret).key_id == key.id  # still trusted inside the cache window
    clock.now += 2.01
    assert server.cached(secret) is None
    with pytest.raises(Unauthorized, match="revoked"):
        server.authenticate(secret)

    key2, secret2 = server.create(project)
    server.authenticate(secret2)
    server.revoke(project, key2.id)  # revoked through the same service: no window at all
    with pytest.raises(Unauthorized, match="revoked"):
        server.authenticate(secret2)


def test_last_used_is_recorded_at_most_once_a_minute(metadata: MetadataStore, project: str) -> None:
    clock = Clock()
    service = KeyService(metadata.api_keys, cache_seconds=0, clock=clock)
    _key, secret = service.create(project)
    service.authenticate(secret)
    first = metadata.api_keys.list(project)[0].last_used_at
    assert first is not None
    clock.now += 30
    service.authenticate(secret)
    assert metadata.api_keys.list(project)[0].last_used_at == first
    clock.now += 31
    service.authenticate(secret)
    later = metadata.api_keys.list(project)[0].last_used_at
    assert later is not None
    assert later > first
