"""Datasets through the API and the SDK client, on SQLite and PostgreSQL: versions that stay readable as they
were, items from real ingested traces, and bad input answered with what was wrong."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from neon import NeonClient, NeonError
from neon.evaluate import Case, Dataset, Outcome, Score, define_suite, run_suite
from neon.testing import capture_spans
from neon_server.runtime import Services
from server.tests.conftest import LiveServer

NOW = datetime.now(UTC)


def test_versions_are_stable_and_readable_by_the_sdk(live_server: LiveServer, project_key: tuple[str, str]) -> None:
    with NeonClient(live_server.url, project_key[1]) as client:
        created = client.create_dataset("faq", description="questions", items=[
            {"input": "hi", "expected": "hello", "id": "greet"}, {"input": {"q": "refund?"},
                                                                  "expected_tools": ["lookup_policy"]}])
        assert (created["current_version"], created["item_count"]) == (1, 2)
        added = client.add_dataset_items("faq", [{"input": "a", "metadata": {"k": "v"}}, {"input": None}])
        assert added["version"] == 2
        assert len(added["item_ids"]) == 2
        removed = client.remove_dataset_items("faq", ["greet"])
        assert removed["version"] == 3

        v1 = client.dataset_items("faq", version=1)
        assert (v1["version"], [i["input"] for i in v1["items"]]) == (1, ["hi", {"q": "refund?"}])
        assert v1["items"][0]["id"] == "greet"
        assert v1["items"][1]["expected_tools"] == ["lookup_policy"]
        latest = client.dataset_items("faq")
        assert latest["version"] == 3
        assert [i["input"] for i in latest["items"]] == [{"q": "refund?"}, "a", None]
        page = client.dataset_items("faq", version=2, limit=3)
        assert (len(page["items"]), page["next_offset"]) == (3, 3)
        assert [(v["version"], v["item_count"], v["change"]) for v in client.dataset_versions("faq")] == [
            (1, 2, "created"), (2, 4, "added 2 items"), (3, 3, "removed 1 item")]
        assert client.get_dataset("faq")["item_count"] == 3
        assert [d["name"] for d in client.list_datasets()] == ["faq"]

        dataset = Dataset.from_server(client, "faq", version=2)
        assert (dataset.version, len(dataset)) == (2, 4)
        assert dataset.cases[0].id == "greet"
        assert dataset.cases[2].metadata == {"k": "v"}


BAD_REQUESTS = [
    ("POST", "/api/datasets", {"name": "bad name!"}, 422, "name: must be 1–100 letters, digits"),
    ("POST", "/api/datasets", {"name": "ok", "items": [{"input": 1}, {"expected": 2}]}, 422,
     "items[1].input: is required"),
    ("POST", "/api/datasets", {"name": "ok", "items": [{"input": 1, "expected_tool": ["x"]}]}, 422,
     "items[0].expected_tool: unknown field"),
    ("POST", "/api/datasets", {"name": "ok", "items": [{"input": 1, "expected_tools": "x"}]}, 422,
     "items[0].expected_tools: Input should be a valid list"),
    ("POST", "/api/datasets", {"name": "taken"}, 409, "a dataset named 'taken' already exists"),
    ("POST", "/api/datasets/taken/items", {"items": [{"input": 1, "id": "one"}]}, 409,
     "item id(s) already in the dataset: one"),
    ("POST", "/api/datasets/taken/items", {"items": []}, 422, "items: must not be empty"),
    ("POST", "/api/datasets/taken/items/remove", {"item_ids": ["nope"]}, 404, "not in the current version: nope"),
    ("GET", "/api/datasets/taken/items?version=5", None, 404, "has versions 1 to 1, not 5"),
    ("GET", "/api/datasets/missing", None, 404, "no dataset named 'missing'"),
    ("POST", "/api/datasets/missing/items", {"items": [{"input": 1}]}, 404, "no dataset named 'missing'"),
    ("POST", "/api/datasets/taken/from-traces", {"filter": {"nme": "x"}}, 422, "filter.nme: unknown field"),
    ("POST", "/api/datasets/taken/from-traces", {"filter": {"from": "yesterday"}}, 422,
     "filter.from: must be a date-time with a time zone"),
    ("POST", "/api/datasets/taken/from-traces", {"limit": 5000}, 422, "limit"),
]


def test_bad_input_names_what_was_wrong(live_server: LiveServer, project_key: tuple[str, str]) -> None:
    headers = {"x-api-key": project_key[1]}
    made = httpx.post(f"{live_server.url}/api/datasets", headers=headers,
                      json={"name": "taken", "items": [{"input": 1, "id": "one"}]})
    assert made.status_code == 201
    for method, path, body, status, message in BAD_REQUESTS:
        response = httpx.request(method, f"{live_server.url}{path}", headers=headers, json=body)
        assert response.status_code == status, (path, response.text)
        assert message in response.json()["error"]["message"], path
    assert httpx.get(f"{live_server.url}/api/datasets/taken", headers=headers).json()["current_version"] == 1


def test_datasets_are_scoped_to_their_project(live_server: LiveServer, project_key: tuple[str, str]) -> None:
    services = live_server.services
    other = services.projects.create("other-project")
    _key, other_secret = services.keys.create(other.id)
    with NeonClient(live_server.url, project_key[1]) as mine, NeonClient(live_server.url, other_secret) as theirs:
        mine.create_dataset("shared-name", items=[{"input": 1}])
        with pytest.raises(NeonError, match="no dataset named 'shared-name'"):
            theirs.dataset_items("shared-name")
        theirs.create_dataset("shared-name")  # the same name in another project is another dataset
        assert theirs.get_dataset("shared-name")["item_count"] == 0


def ingest(server: LiveServer, key: str, traces: list[dict[str, Any]]) -> None:
    response = httpx.post(f"{server.url}/api/traces/ingest", json={"traces": traces}, headers={"x-api-key": key})
    assert response.status_code == 200, response.text


def production_trace(i: int, name: str, question: Any, answer: Any, **extra: Any) -> dict[str, Any]:
    start = NOW - timedelta(minutes=i + 1)
    return {"trace_id": f"{i + 1:032x}", "name": name, "status": "ok", "start_time": start.isoformat(),
            "end_time": (start + timedelta(seconds=1)).isoformat(), "input": question, "output": answer,
            "spans": [{"span_id": "llm", "name": "llm", "type": "generation", "start_time": start.isoformat(),
                       "duration_ms": 50, "model": "gpt-4o"}], **extra}


def test_items_from_production_traces(live_server: LiveServer, project_key: tuple[str, str]) -> None:
    key = project_key[1]
    ingest(live_server, key, [
        production_trace(0, "support", "How do refunds work?", "Within 30 days.", tags=["prod"]),
        production_trace(1, "support", {"question": "balance?", "account": "acc-1"}, {"balance": 42},
                         tags=["prod"]),
        production_trace(2, "billing", "invoice?", "Sent.", tags=["prod"]),
        production_trace(3, "support", "crash me", "", status="error", tags=["prod"]),
    ])
    with NeonClient(live_server.url, key) as client:
        made = client.dataset_from_traces("from-prod", filter={"name": "support", "status": "ok", "tag": "prod"})
        assert (made["added"], made["matched"], made["version"]) == (2, 2, 2)  # v1 = created empty
        items = {i["source_trace_id"]: i for i in client.dataset_items("from-prod")["items"]}
        assert set(items) == {f"{1:032x}", f"{2:032x}"}
        refund = items[f"{1:032x}"]
        assert (refund["input"], refund["expected"]) == ("How do refunds work?", "Within 30 days.")
        assert refund["metadata"]["trace_name"] == "support"
        assert items[f"{2:032x}"]["input"] == {"question": "balance?", "account": "acc-1"}
        assert items[f"{2:032x}"]["expected"] == {"balance": 42}

        again = client.dataset_from_traces("from-prod", filter={"name": "support", "status": "ok"})
        assert (again["added"], again["skipped"]["already_in_dataset"], again["version"]) == (0, 2, 2)
        inputs_only = client.dataset_from_traces("inputs-only", filter={"name_contains": "bill"}, expected="none")
        [billing] = client.dataset_items("inputs-only")["items"]
        assert (inputs_only["added"], billing["input"], billing["expected"]) == (1, "invoice?", None)
        window = (NOW - timedelta(hours=2)).isoformat()
        none = client.dataset_from_traces("inputs-only", filter={"to": window})
        assert (none["matched"], none["added"]) == (0, 0)

        # the dataset feeds a suite: the production answers become the expected values
        class SameAsProduction:
            name = "same"

            def __call__(self, case: Case, outcome: Outcome) -> Score:
                return Score("same", 1.0 if outcome.output == case.expected else 0.0)

        dataset = Dataset.from_server(client, "from-prod")
        replay = {"How do refunds work?": "Within 30 days."}
        suite = define_suite("replay", agent=lambda q: replay.get(q) if isinstance(q, str) else {"balance": 41},
                             dataset=dataset, scorers=[SameAsProduction()])
        with capture_spans():
            run = asyncio.run(run_suite(suite))
        assert {r.case.id: r.scores[0].value for r in run.results} == {
            items[f"{1:032x}"]["id"]: 1.0, items[f"{2:032x}"]["id"]: 0.0}


def test_concurrent_changes_each_get_their_own_version(services: Services) -> None:
    project = services.projects.create("concurrent")
    services.datasets.create(project.id, "busy")

    def add(i: int) -> int:
        dataset, _ids = services.datasets.add_items(project.id, "busy", [{"input": i}])
        return dataset.current_version

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(add, range(16)))
    versions = services.datasets.versions(project.id, "busy")
    assert [v.version for v in versions] == list(range(1, 18))
    assert [v.item_count for v in versions] == list(range(17))  # each version holds one more item
    _at, items = services.datasets.items(project.id, "busy")
    assert sorted(i.input for i in items) == list(range(16))
