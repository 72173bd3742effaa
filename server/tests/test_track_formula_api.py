"""POST /api/track/formula and /api/track/formula/check over HTTP: answers, 422s with positions, hostile input."""

from __future__ import annotations

import asyncio
import math
from typing import Any

import numpy as np
import pytest

from neon_server.domain.track import RunCreate, RunWrites
from neon_server.runtime import Services
from neon_server.track.formula import parse
from server.tests.formula_reference import evaluate, same


@pytest.fixture
def headers(services: Services, project_key: tuple[str, str]) -> dict[str, str]:
    project, secret = project_key
    for run_id, scale in (("a", 1.0), ("b", 2.0)):
        asyncio.run(services.track.create_run(project, RunCreate(run_id)))
        writes = RunWrites(run_id)
        for i in range(2000):
            writes.add_float("loss", i, 0, scale / (1 + i) if i != 1500 else math.nan)
            writes.add_float("lr", i, 0, 0.01 * scale)
        asyncio.run(services.track.write(project, writes))
    return {"Authorization": f"Bearer {secret}"}


def data(scale: float) -> dict[str, dict[float, float]]:
    return {"loss": {float(i): scale / (1 + i) if i != 1500 else math.nan for i in range(2000)},
            "lr": {float(i): 0.01 * scale for i in range(2000)}}


def test_check_lists_references_and_functions_without_sql(client: Any, headers: dict[str, str]) -> None:
    answer = client.post("/api/track/formula/check", json={"formula": "mean(ema(${loss}, 0.1) / ${lr})"},
                         headers=headers)
    assert answer.status_code == 200
    assert answer.json() == {"ok": True, "references": ["loss", "lr"], "functions": ["mean", "ema"],
                             "aggregate": "mean"}
    bad = client.post("/api/track/formula/check", json={"formula": "ema(${loss}, 0.1"}, headers=headers)
    assert bad.status_code == 422
    error = bad.json()["error"]
    assert error["code"] == "invalid_input"
    assert error["position"] == 16
    assert error["expected"] == '")" to close ema('
    assert error["message"] == 'formula: expected ")" to close ema(, found the end of the formula at 16'
    typo = client.post("/api/track/formula/check", json={"formula": "emaa(${loss}, 0.1)"}, headers=headers)
    assert "did you mean ema?" in typo.json()["error"]["message"]
    assert client.post("/api/track/formula/check", json={"formula": "1 + 2"}, headers=headers).status_code == 422


def test_per_run_answers_like_buckets(client: Any, headers: dict[str, str]) -> None:
    text = "ema(${loss}, 0.1) / ${lr}"
    answer = client.post("/api/track/formula", json={"formula": text, "runs": ["a", "b"], "buckets": 10},
                         headers=headers)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["references"] == ["loss", "lr"]
    assert body["groups"] == []
    assert [r["run_id"] for r in body["runs"]] == ["a", "b"]
    for run, scale in zip(body["runs"], (1.0, 2.0), strict=True):
        _, values = evaluate(parse(text), data(scale))
        assert (run["from_x"], run["to_x"], run["exact"]) == (0.0, 1999.0, False)
        columns = run["buckets"]
        assert len(columns["index"]) == 10
        assert sum(columns["finite_count"]) == int(np.isfinite(values).sum())
        assert sum(columns["nan_count"]) == int(np.isnan(values).sum()) == 500  # NaN at 1500 carries on in ema
        assert same(columns["first_y"][0], values[0])
    exact = client.post("/api/track/formula", json={"formula": "${loss} * 2", "runs": ["a"], "from_x": 1499,
                                                    "to_x": 1501}, headers=headers).json()["runs"][0]
    assert exact["exact"]
    assert exact["points"] == [[1499.0, 2 / 1500], [1500.0, "NaN"], [1501.0, 2 / 1502]]


def test_groups_answer_a_line_and_a_band(client: Any, headers: dict[str, str]) -> None:
    answer = client.post("/api/track/formula", json={
        "formula": "mean(${loss})", "groups": [{"name": "both", "runs": ["a", "b"]}], "buckets": 4,
        "from_x": 0, "to_x": 3}, headers=headers)
    assert answer.status_code == 200, answer.text
    [group] = answer.json()["groups"]
    assert group["name"] == "both"
    assert group["aggregate"] == "mean"
    assert group["exact"]
    for x, centre, lower, upper in group["points"]:
        values = [1 / (1 + x), 2 / (1 + x)]
        assert centre == pytest.approx(np.mean(values))
        assert (lower, upper) == (pytest.approx(np.mean(values) - np.std(values)),
                                  pytest.approx(np.mean(values) + np.std(values)))
    wide = client.post("/api/track/formula", json={
        "formula": "max(${loss})", "groups": [{"name": "g", "runs": ["a", "b"]}], "buckets": 5}, headers=headers)
    [group] = wide.json()["groups"]
    assert not group["exact"]
    assert len(group["band"]["lower"]) == len(group["buckets"]["index"]) == 5
    assert group["band"]["upper"][0] == group["buckets"]["max"][0] == 2.0  # max of b at step 0
    assert group["band"]["lower"][0] == pytest.approx(1 / 400)  # min of a in the first bucket (steps 0..399)


