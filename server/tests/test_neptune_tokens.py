"""Neptune access/refresh JWTs and the request ids that carry an ingest outcome."""

from __future__ import annotations

import jwt
import pytest

from neon_server.domain.projects import Principal
from neon_server.domain.track import Outcome, Rejection, TrackCode
from neon_server.services.errors import Unauthorized
from neon_server.services.neptune_ingest import RequestIds, entries_of, project_problem
from neon_server.services.neptune_tokens import ALGORITHM, NeptuneTokens

SECRET = b"s" * 32
WHO = Principal(project_id="prj_1", key_id="key_1", key_prefix="neon_sk_abc")


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def test_an_access_token_carries_what_the_clients_read_and_verifies() -> None:
    tokens = NeptuneTokens(SECRET, access_seconds=600)
    pair = tokens.issue(WHO, "http://neon:3000/")
    claims = jwt.decode(pair.access, options={"verify_signature": False})
    assert claims["iss"] == "http://neon:3000/api/neptune/oauth"
    assert claims["azp"] == "neptune-cli"
    assert claims["sub"] == "prj_1"
    assert claims["exp"] - claims["iat"] == 600
    assert jwt.get_unverified_header(pair.access)["alg"] == "HS256"
    assert tokens.verify(pair.access) == WHO
    assert tokens.verify(pair.refresh, "refresh") == WHO


def test_tokens_expire() -> None:
    clock = Clock()
    tokens = NeptuneTokens(SECRET, access_seconds=60, refresh_seconds=120, clock=clock)
    pair = tokens.issue(WHO, "http://neon")
    clock.now -= 61
    old = tokens.issue(WHO, "http://neon")  # issued 61 s ago
    clock.now += 61
    with pytest.raises(Unauthorized, match="expired"):
        tokens.verify(old.access)
    assert tokens.verify(old.refresh, "refresh") == WHO
    assert tokens.verify(pair.access) == WHO


def test_a_forged_or_altered_token_is_refused() -> None:
    tokens = NeptuneTokens(SECRET)
    pair = tokens.issue(WHO, "http://neon")
    claims = jwt.decode(pair.access, options={"verify_signature": False})
    other_project = jwt.encode({**claims, "sub": "prj_2"}, "a-guessed-secret-of-32-bytes-or-more", algorithm=ALGORITHM)
    with pytest.raises(Unauthorized, match="invalid signature"):
        tokens.verify(other_project)
    unsigned = jwt.encode({**claims, "sub": "prj_2"}, None, algorithm="none")
    with pytest.raises(Unauthorized, match="invalid Neptune access token"):
        tokens.verify(unsigned)
    with pytest.raises(Unauthorized, match="invalid signature"):
        NeptuneTokens(b"t" * 32).verify(pair.access)  # another server's secret
    with pytest.raises(Unauthorized):
        tokens.verify("not a jwt")


def test_a_refresh_token_is_not_an_access_token_nor_the_reverse() -> None:
    tokens = NeptuneTokens(SECRET)
    pair = tokens.issue(WHO, "http://neon")
    with pytest.raises(Unauthorized, match="refresh token was sent where a access"):
        tokens.verify(pair.refresh)
    with pytest.raises(Unauthorized, match="access token was sent where a refresh"):
        tokens.verify(pair.access, "refresh")


def test_request_ids_carry_their_outcome_for_their_project_only() -> None:
    ids = RequestIds(SECRET)
    entries = entries_of(Outcome(accepted=5, rejections=(Rejection(TrackCode.STRING_VALUE_EXCEEDS_SIZE_LIMIT, 1,
                                                                    "too long"),)))
    assert entries == ((0, 5, 0), (3, 1, 36))
    request_id = ids.issue("prj_1", entries)
    assert ids.outcome("prj_1", request_id) == entries
    assert RequestIds(SECRET).outcome("prj_1", request_id) == entries  # after a restart: same secret, same answer
    assert ids.outcome("prj_2", request_id) is None
    assert ids.outcome("prj_1", request_id[:-2] + ("AA" if request_id[-2:] != "AA" else "BB")) is None
    assert RequestIds(b"t" * 32).outcome("prj_1", request_id) is None
    assert ids.outcome("prj_1", "garbage") is None
    assert ids.issue("prj_1", entries) != request_id  # every request gets its own id


def test_outcomes_become_status_entries() -> None:
    assert entries_of(Outcome(TrackCode.RUN_NOT_FOUND, "no run")) == ((5, 1, 10),)
    assert entries_of(Outcome(TrackCode.RUN_DUPLICATE, "exists")) == ((6, 1, 11),)
    assert entries_of(Outcome()) == ((0, 0, 0),)
    assert entries_of(Outcome(accepted=0), [(TrackCode.FIELD_TYPE_UNSUPPORTED, 2)]) == ((3, 2, 20),)


def test_the_project_part_of_neptune_project_names_the_neon_project() -> None:
    assert project_problem("any-workspace/default", "default") is None
    other = project_problem("ws/other", "default")
    assert other is not None
    assert other[0] == TrackCode.PROJECT_NOT_FOUND
    assert "ws/other" in other[1]
    assert "<any workspace>/default" in other[1]
    for bad in ("default", "/default", "ws/", "a/b/c", ""):
        problem = project_problem(bad, "default")
        assert problem is not None, bad
        assert problem[0] == TrackCode.PROJECT_INVALID_NAME, bad
