"""GET /api/traces: every filter, sorting, cursor pagination while traces arrive, hostile values, isolation."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from server.tests.conftest import LiveServer

NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def metadata_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'neon.db'}"


def trace(i: int, **fields: Any) -> dict[str, Any]:
    start = NOW - timedelta(minutes=10 * i + 5)
    spans = [{"span_id": "llm", "name": "llm", "type": "generation", "model": fields.pop("model", "gpt-4o"),
              "input_tokens": 100 * (i + 1), "output_tokens": 10, "start_time": start.isoformat(),
              "duration_ms": 100 * (i + 1), "input": fields.pop("input", f"question {i}"),
              "attributes": fields.pop("span_attributes", {})}]
    if "tool" in fields:
        spans.append({"span_id": "tool", "name": "tool", "type": "tool", "tool_name": fields.pop("tool"),
                      "start_time": start.isoformat(), "duration_ms": 5,
                      "status": fields.pop("tool_status", "ok")})
    return {"trace_id": f"{i + 1:032x}", "name": fields.pop("name", "agent"), "start_time": start.isoformat(),
            "end_time": (start + timedelta(seconds=i + 1)).isoformat(), "spans": spans, **fields}


@pytest.fixture
def seeded(live_server: LiveServer, project_key: tuple[str, str]) -> dict[str, Any]:
    traces = [
        trace(0, name="support", session_id="s1", user_id="ada", agent_id="support", agent_version="v1",
              environment="prod", tags=["beta", "eu"], tool="search", status="ok"),
        trace(1, name="support", session_id="s1", user_id="bob", agent_id="support", agent_version="v2",
              environment="prod", tags=["eu"], tool="search", tool_status="error", status="error",
              input="the refund policy please"),
        trace(2, name="billing", session_id="s2", user_id="ada", agent_id="billing", agent_version="v1",
              environment="staging", model="claude-sonnet-4", span_attributes={"customer.tier": "gold"}),
        trace(3, name="billing-nightly", environment="staging", tool="sql"),
    ]
    response = httpx.post(f"{live_server.url}/api/traces/ingest", json={"traces": traces},
                          headers={"x-api-key": project_key[1]})
    assert response.status_code == 200, response.text
    assert response.json()["accepted_spans"] == 4 + 4 + 3  # roots, llm spans, tool spans
    score = httpx.post(f"{live_server.url}/api/scores", headers={"x-api-key": project_key[1]},
                       json=[{"trace_id": f"{1:032x}", "name": "quality", "value": 0.9},
                             {"trace_id": f"{2:032x}", "name": "quality", "value": 0.2}])
    assert score.status_code == 201
    return {"url": live_server.url, "headers": {"x-api-key": project_key[1]}}


def names(seeded: dict[str, Any], **params: Any) -> list[str]:
    response = httpx.get(f"{seeded['url']}/api/traces", params=params, headers=seeded["headers"])
    assert response.status_code == 200, response.text
    return [t["trace_id"][-1] for t in response.json()["traces"]]


@pytest.mark.parametrize(("params", "expected"), [
    ({}, ["1", "2", "3", "4"]),  # newest first
    ({"status": "error"}, ["2"]),
    ({"status": "ok"}, ["1", "4"]),  # 4: its tool span is ok; a trace takes its worst known status
    ({"name": "billing"}, ["3"]),
    ({"name_contains": "BILL"}, ["3", "4"]),
    ({"service": "nope"}, []),
    ({"session_id": "s1"}, ["1", "2"]),
    ({"user_id": "ada"}, ["1", "3"]),
    ({"agent_id": "support", "agent_version": "v2"}, ["2"]),
    ({"environment": "staging"}, ["3", "4"]),
    ({"model": "claude-sonnet-4"}, ["3"]),
    ({"tool": "search"}, ["1", "2"]),
    ({"tag": ["eu"]}, ["1", "2"]),
    ({"tag": ["eu", "beta"]}, ["1"]),
    ({"attr": "customer.tier=gold"}, ["3"]),
    ({"min_duration_ms": 2500}, ["3", "4"]),
    ({"min_tokens": 200, "max_tokens": 320}, ["2", "3"]),
    ({"min_cost": 0.0007}, ["3", "4"]),
    ({"max_cost": 0.0006}, ["1", "2"]),
    ({"score_name": "quality", "score_min": 0.5}, ["1"]),
    ({"score_name": "quality"}, ["1", "2"]),
    ({"search": "REFUND policy"}, ["2"]),
    ({"sort": "duration"}, ["4", "3", "2", "1"]),
    ({"sort": "tokens", "order": "asc"}, ["1", "2", "3", "4"]),
    ({"sort": "cost"}, ["4", "3", "2", "1"]),  # gpt-4o 400 tokens > claude-sonnet-4 300 tokens
    ({"from": (NOW - timedelta(minutes=20)).isoformat()}, ["1", "2"]),
    ({"to": (NOW - timedelta(minutes=20)).isoformat()}, ["3", "4"]),
])
def test_filters_and_sorting(seeded: dict[str, Any], params: dict[str, Any], expected: list[str]) -> None:
    assert names(seeded, **params) == expected


def test_list_rows_carry_the_rollup(seeded: dict[str, Any]) -> None:
    response = httpx.get(f"{seeded['url']}/api/traces", params={"name": "support", "status": "error"},
                         headers=seeded["headers"]).json()
    [row] = response["traces"]
    assert (row["name"], row["status"], row["span_count"], row["error_count"], row["tool_call_count"]) == (
        "support", "error", 3, 2, 1)  # the root and the tool failed
    assert row["total_tokens"] == 210
    assert row["cost"] == pytest.approx((200 * 2.5 + 10 * 10) / 1e6)
    assert row["duration_ns"] == 2_000_000_000
    assert row["tags"] == ["eu"]


def test_cursor_pagination_stays_correct_while_traces_arrive(seeded: dict[str, Any]) -> None:
    url, headers = f"{seeded['url']}/api/traces", seeded["headers"]
    first = httpx.get(url, params={"limit": 2}, headers=headers).json()
    assert [t["trace_id"][-1] for t in first["traces"]] == ["1", "2"]
    assert first["next_cursor"]
    # A new trace arrives (newest of all) between the pages: it must not shift the second page.
    newer = trace(0, name="late arrival")
    newer["trace_id"] = "f" * 32
    newer["start_time"] = (NOW - timedelta(minutes=1)).isoformat()
    assert httpx.post(f"{seeded['url']}/api/traces/ingest", json=newer, headers=headers).status_code == 200
    second = httpx.get(url, params={"limit": 2, "cursor": first["next_cursor"]}, headers=headers).json()
    assert [t["trace_id"][-1] for t in second["traces"]] == ["3", "4"]
    assert second["next_cursor"] is None
    by_cost = httpx.get(url, params={"limit": 3, "sort": "cost"}, headers=headers).json()
    rest = httpx.get(url, params={"limit": 3, "sort": "cost", "cursor": by_cost["next_cursor"]}, headers=headers)
    ids = [t["trace_id"] for t in by_cost["traces"] + rest.json()["traces"]]
    assert len(ids) == len(set(ids)) == 5


@pytest.mark.parametrize("params", [
    {"name": "x'; DROP TABLE traces; --"}, {"name_contains": "%' OR 1=1 --"}, {"tag": ["') OR ('1'='1"]},
    {"attr": "k'=v') OR 1=1 --"}, {"search": "\\'; SELECT 1"}, {"model": "{p:String}"},
    {"score_name": "q' OR '1'='1"}, {"user_id": "line\nbreak"}, {"name": "back\\slash"}, {"environment": "\\N"},
])
def test_hostile_filter_values_are_only_data(seeded: dict[str, Any], params: dict[str, Any]) -> None:
    assert names(seeded, **params) == []
    assert len(names(seeded)) == 4  # and nothing was harmed


@pytest.mark.parametrize(("params", "message"), [
    ({"cursor": "garbage"}, "cursor is not valid"),
    ({"attr": "no-equals-sign"}, "attr[0]: must be KEY=VALUE with a KEY, got 'no-equals-sign'"),
    ({"limit": 0}, "limit"), ({"sort": "random"}, "sort"), ({"status": "maybe"}, "status"),
    ({"from": "yesterday"}, "from: must be a date-time with a time zone"),
    ({"from": "0.5"}, "from: must be a date-time with a time zone"),
    ({"from": "2026-11-20T12:00:00"}, "from: must be a date-time with a time zone"),
    ({"from": NOW.isoformat(), "to": (NOW - timedelta(hours=1)).isoformat()}, "'from' must be before 'to'"),
])
def test_bad_parameters_get_clear_errors(seeded: dict[str, Any], params: dict[str, Any], message: str) -> None:
    response = httpx.get(f"{seeded['url']}/api/traces", params=params, headers=seeded["headers"])
    assert response.status_code == 422
    assert message in response.json()["error"]["message"]


def test_cursor_of_another_sort_is_refused(seeded: dict[str, Any]) -> None:
    url, headers = f"{seeded['url']}/api/traces", seeded["headers"]
    cursor = httpx.get(url, params={"limit": 1}, headers=headers).json()["next_cursor"]
    response = httpx.get(url, params={"sort": "cost", "cursor": cursor}, headers=headers)
    assert response.status_code == 422
    assert "different sort order" in response.text


def test_other_projects_see_nothing(seeded: dict[str, Any], live_server: LiveServer) -> None:
    other = live_server.services.projects.create("elsewhere")
    _key, secret = live_server.services.keys.create(other.id)
    response = httpx.get(f"{seeded['url']}/api/traces", headers={"x-api-key": secret})
    assert response.json() == {"traces": [], "next_cursor": None}
    assert json.loads(httpx.get(f"{seeded['url']}/api/traces", headers=seeded["headers"]).text)["traces"]


def span_names(seeded: dict[str, Any], **params: Any) -> list[tuple[str, str]]:
    response = httpx.get(f"{seeded['url']}/api/spans", params=params, headers=seeded["headers"])
    assert response.status_code == 200, response.text
    return [(s["trace_id"][-1], s["name"]) for s in response.json()["spans"]]


@pytest.mark.parametrize(("params", "expected"), [
    ({"span_type": "tool", "status": "error"}, [("2", "tool")]),  # all failed tool calls
    ({"tool": "search"}, [("1", "tool"), ("2", "tool")]),
    ({"span_type": "generation", "model": "claude-sonnet-4"}, [("3", "llm")]),
    ({"trace_id": f"{3:032x}", "sort": "duration", "order": "asc"}, [("3", "llm"), ("3", "billing")]),
    ({"attr": "customer.tier=gold"}, [("3", "llm")]),
    ({"span_type": "generation", "min_tokens": 300}, [("3", "llm"), ("4", "llm")]),
    ({"session_id": "s2", "span_type": "generation"}, [("3", "llm")]),
    ({"name_contains": "' OR 1=1 --"}, []),
])
def test_span_search(seeded: dict[str, Any], params: dict[str, Any], expected: list[tuple[str, str]]) -> None:
    assert span_names(seeded, **params) == expected


def test_span_pagination(seeded: dict[str, Any]) -> None:
    url, headers = f"{seeded['url']}/api/spans", seeded["headers"]
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 4, **({"cursor": cursor} if cursor else {})}
        page = httpx.get(url, params=params, headers=headers).json()
        seen += [f"{s['trace_id']}:{s['span_id']}" for s in page["spans"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 11


def test_sessions(seeded: dict[str, Any]) -> None:
    url, headers = f"{seeded['url']}/api/sessions", seeded["headers"]
    sessions = httpx.get(url, headers=headers).json()["sessions"]
    assert [s["session_id"] for s in sessions] == ["s1", "s2"]
    s1 = sessions[0]
    assert (s1["trace_count"], s1["span_count"], s1["error_count"], sorted(s1["user_ids"])) == (
        2, 6, 2, ["ada", "bob"])
    assert s1["total_tokens"] == 110 + 210
    assert s1["first_trace_name"] == "support"
    by_user = httpx.get(url, params={"user_id": "bob"}, headers=headers).json()["sessions"]
    assert [s["session_id"] for s in by_user] == ["s1"]
    page = httpx.get(url, params={"limit": 1}, headers=headers).json()
    rest = httpx.get(url, params={"limit": 1, "cursor": page["next_cursor"]}, headers=headers).json()
    assert [s["session_id"] for s in page["sessions"] + rest["sessions"]] == ["s1", "s2"]


def test_analytics(seeded: dict[str, Any]) -> None:
    url, headers = f"{seeded['url']}/api/analytics", seeded["headers"]
    hourly = httpx.get(url, params={"bucket": "1h"}, headers=headers).json()
    assert hourly["bucket"] == "1h"
    totals = {k: sum(r[k] for r in hourly["series"]) for k in ("traces", "spans", "errors", "total_tokens")}
    assert totals == {"traces": 4, "spans": 11, "errors": 2, "total_tokens": 110 + 210 + 310 + 410}
    cost = sum(r["cost"] for r in hourly["series"])
    assert cost == pytest.approx((100 * 2.5 + 10 * 10 + 200 * 2.5 + 10 * 10 + 300 * 3 + 10 * 15
                                  + 400 * 2.5 + 10 * 10) / 1e6)
    latency = hourly["trace_latency"]
    assert all(r["p50_ms"] <= r["p95_ms"] <= r["p99_ms"] for r in latency)
    assert max(r["p99_ms"] for r in latency) == pytest.approx(4000, rel=0.05)
    by_type = {r["key"]: r for r in hourly["latency_by"]["span_type"]}
    assert by_type["tool"]["calls"] == 3
    assert by_type["tool"]["errors"] == 1
    assert {r["key"] for r in hourly["latency_by"]["model"]} == {"gpt-4o", "claude-sonnet-4"}
    assert {r["key"] for r in hourly["latency_by"]["tool"]} == {"search", "sql"}
    models = {}
    for r in hourly["usage_by_model"]:
        models[r["model"]] = models.get(r["model"], 0) + r["calls"]
    assert models == {"gpt-4o": 3, "claude-sonnet-4": 1}
    assert {r["name"] for r in hourly["scores"]} == {"quality"}
    assert sum(r["average"] * r["count"] for r in hourly["scores"]) == pytest.approx(1.1)

    daily = httpx.get(url, params={"bucket": "1d", "from": (NOW - timedelta(days=2)).isoformat()},
                      headers=headers).json()  # served from the daily rollups
    assert sum(r["traces"] for r in daily["series"]) == 4
    assert sum(r["calls"] for r in daily["usage_by_model"]) == 4
    auto = httpx.get(url, headers=headers).json()
    assert auto["bucket"] == "15m"  # 24 h in at most ~200 points, read from spans rather than the rollups
    assert sum(r["spans"] for r in auto["series"]) == 11
    assert {r["key"]: r["calls"] for r in auto["latency_by"]["span_type"]} == {
        k: v["calls"] for k, v in by_type.items()}
    too_fine = httpx.get(url, params={"bucket": "1m", "from": (NOW - timedelta(days=30)).isoformat()},
                         headers=headers)
    assert too_fine.status_code == 422
    assert "choose a larger bucket" in too_fine.text


def test_trace_detail_pages_its_spans(seeded: dict[str, Any]) -> None:
    url, headers = f"{seeded['url']}/api/traces/{1:032x}", seeded["headers"]
    first = httpx.get(url, params={"limit": 2}, headers=headers).json()
    assert len(first["spans"]) == 2
    assert first["next_offset"] == 2
    rest = httpx.get(url, params={"limit": 2, "offset": 2}, headers=headers).json()
    assert rest["next_offset"] is None
    names = [s["name"] for s in first["spans"] + rest["spans"]]
    assert sorted(names) == ["llm", "support", "tool"]
    assert first["trace"]["start_time"].endswith("Z")
    assert first["spans"][0]["start_time"] <= first["spans"][1]["start_time"]


def test_every_listing_writes_times_in_one_format(seeded: dict[str, Any]) -> None:
    """List, spans, sessions and detail all write `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ`, so clients parse one shape."""
    get = lambda path, **params: httpx.get(f"{seeded['url']}{path}", params=params,  # noqa: E731
                                           headers=seeded["headers"]).json()
    listed = get("/api/traces", session_id="s1")["traces"][0]
    detail = get(f"/api/traces/{listed['trace_id']}")["trace"]
    assert listed["start_time"] == detail["start_time"]
    assert listed["end_time"] == detail["end_time"]
    times = [listed["start_time"], get("/api/spans")["spans"][0]["start_time"],
             get("/api/sessions")["sessions"][0]["first_start"], get("/api/sessions")["sessions"][0]["last_end"]]
    for value in times:
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z", value), value


def test_answers_match_their_documented_schemas(seeded: dict[str, Any]) -> None:
    """The read endpoints serialise dicts directly; their OpenAPI models (the UI's client types) must describe them."""
    from pydantic import BaseModel, ConfigDict

    from neon_server.api import schemas

    def check(model: type[BaseModel], path: str, **params: Any) -> dict[str, Any]:
        response = httpx.get(f"{seeded['url']}{path}", params=params, headers=seeded["headers"])
        assert response.status_code == 200, response.text
        strict = type(f"Strict{model.__name__}", (model,), {"model_config": ConfigDict(extra="forbid")})
        strict.model_validate(response.json())
        return response.json()

    page = check(schemas.TracePage, "/api/traces")
    assert {t["trace_id"][-1]: t["scores"] for t in page["traces"]} == {
        "1": {"quality": 0.9}, "2": {"quality": 0.2}, "3": {}, "4": {}}
    trace_id = page["traces"][0]["trace_id"]
    detail = check(schemas.TraceDetail, f"/api/traces/{trace_id}")
    check(schemas.SpanPayload, f"/api/traces/{trace_id}/spans/{detail['spans'][0]['span_id']}/payload")
    check(schemas.SpanPage, "/api/spans")
    check(schemas.SessionPage, "/api/sessions")
    check(schemas.Analytics, "/api/analytics")
    check(schemas.ScorePage, "/api/scores")
    spec = httpx.get(f"{seeded['url']}/api/openapi.json").json()
    answer = spec["paths"]["/api/traces"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert answer == {"$ref": "#/components/schemas/TracePage"}


# ---------------------------------------------------------------- traces split across insert batches
PRICES = {"gpt-4o": (2.5e-6, 10e-6), "claude-sonnet-4": (3e-6, 15e-6)}  # per token: input, output


def otlp_span(trace_id: str, span_id: str, parent: str, name: str, start_ms: int, end_ms: int, *,
              model: str | None = None, tokens: tuple[int, int] = (0, 0), error: bool = False) -> dict[str, Any]:
    base = int(NOW.timestamp() * 1000) - 3_600_000
    attributes = []
    if model:
        attributes = [{"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
                      {"key": "gen_ai.request.model", "value": {"stringValue": model}},
                      {"key": "gen_ai.usage.input_tokens", "value": {"intValue": str(tokens[0])}},
                      {"key": "gen_ai.usage.output_tokens", "value": {"intValue": str(tokens[1])}}]
    return {"traceId": trace_id, "spanId": span_id, "parentSpanId": parent, "name": name,
            "startTimeUnixNano": str((base + start_ms) * 1_000_000),
            "endTimeUnixNano": str((base + end_ms) * 1_000_000), "attributes": attributes,
            "status": {"code": 2 if error else 1}}


def split_traces() -> tuple[list[list[dict[str, Any]]], dict[str, dict[str, Any]]]:
    """Ten traces, each sent over three requests (one span per request; the root, earliest and longest, last),
    and what each trace totals once all have arrived. Earlier batches give a different order under every sort,
    a different status and different models than the whole traces, so a stale row would show."""
    batches: list[list[dict[str, Any]]] = [[], [], []]
    expected: dict[str, dict[str, Any]] = {}
    for i in range(10):
        trace_id, root = f"{0xa0 + i:032x}", f"{0xb0 + i:016x}"
        first_model = "gpt-4o"
        late_model = "claude-sonnet-4" if i % 3 == 0 else "gpt-4o"
        first = ((7 * i) % 10 * 100 + 50, 10 * i)  # tokens: small first, large late for other traces
        late = ((3 * i) % 10 * 300 + 20, 40)
        error = i % 4 == 1  # the failure arrives with the second batch
        spans = [
            otlp_span(trace_id, f"{0xc0 + i:016x}", root, "llm-1", 1000 + 10 * i, 1100 + 10 * i, model=first_model,
                      tokens=first),
            otlp_span(trace_id, f"{0xd0 + i:016x}", root, "llm-2", 1200, 1300 + (7 * i) % 10 * 50,
                      model=late_model, tokens=late, error=error),
            otlp_span(trace_id, root, "", f"agent-{i}", 500 - 40 * i, 2000 + 300 * ((3 * i) % 10)),
        ]
        for batch, span in zip(batches, spans, strict=True):
            batch.append(span)
        cost = sum(PRICES[m][0] * t[0] + PRICES[m][1] * t[1] for m, t in ((first_model, first), (late_model, late)))
        expected[trace_id] = {
            "time": 500 - 40 * i, "duration": (2000 + 300 * ((3 * i) % 10) - (500 - 40 * i)) * 1_000_000,
            "tokens": sum(first) + sum(late), "cost": cost, "status": "error" if error else "ok",
            "models": {first_model, late_model}, "name": f"agent-{i}"}
    return batches, expected


def every_page(url: str, headers: dict[str, str], params: dict[str, Any]) -> list[dict[str, Any]]:
    """The traces of every page, following the cursor."""
    seen: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = httpx.get(f"{url}/api/traces", params={**params, **({"cursor": cursor} if cursor else {})},
                         headers=headers).json()
        seen += page["traces"]
        cursor = page["next_cursor"]
        if cursor is None:
            return seen


@pytest.mark.slow
def test_every_sort_pages_exactly_over_traces_split_across_batches(live_server: LiveServer,
                                                                    project_key: tuple[str, str]) -> None:
    db = live_server.services.analytics
    db.command("SYSTEM STOP MERGES trace_rows", tag="tests.stop_merges")  # keep the older rows of each trace
    try:
        headers = {"x-api-key": project_key[1]}
        batches, expected = split_traces()
        for batch in batches:  # each acknowledged before the next is sent: one insert each
            body = {"resourceSpans": [{"resource": {"attributes": [
                {"key": "service.name", "value": {"stringValue": "svc"}}]}, "scopeSpans": [{"spans": batch}]}]}
            response = httpx.post(f"{live_server.url}/v1/traces", json=body, headers=headers)
            assert response.status_code == 200, response.text
        rows = db.query("SELECT count() AS n, uniqExact(trace_id) AS traces FROM trace_rows", tag="tests.rows")[0]
        assert (rows["n"], rows["traces"]) == (30, 10)  # three rows a trace: the newest must win every time

        for sort in ("time", "duration", "tokens", "cost"):
            for order in ("desc", "asc"):
                for flt in ({}, {"status": "error"}, {"model": "claude-sonnet-4"}, {"status": "ok", "max_tokens": 2000},
                            {"name_contains": "agent-1"}):
                    want = [t for t, e in expected.items()
                            if ("status" not in flt or e["status"] == flt["status"])
                            and ("model" not in flt or flt["model"] in e["models"])
                            and ("max_tokens" not in flt or e["tokens"] <= flt["max_tokens"])
                            and ("name_contains" not in flt or flt["name_contains"] in e["name"])]
                    want.sort(key=lambda t: (expected[t][sort], t), reverse=order == "desc")
                    seen = every_page(live_server.url, headers, {"sort": sort, "order": order, "limit": 3, **flt})
                    assert [t["trace_id"] for t in seen] == want, (sort, order, flt)
                    for row in seen:
                        e = expected[row["trace_id"]]
                        assert (row["span_count"], row["total_tokens"], row["duration_ns"], row["status"],
                                set(row["models"]), row["name"]) == (3, e["tokens"], e["duration"], e["status"],
                                                                     e["models"], e["name"])
                        assert row["cost"] == pytest.approx(e["cost"])
    finally:
        db.command("SYSTEM START MERGES trace_rows", tag="tests.start_merges")