def test_only_the_fields_asked_for_come_back_with_the_same_values(client: Any, headers: dict[str, str]) -> None:
    chart = ["last_x", "last_y", "min", "max"]
    for body in ({"formula": "ema(${loss}, 0.1) / ${lr}", "runs": ["a", "b"], "buckets": 20},
                 {"formula": "mean(${loss})", "groups": [{"name": "g", "runs": ["a", "b"]}], "buckets": 20},
                 {"formula": "median(diff(${loss}))", "groups": [{"name": "g", "runs": ["a", "b"]}], "buckets": 7}):
        full = client.post("/api/track/formula", json=body, headers=headers).json()
        slim = client.post("/api/track/formula", json={**body, "fields": chart}, headers=headers).json()
        for whole, part in zip(full["runs"] + full["groups"], slim["runs"] + slim["groups"], strict=True):
            assert set(part["buckets"]) == {"index", *chart}
            assert part["buckets"] == {name: whole["buckets"][name] for name in part["buckets"]}
            assert (part["from_x"], part["to_x"], part.get("band")) == (whole["from_x"], whole["to_x"],
                                                                        whole.get("band"))
    band_only = client.post("/api/track/formula", json={
        "formula": "max(${loss})", "groups": [{"name": "g", "runs": ["a", "b"]}], "buckets": 5,
        "fields": ["last_y"]}, headers=headers).json()["groups"][0]
    assert set(band_only["buckets"]) == {"index", "last_y"}
    assert band_only["band"]["upper"][0] == 2.0  # the band comes whatever the fields
    refused = client.post("/api/track/formula", json={"formula": "${loss}", "runs": ["a"], "fields": ["mean"]},
                          headers=headers)
    assert refused.status_code == 422
    assert "fields" in refused.text


@pytest.mark.parametrize(("body", "status", "words"), [
    ({"formula": "${loss}"}, 422, "either `runs`"),
    ({"formula": "${loss}", "runs": ["a"], "groups": [{"name": "g", "runs": ["a"]}]}, 422, "either `runs`"),
    ({"formula": "mean(${loss})", "runs": ["a"]}, 422, "send `groups`"),
    ({"formula": "${loss}", "groups": [{"name": "g", "runs": ["a"]}]}, 422, "group aggregate"),
    ({"formula": "${loss}", "runs": ["a"], "from_x": 3}, 422, "both from_x and to_x"),
    ({"formula": "${loss}", "runs": ["a"], "from_x": 3, "to_x": 1}, 422, "below its to"),
    ({"formula": "${loss}", "runs": ["a"], "buckets": 1001}, 422, "buckets"),
    ({"formula": "${loss}", "runs": ["nope"]}, 404, "nope"),
    ({"formula": "x" * 2001, "runs": ["a"]}, 422, "at most 2000 characters"),
    ({"formula": "${loss}", "runs": ["a"] * 1001}, 422, "runs"),
])
def test_bad_requests_are_refused(client: Any, headers: dict[str, str], body: dict[str, Any], status: int,
                                  words: str) -> None:
    answer = client.post("/api/track/formula", json=body, headers=headers)
    assert answer.status_code == status, answer.text
    assert words in answer.json()["error"]["message"]


HOSTILE = ["${loss}'; DROP TABLE track_float_points; --", "${loss} -- x", "${loss} /* x */", "${loss} UNION SELECT 1",
           "${loss}) UNION ALL SELECT * FROM system.tables --", "sleep(3)", "\"${loss}\"", "${loss} \x00",
           "(" * 5000, "abs(" * 65 + "${loss}" + ")" * 65, "1" + "+1" * 999, "ema(${loss}, 0.1 OR 1=1)"]


def test_hostile_formulas_get_a_4xx_and_touch_nothing(client: Any, services: Services,
                                                      headers: dict[str, str]) -> None:
    def state() -> tuple[Any, ...]:
        tables = services.analytics.query("SELECT count() AS n FROM system.tables WHERE database = currentDatabase()",
                                          tag="tests.tables")
        points = services.analytics.query("SELECT count() AS n FROM track_float_points", tag="tests.points")
        return tables[0]["n"], points[0]["n"]

    before = state()
    for text in HOSTILE:
        for route in ("/api/track/formula", "/api/track/formula/check"):
            answer = client.post(route, json={"formula": text, "runs": ["a"]}, headers=headers)
            assert 400 <= answer.status_code < 500, (text, answer.status_code, answer.text)
            assert answer.json()["error"]["code"] == "invalid_input"
    # a hostile path is only a bound value: the series of that name does not exist, and the table is untouched
    answer = client.post("/api/track/formula", json={"formula": "${x'); DROP TABLE track_float_points; --}",
                                                     "runs": ["a"]}, headers=headers)
    assert answer.status_code == 200
    assert answer.json()["runs"][0]["from_x"] is None
    assert state() == before == (before[0], 8000)


def test_every_route_needs_a_key(client: Any) -> None:
    for route in ("/api/track/formula", "/api/track/formula/check"):
        assert client.post(route, json={"formula": "${a}", "runs": ["a"]}).status_code == 401
