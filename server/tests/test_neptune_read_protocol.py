"""Neptune's read protocol on the wire: hostile NQL, pages (offsets, afterStep, searchAfter, tokens), sorting by
a series aggregate, overload and credentials, with the raw requests neptune-query makes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest
from neptune_api.proto.neptune_pb.api.v1.model.series_values_pb2 import (
    ProtoFloatSeriesValuesResponseDTO,
    ProtoSeriesValuesResponseDTO,
)

from neon_server.runtime import Services
from neon_server.services.neptune_read import NeptuneRead
from neon_server.storage.analytics.track_read import TrackReadStore
from server.tests.neptune_read_rig import (
    SEARCH,
    Setup,
    post,
    reading,
    search_ids,
    token_for,
)


@pytest.fixture
def setup(live_server: Any, services: Services, project_key: tuple[str, str],
          monkeypatch: pytest.MonkeyPatch) -> Iterator[Setup]:
    yield from reading(live_server, services, project_key, monkeypatch)


HOSTILE_NQL = [
    '`sys/name` == "x" OR 1=1 --',
    '`sys/name`:string == "a") UNION SELECT * FROM system.tables --',
    '`config/lr`:float > "0; DROP TABLE track_runs"',
    "`sys/name` == \"unterminated",
    "/* comment */ `a` == \"b\"",
    "(" * 200 + '`a` == "b"' + ")" * 200,
    '`a` == "b" AND ' * 2000 + '`a` == "b"',
    '`sys/name`:string MATCHES "(unclosed"',
    '`sys/name`:string MATCHES "(?=lookahead)"',
]


@pytest.mark.slow
def test_hostile_nql_gets_a_4xx_and_touches_nothing(setup: Setup) -> None:
    before = setup.services.track.runs(setup.project_id)
    for query in HOSTILE_NQL:
        answer = post(setup, SEARCH, {"query": {"query": query}, "attributeFilters": [{"path": "sys/id"}]},
                      projectIdentifier=setup.project, type="run")
        assert answer.status_code == 422, (query, answer.text)
        assert answer.json()["message"].startswith("NQL: "), (query, answer.text)
    assert setup.services.track.runs(setup.project_id) == before
    assert sorted(search_ids(setup, {})) == ["base-1", "base-2", "fork-1", "loner", "other-1"]


def test_too_many_reads_at_once_answer_429_with_retry_after(setup: Setup) -> None:
    services = setup.services
    services.neptune_read = NeptuneRead(TrackReadStore(services.analytics), lambda p: services.projects.get(p).name,
                                        max_concurrent=0)
    answer = post(setup, SEARCH, {}, projectIdentifier=setup.project, type="run")
    assert answer.status_code == 429
    assert answer.headers["Retry-After"] == "1"


def test_sorts_by_a_series_aggregate_and_pages_by_offset(setup: Setup) -> None:
    def by(mode: str, direction: str = "descending", **page: int) -> list[str]:
        return search_ids(setup, {"sorting": {"dir": direction, "aggregationMode": mode,
                                              "sortBy": {"name": "loss", "type": "floatSeries"}},
                                  "pagination": {"limit": 10, **page}})

    # max loss (NaN is not a value): other-1 3.0, fork-1 10/3.5, base-2 2.0, base-1 1.0; loner has no loss
    assert by("max") == ["other-1", "fork-1", "base-2", "base-1", "loner"]
    assert by("min", "ascending") == ["base-1", "base-2", "other-1", "fork-1", "loner"]
    assert by("max", offset=1, limit=2) == ["fork-1", "base-2"]
    assert by("max", offset=9) == []


def test_float_pages_follow_after_step_and_series_pages_their_token(setup: Setup,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    def floats(after: float | None) -> list[float]:
        request: dict[str, Any] = {"requestId": "0", "series": {
            "holder": {"identifier": f"{setup.project}/NEON-4", "type": "experiment"}, "attribute": "loss",
            "lineage": "FULL"}}
        if after is not None:
            request["afterStep"] = after
        answer = post(setup, "/api/leaderboard/v1/proto/attributes/series/float",
                      {"requests": [request], "order": "descending", "perSeriesPointsLimit": 3})
        assert answer.status_code == 200, answer.text
        series = ProtoFloatSeriesValuesResponseDTO.FromString(answer.content).series
        return [v.step for v in series[0].series.values]

    # NEON-4 is fork-1: its own points, then base-1's up to the fork step
    assert floats(None) == [3.5, 3.0, 2.5]
    assert floats(2.5) == [2.0, 1.5, 1.0]
    assert floats(1.0) == [0.5, 0.0]

    from neon_server.services import neptune_series

    monkeypatch.setattr(neptune_series, "PAGE", 2)
    search_after: dict[str, Any] | None = None
    pages = []
    while True:
        request: dict[str, Any] = {"requestId": "7", "series": {
            "holder": {"identifier": f"CUSTOM/{setup.project}/base-1", "type": "experiment"}, "attribute": "logs",
            "lineage": "NONE"}}
        if search_after is not None:
            request["searchAfter"] = search_after
        answer = post(setup, "/api/leaderboard/v1/proto/attributes/series",
                      {"requests": [request], "order": "descending", "perSeriesPointsLimit": 5},
                      useDeprecatedStringFields="false")
        assert answer.status_code == 200, answer.text
        (series,) = ProtoSeriesValuesResponseDTO.FromString(answer.content).series
        pages.append([v.step for v in series.seriesValues.values])
        if series.searchAfter.finished:
            break
        search_after = {"finished": False, "token": series.searchAfter.token}
    assert pages == [[3.0, 2.5], [2.0, 1.5], [1.0]]  # 5 points at most, 2 an answer


def test_attribute_definitions_page_by_token(setup: Setup) -> None:
    names: list[str] = []
    page: dict[str, Any] = {"limit": 2}
    while True:
        answer = post(setup, "/api/leaderboard/v1/leaderboard/attributes/definitions/query", {
            "projectIdentifiers": [setup.project], "experimentIdsFilter": [f"{setup.project}/NEON-1"],
            "attributeNameFilter": {"mustMatchAny": [{"mustMatchRegexes": ["^config/"],
                                                      "mustNotMatchRegexes": ["lr"]}]},
            "nextPage": page})
        assert answer.status_code == 200, answer.text
        names += [e["name"] for e in answer.json()["entries"]]
        token = answer.json()["nextPage"].get("nextPageToken")
        if not token:
            break
        page = {"limit": 2, "nextPageToken": token}
    assert names == ["config/amp", "config/epochs", "config/labels", "config/name", "config/start",
                     "config/weights"]
    bad = post(setup, "/api/leaderboard/v1/leaderboard/attributes/definitions/query",
               {"nextPage": {"limit": 2, "nextPageToken": "not-a-token"}})
    assert bad.status_code == 400
    assert "nextPageToken" in bad.json()["message"]
    for regex, why in (("(", "invalid attribute name regex"), ("a(?!b)", "RE2"), ("x" * 1001, "longer than")):
        refused = post(setup, "/api/leaderboard/v1/leaderboard/attributes/definitions/query",
                       {"attributeNameFilter": {"mustMatchAny": [{"mustMatchRegexes": [regex]}]}})
        assert refused.status_code == 422, refused.text
        assert why in refused.json()["message"]


def test_reads_need_a_credential(setup: Setup) -> None:
    answer = httpx.post(setup.url + SEARCH, json={}, params={"projectIdentifier": setup.project}, timeout=30)
    assert answer.status_code == 401



def test_access_tokens_are_neons_and_checked_on_every_read(setup: Setup) -> None:
    exchange = "/api/backend/v1/authorization/oauth-token"
    refused = httpx.get(setup.url + exchange, headers={"X-Neptune-Api-Token": token_for(setup.url, "neon_sk_nope")})
    assert refused.status_code == 401
    garbled = httpx.get(setup.url + exchange, headers={"X-Neptune-Api-Token": "not base64 json"})
    assert garbled.status_code == 401
    assert "NEPTUNE_API_TOKEN" in garbled.json()["error"]["message"]
    tokens = httpx.get(setup.url + exchange, headers={"X-Neptune-Api-Token": token_for(setup.url, setup.key)}).json()
    access = tokens["accessToken"]
    claims = jwt.decode(access, options={"verify_signature": False})
    assert {"exp", "iss", "azp"} <= claims.keys()  # what neptune-query reads

    def read(token: str) -> int:
        return httpx.post(setup.url + SEARCH, json={}, params={"projectIdentifier": setup.project},
                          headers={"Authorization": f"Bearer {token}"}, timeout=30).status_code

    assert read(access) == 200
    forged = jwt.encode({**claims, "sub": "prj_someone_else"}, "not-the-secret", algorithm="HS256")
    assert read(forged) == 401
    expired = jwt.encode({**claims, "exp": 1}, "not-the-secret", algorithm="HS256")
    assert read(expired) == 401
    header, payload, signature = access.split(".")
    assert read(f"{header}.{payload}.{signature[::-1]}") == 401
