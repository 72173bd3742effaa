"""Groups of the runs table and attribute-name search through HTTP over real chDB, checked against Python."""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from typing import Any

import pytest
from fastapi.testclient import TestClient

from neon_server.runtime import Services
from server.tests.track_table_rig import RUNS, expected_order, finite, make_runs, value

Table = tuple[TestClient, dict[str, str], dict[str, dict[str, Any]]]


@pytest.fixture
def table(services: Services, client: TestClient, project_key: tuple[str, str]) -> Table:
    project_id, key = project_key
    return client, {"Authorization": f"Bearer {key}"}, make_runs(services, project_id)


def post(client: TestClient, headers: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
    answer = client.post("/api/track/table", json=body, headers=headers)
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


def stats(values: list[float]) -> dict[str, Any]:
    ok = finite(values)
    return {"count": len(ok), "mean": statistics.fmean(ok) if ok else None,
            "std": statistics.stdev(ok) if len(ok) > 1 else None, "min": min(ok) if ok else None,
            "max": max(ok) if ok else None}


def same(got: dict[str, Any], expected: dict[str, Any]) -> bool:
    for name, e in expected.items():
        g = got[name]
        if e is None or g is None:
            if e is not g:
                return False
        elif not math.isclose(g, e, rel_tol=1e-9, abs_tol=1e-12):
            return False
    return True


@pytest.mark.slow
def test_groups_by_two_levels_with_mean_and_std_per_column(table: Table) -> None:
    client, headers, truth = table
    columns = [{"path": "config/lr"}, {"path": "config/batch"}, {"path": "train/loss", "aggregate": "min"},
               {"path": "config/optimizer"}]
    body = {"group_by": ["config/optimizer", "config/flag"], "columns": columns, "query": "config/batch >= 16"}
    out = post(client, headers, body)
    assert out["rows"] == [] and out["total"] == RUNS  # noqa: PT018
    members: dict[tuple[Any, Any], list[str]] = defaultdict(list)
    for run_id, held in truth.items():
        members[held.get("config/optimizer"), held["config/flag"]].append(run_id)
    # ordered by key: values first (text by text, bools false < true), runs without the value last
    expected_keys = sorted(members, key=lambda k: (k[0] is None, k[0] or "", k[1]))
    assert [tuple(g["values"]) for g in out["groups"]] == expected_keys
    for group in out["groups"]:
        runs = members[tuple(group["values"])]
        assert group["runs"] == len(runs)
        assert group["types"] == ["string" if group["values"][0] is not None else None, "bool"]
        lrs = [truth[r]["config/lr"] for r in runs if "config/lr" in truth[r]]
        batches = [float(truth[r]["config/batch"]) for r in runs]
        best = [value(truth[r], "train/loss", "min") for r in runs if "train/loss" in truth[r]]
        for got, expected in zip(group["columns"][:3], (stats(lrs), stats(batches), stats(best)), strict=True):
            assert same(got, expected), (group["values"], got, expected)
        assert group["columns"][3] is None  # text: no statistics

    # a group's key pages its runs, in the sort asked
    target = next(g for g in out["groups"] if g["values"][0] is None)
    rows = post(client, headers, {**body, "group": target["key"], "sort": [{"path": "config/lr"}]})
    runs = {r: truth[r] for r in members[None, target["values"][1]]}
    assert [r["run_id"] for r in rows["rows"]] == expected_order(runs, [("config/lr", None, False)])
    assert rows["total"] == len(runs) and rows["groups"] is None  # noqa: PT018


@pytest.mark.slow
def test_groups_page_by_key_and_numbers_order_as_numbers(table: Table) -> None:
    client, headers, truth = table
    body: dict[str, Any] = {"group_by": ["config/lr"], "group_limit": 2, "columns": [{"path": "config/batch"}]}
    keys: list[Any] = []
    for _ in range(10):
        out = post(client, headers, body)
        keys += [g["values"][0] for g in out["groups"]]
        if not out["groups_next_cursor"]:
            break
        body["group_after"] = out["groups_next_cursor"]
    lrs = {h["config/lr"] for h in truth.values() if "config/lr" in h and not math.isnan(h["config/lr"])}
    # numbers ascending, then NaN (a value, as text), then the runs without one
    assert keys == [*sorted(lrs), "NaN", None]
    answer = client.post("/api/track/table", json={**body, "group_after": body["group_after"][:-2] + "xx"},
                         headers=headers)
    assert answer.status_code == 422 and "group_after" in answer.text  # noqa: PT018


@pytest.mark.slow
def test_attribute_names_by_regex_with_types_and_run_counts(table: Table) -> None:
    client, headers, truth = table
    counts: dict[str, int] = defaultdict(int)
    for held in truth.values():
        for path in held:
            counts[path] += 1

    def names(**params: Any) -> dict[str, Any]:
        answer = client.get("/api/track/attributes", params=params, headers=headers)
        assert answer.status_code == 200, answer.text
        found: dict[str, Any] = answer.json()
        return found

    config = names(regex="^config/")
    assert [a["path"] for a in config["attributes"]] == sorted(p for p in counts if p.startswith("config/"))
    for a in config["attributes"]:
        assert a["runs"] == counts[a["path"]]
    assert {a["path"]: a["types"] for a in config["attributes"]}["config/lr"] == [
        {"type": "float", "runs": counts["config/lr"]}]
    loss = names(regex="loss$")["attributes"]
    assert loss == [{"path": "train/loss", "runs": counts["train/loss"],
                     "types": [{"type": "floatSeries", "runs": counts["train/loss"]}]}]
    assert [a["path"] for a in names(regex="^sys/(id|name)$")["attributes"]] == ["sys/id", "sys/name"]
    assert [a["path"] for a in names(type="datetime")["attributes"]] == [
        "config/when", "sys/creation_time", "sys/modification_time"]
    # pages of 3 join into the whole list
    every = [a["path"] for a in names(limit=1000)["attributes"]]
    paged: list[str] = []
    after = None
    while True:
        page = names(limit=3, **({"after": after} if after else {}))
        paged += [a["path"] for a in page["attributes"]]
        after = page["next_cursor"]
        if after is None:
            break
    assert paged == every and len(every) > 10  # noqa: PT018
    assert names(regex="') UNION ALL SELECT 1 --")["attributes"] == []


def test_attribute_search_refuses_a_bad_regex_or_type(client: TestClient, project_key: tuple[str, str]) -> None:
    headers = {"Authorization": f"Bearer {project_key[1]}"}
    for regex in ("(", "a{2,1}", "(?=x)", "\\1"):
        answer = client.get("/api/track/attributes", params={"regex": regex}, headers=headers)
        assert answer.status_code == 422 and "regex" in answer.json()["error"]["message"], answer.text  # noqa: PT018
    answer = client.get("/api/track/attributes", params={"type": "tensor"}, headers=headers)
    assert answer.status_code == 422 and "type" in answer.json()["error"]["message"], answer.text  # noqa: PT018
    answer = client.get("/api/track/attributes", params={"regex": "x" * 1001}, headers=headers)
    assert answer.status_code == 422


def test_a_path_with_several_types_counts_each_and_their_union(services: Services, client: TestClient,
                                                               project_key: tuple[str, str]) -> None:
    import asyncio

    from neon_server.domain.track import RunCreate, RunWrites

    project_id, key = project_key
    headers = {"Authorization": f"Bearer {key}"}

    async def write() -> None:
        for run_id, x in (("a", 1), ("b", 1.5), ("c", "text"), ("d", None)):
            await services.track.create_run(project_id, RunCreate(run_id))
            writes = RunWrites(run_id)
            if x is not None:
                writes.set_attribute("x", x, 0)
            await services.track.write(project_id, writes)

    asyncio.run(write())
    found = client.get("/api/track/attributes", params={"regex": "^x$"}, headers=headers).json()["attributes"]
    assert found == [{"path": "x", "runs": 3, "types": [{"type": "float", "runs": 1}, {"type": "int", "runs": 1},
                                                        {"type": "string", "runs": 1}]}]
    # an untyped column takes the first of the path's types (numbers first): ints and floats answer, text is null
    out = post(client, headers, {"columns": [{"path": "x"}, {"path": "x", "type": "string"}], "sort": [{"path": "x"}]})
    assert out["columns"][0]["type"] == "float"
    assert [(r["run_id"], r["values"]) for r in out["rows"]] == [
        ("a", [1, None]), ("b", [1.5, None]), ("c", [None, "text"]), ("d", [None, None])]


def test_attribute_names_of_given_runs(services: Services, client: TestClient, project_key: tuple[str, str]) -> None:
    """`run` (repeated): the names those runs have, counted among them — what the charts view asks for its runs'
    float series in one request."""
    import asyncio

    from neon_server.domain.track import RunCreate, RunWrites

    project_id, key = project_key
    headers = {"Authorization": f"Bearer {key}"}

    async def write() -> None:
        for run_id, metrics in (("a", ["loss", "acc"]), ("b", ["loss"]), ("c", ["other"])):
            await services.track.create_run(project_id, RunCreate(run_id))
            writes = RunWrites(run_id)
            writes.set_attribute("config/lr", 0.1, 0)
            for metric in metrics:
                for step in range(3):
                    writes.add_float(f"train/{metric}", step, 1000 + step, step / 2)
            await services.track.write(project_id, writes)

    asyncio.run(write())

    def names(**params: Any) -> list[dict[str, Any]]:
        answer = client.get("/api/track/attributes", params=params, headers=headers)
        assert answer.status_code == 200, answer.text
        found: list[dict[str, Any]] = answer.json()["attributes"]
        return found

    assert names(run=["a", "b"], type="floatSeries") == [
        {"path": "train/acc", "runs": 1, "types": [{"type": "floatSeries", "runs": 1}]},
        {"path": "train/loss", "runs": 2, "types": [{"type": "floatSeries", "runs": 2}]}]
    assert [(a["path"], a["runs"]) for a in names(run=["b", "c"], regex="^(config|train)/")] == [
        ("config/lr", 2), ("train/loss", 1), ("train/other", 1)]
    assert [a["path"] for a in names(run=["a", "c"], type="floatSeries", limit=2)] == ["train/acc", "train/loss"]
    assert [a["path"] for a in names(run=["a", "c"], type="floatSeries", after="train/loss")] == ["train/other"]
    assert names(run=["nobody"]) == []
    answer = client.get("/api/track/attributes", params={"run": [f"r{i}" for i in range(1001)]}, headers=headers)
    assert answer.status_code == 422 and "run" in answer.json()["error"]["message"], answer.text  # noqa: PT018
