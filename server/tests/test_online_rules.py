"""Online evaluation rules end to end over real HTTP, chDB and SQLite/PostgreSQL: rules saved through the API,
traces ingested, scores with source 'online' appearing once traces settle — sampled, filtered, disabled, failing
and overloaded as the rules and settings say — without ingestion ever waiting on them."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from neon.llm.fake import FakeLLMServer
from neon_server.runtime import Services
from neon_server.services.online_rules import check_filter, matches, sampled
from neon_server.storage.analytics import AnalyticsDB
from neon_server.storage.metadata import MetadataStore
from server.tests.conftest import LiveServer, make_services
from server.tests.test_score_jobs import api, ingest, online_scores, trace

SETTLE = 1.0


@pytest.fixture
def services(tmp_path: Path, analytics: AnalyticsDB, metadata: MetadataStore) -> Iterator[Services]:
    made = make_services(tmp_path, analytics, metadata, online_settle_seconds=SETTLE)
    yield made
    made.stop_scoring()
    made.stop_writers()


def wait_for(predicate: Any, timeout: float = 15) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def health(server: LiveServer) -> dict[str, Any]:
    report: dict[str, Any] = httpx.get(f"{server.url}/api/health", timeout=30).json()["online_scoring"]
    return report


def rule(name: str, scorers: list[Any], **fields: Any) -> dict[str, Any]:
    return {"name": name, "scorers": scorers, **fields}


def test_rules_score_new_traces_as_they_settle(live_server: LiveServer, project_key: tuple[str, str]) -> None:
    key = project_key[1]
    created = api(live_server, key, "POST", "/api/online-rules", json=rule(
        "support-refunds", [{"scorer": "contains", "args": {"needles": "refund", "name": "all_refund"}},
                            {"scorer": "tool_selection", "args": {"expected": ["lookup_order"]}}],
        filter={"name": "support", "tag": ["prod"]}, sample_rate=1))
    assert created.status_code == 201, created.text
    rule_id = created.json()["id"]
    api(live_server, key, "POST", "/api/online-rules", json=rule(
        "never", [{"scorer": "contains", "args": {"needles": "refund", "name": "none_refund"}}], sample_rate=0))
    api(live_server, key, "POST", "/api/online-rules", json=rule(
        "off", [{"scorer": "contains", "args": {"needles": "refund", "name": "off_refund"}}], enabled=False))

    started = time.monotonic()
    wanted = ingest(live_server, key, [trace("support", f"Refund {i} sent.", tags=["prod"]) for i in range(5)])
    others = ingest(live_server, key, [trace("support", "Refund.", tags=["staging"]), trace("billing", "Refund.",
                                                                                              tags=["prod"])])
    scores = wait_for(lambda: (found := online_scores(live_server, key)) and len(found) >= 10 and found)
    assert time.monotonic() - started < 10
    assert {s["trace_id"] for s in scores} == set(wanted)
    assert {s["name"] for s in scores} == {"all_refund", "tool_selection"}
    first = next(s for s in scores if s["name"] == "all_refund")
    assert (first["source"], first["scorer"], first["value"]) == ("online", "contains", True)
    assert first["metadata"]["rule_id"] == rule_id
    assert first["metadata"]["rule"] == "support-refunds"
    time.sleep(SETTLE * 2)  # let anything else settle: the rate-0 and disabled rules still wrote nothing
    assert len(online_scores(live_server, key)) == 10
    assert not set(others) & {s["trace_id"] for s in online_scores(live_server, key)}
    report = health(live_server)
    assert report["enabled_rules"] >= 2
    assert (report["dropped"], report["errors"]) == (0, 0)
    assert report["scored"] >= 5

    # disabled through the API: new traces are no longer scored
    patched = api(live_server, key, "PATCH", f"/api/online-rules/{rule_id}", json={"enabled": False})
    assert (patched.status_code, patched.json()["enabled"]) == (200, False)
    later = ingest(live_server, key, [trace("support", "Refund.", tags=["prod"])])
    time.sleep(SETTLE * 2)
    assert later[0] not in {s["trace_id"] for s in online_scores(live_server, key)}


def test_sample_rate_is_deterministic_by_trace_id(live_server: LiveServer, project_key: tuple[str, str]) -> None:
    key = project_key[1]
    api(live_server, key, "POST", "/api/online-rules", json=rule("half", ["json_valid"], sample_rate=0.5))
    api(live_server, key, "POST", "/api/online-rules", json=rule("all", [
        {"scorer": "json_valid", "args": {"name": "every"}}]))
    ids = ingest(live_server, key, [trace("t", "{}") for _ in range(20)])
    expected = {t for t in ids if sampled(t, 0.5)}
    assert 0 < len(expected) < 20
    wait_for(lambda: len(online_scores(live_server, key, name="every")) == 20)
    half = {s["trace_id"] for s in online_scores(live_server, key, name="json_valid")}
    assert half == expected


def test_a_trace_split_over_requests_is_scored_once_settled(live_server: LiveServer,
                                                            project_key: tuple[str, str]) -> None:
    key = project_key[1]
    api(live_server, key, "POST", "/api/online-rules", json=rule("r", [{"scorer": "contains",
                                                                        "args": {"needles": "refund"}}]))
    first = trace("split", "pending")
    trace_id = ingest(live_server, key, [first])[0]
    # the rest of the trace (and its final output) arrives in a second request, before it settled
    ingest(live_server, key, [{**first, "output": "Your refund was sent.", "spans": [
        {"span_id": "late", "name": "reply", "type": "generation", "duration_ms": 5}]}])
    scores = wait_for(lambda: online_scores(live_server, key))
    time.sleep(SETTLE * 2)
    scores = online_scores(live_server, key)
    assert [(s["trace_id"], s["value"]) for s in scores] == [(trace_id, True)]
    assert health(live_server)["scored"] == 1


def test_a_failing_scorer_is_counted_and_logged_and_ingestion_goes_on(
        live_server: LiveServer, project_key: tuple[str, str], monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    key = project_key[1]
    with FakeLLMServer(replies=[]) as llm:
        monkeypatch.setenv("NEON_LLM_PROVIDER", "openai")
        monkeypatch.setenv("NEON_LLM_MODEL", "judge")
        monkeypatch.setenv("OPENAI_BASE_URL", llm.openai_base_url)
        created = api(live_server, key, "POST", "/api/online-rules", json=rule(
            "judged", [{"scorer": "safety"}, "json_valid"]))
        assert created.status_code == 201, created.text
        llm.fail(400, times=100)
        with caplog.at_level(logging.WARNING, logger="neon.online"):
            ids = ingest(live_server, key, [trace("t", "{}") for _ in range(3)])
            wait_for(lambda: len(online_scores(live_server, key)) == 3)
            wait_for(lambda: health(live_server)["errors"] >= 3)
            more = ingest(live_server, key, [trace("t", "{}")])  # ingestion unaffected
    assert len(more) == 1
    assert {s["name"] for s in online_scores(live_server, key)} == {"json_valid"}
    assert {s["trace_id"] for s in online_scores(live_server, key)} >= set(ids)
    failures = [r for r in caplog.records if r.getMessage() == "online scorer failed"]
    assert failures
    assert failures[0].fields["score"] == "safety"  # type: ignore[attr-defined]
    assert "LLMError" in failures[0].fields["error"]  # type: ignore[attr-defined]


def test_overload_drops_and_counts_without_blocking_ingest(tmp_path: Path, analytics: AnalyticsDB,
                                                           metadata: MetadataStore,
                                                           project_key: tuple[str, str]) -> None:
    made = make_services(tmp_path / "small", analytics, metadata, online_settle_seconds=SETTLE,
                         online_max_settling=3, online_queue_size=1)
    try:
        with LiveServer(made) as server:
            project = made.projects.create("overload")
            _key, key = made.keys.create(project.id)
            api(server, key, "POST", "/api/online-rules", json=rule("all", ["json_valid"]))
            started = time.monotonic()
            ids = ingest(server, key, [trace("t", "{}") for _ in range(50)])
            assert len(ids) == 50
            assert time.monotonic() - started < 5
            wait_for(lambda: health(server)["dropped"] >= 47)
            wait_for(lambda: online_scores(server, key))
            assert len(online_scores(server, key)) <= 3
    finally:
        made.stop_scoring()
        made.stop_writers()


BAD_RULES = [
    (rule("r", ["json_valid"], sample_rate=1.5), "sample_rate: Input should be less than or equal to 1"),
    (rule("r", ["json_valid"], filter={"model": "x"}), "filter.model: unknown field"),
    (rule("r", ["json_valid"], filter={"status": "failed"}), "filter.status: Input should be 'ok', 'error' or 'unset'"),
    (rule("r", ["json_valid"], filter={"tag": [1]}), "filter.tag[0]: Input should be a valid string"),
    (rule("r", [{"scorer": "nope"}]), "scorers[0].scorer: unknown scorer 'nope'"),
    (rule("r", [{"scorer": "contains", "args": {"mode": "most"}}]), "scorers[0].args.mode must be 'any' or 'all'"),
    (rule("", ["json_valid"]), "name: must not be empty"),
    (rule("  ", ["json_valid"]), "name: must be a non-blank string, got '  '"),
    (rule("r", ["json_valid"], colour="red"), "colour: unknown field"),
    ({"name": "r"}, "scorers: is required"),
]


def test_rule_crud_and_bad_input(live_server: LiveServer, project_key: tuple[str, str]) -> None:
    key = project_key[1]
    for body, message in BAD_RULES:
        response = api(live_server, key, "POST", "/api/online-rules", json=body)
        assert response.status_code == 422, (body, response.text)
        assert message in response.json()["error"]["message"], body
    made = api(live_server, key, "POST", "/api/online-rules", json=rule(
        "r", ["json_valid"], filter={"agent_id": "a", "tag": "prod"}, sample_rate=0.25))
    assert made.status_code == 201
    body = made.json()
    assert (body["filter"], body["sample_rate"], body["scorers"], body["enabled"]) == (
        {"agent_id": "a", "tag": ["prod"]}, 0.25, [{"scorer": "json_valid", "args": {}}], True)
    duplicate = api(live_server, key, "POST", "/api/online-rules", json=rule("r", ["json_valid"]))
    assert duplicate.status_code == 409
    assert "already exists" in duplicate.json()["error"]["message"]
    bad_patch = api(live_server, key, "PATCH", f"/api/online-rules/{body['id']}", json={"sample_rate": -1})
    assert bad_patch.status_code == 422
    patched = api(live_server, key, "PATCH", f"/api/online-rules/{body['id']}", json={"sample_rate": 1})
    assert patched.json()["sample_rate"] == 1.0
    assert [r["name"] for r in api(live_server, key, "GET", "/api/online-rules").json()["rules"]] == ["r"]
    assert api(live_server, key, "GET", f"/api/online-rules/{body['id']}").json()["sample_rate"] == 1.0
    assert api(live_server, key, "DELETE", f"/api/online-rules/{body['id']}").status_code == 204
    missing = api(live_server, key, "GET", f"/api/online-rules/{body['id']}")
    assert missing.status_code == 404
    assert "no online rule" in missing.json()["error"]["message"]
    # another project's key sees nothing of this project's rules
    other = api(live_server, key, "POST", "/api/online-rules", json=rule("mine", ["json_valid"])).json()
    project = live_server.services.projects.create("other-project")
    _key, other_key = live_server.services.keys.create(project.id)
    assert api(live_server, other_key, "GET", f"/api/online-rules/{other['id']}").status_code == 404
    assert api(live_server, other_key, "GET", "/api/online-rules").json() == {"rules": []}


def test_rule_filters_match_root_fields() -> None:
    root = {"name": "Support-Bot", "status": "error", "agent_id": "a", "environment": "prod", "tags": ["x", "y"]}
    assert matches(check_filter({}), root)
    assert matches(check_filter({"name_contains": "bot", "status": "error", "tag": "x"}), root)
    assert matches(check_filter({"tag": ["x", "y"], "agent_id": "a", "environment": "prod"}), root)
    assert not matches(check_filter({"tag": ["x", "z"]}), root)
    assert not matches(check_filter({"status": "ok"}), root)
    assert not matches(check_filter({"name": "support-bot"}), root)  # exact fields are exact
    assert not matches(check_filter({"agent_version": "2"}), root)
    assert [sampled("ab" * 16, rate) for rate in (0, 1)] == [False, True]
