"""The runs table through HTTP over real chDB: every column type, series aggregates, NQL, sorts with nulls and
ties, keyset pages; each checked against the same table computed in plain Python (`track_table_rig`)."""

from __future__ import annotations

import math
from typing import Any

import pytest
from fastapi.testclient import TestClient

from neon_server.runtime import Services
from server.tests.track_table_rig import RUNS, as_json, expected_order, make_runs, value

Table = tuple[TestClient, dict[str, str], dict[str, dict[str, Any]], Services, str]


@pytest.fixture
def table(services: Services, client: TestClient, project_key: tuple[str, str]) -> Table:
    project_id, key = project_key
    return client, {"Authorization": f"Bearer {key}"}, make_runs(services, project_id), services, project_id


def post(client: TestClient, headers: dict[str, str], body: dict[str, Any], status: int = 200) -> dict[str, Any]:
    answer = client.post("/api/track/table", json=body, headers=headers)
    assert answer.status_code == status, answer.text
    result: dict[str, Any] = answer.json()
    return result


def all_pages(client: TestClient, headers: dict[str, str], body: dict[str, Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    totals: set[int] = set()
    after = None
    for _ in range(100):
        page = post(client, headers, {**body, "after": after} if after else body)
        assert len(page["rows"]) <= body.get("limit", 100)
        totals.add(page["total"])  # every page, the empty one after a full last page too, counts every match
        assert len(totals) == 1, totals
        rows += page["rows"]
        after = page["next_cursor"]
        if after is None:
            return rows
    raise AssertionError("pages never ended")


def close(answer: Any, expected: Any) -> bool:
    if isinstance(expected, float) and isinstance(answer, float):
        return math.isclose(answer, expected, rel_tol=1e-9, abs_tol=1e-12)
    return bool(answer == expected)


@pytest.mark.slow
def test_every_column_type_and_series_aggregate_with_missing_as_null(table: Table) -> None:
    client, headers, truth, _, _ = table
    columns = [{"path": "config/lr"}, {"path": "config/batch", "type": "int"}, {"path": "config/optimizer"},
               {"path": "config/flag", "type": "bool"}, {"path": "config/when"}, {"path": "config/model"},
               {"path": "sys/tags"}, {"path": "sys/name"}, {"path": "nowhere/at/all"},
               *({"path": "train/loss", "aggregate": a}
                 for a in ("last", "min", "max", "average", "variance", "count", "last_step")),
               {"path": "train/loss"}]
    out = post(client, headers, {"columns": columns, "limit": 1000})
    assert out["total"] == RUNS
    assert [c["type"] for c in out["columns"]] == [
        "float", "int", "string", "bool", "datetime", "fileRef", "stringSet", "string", None, *["floatSeries"] * 8]
    assert out["columns"][-1]["aggregate"] == "last"
    # default order: newest first (sys/creation_time descending)
    assert [r["run_id"] for r in out["rows"]] == sorted(truth, reverse=True)
    for row in out["rows"]:
        held = truth[row["run_id"]]
        assert row["short_id"] == f"NEON-{int(row['run_id'][4:]) + 1}"
        assert row["name"] == held["sys/name"]
        for column, got in zip(columns, row["values"], strict=True):
            expected = as_json(value(held, column["path"], column.get("aggregate")))
            assert close(got, expected), (row["run_id"], column, got, expected)


@pytest.mark.slow
def test_sorts_by_each_type_and_aggregate_either_way_with_nulls_last_and_ties_by_id(table: Table) -> None:
    client, headers, truth, _, _ = table
    for path, kind, agg in [("config/lr", None, None), ("config/optimizer", None, None),
                            ("config/flag", "bool", None), ("config/when", None, None),
                            ("config/model", "fileRef", None), ("sys/tags", None, None),
                            ("train/loss", None, "last"), ("train/loss", None, "min"),
                            ("train/loss", "floatSeries", "variance"), ("train/loss", None, "count"),
                            ("absent/path", None, None)]:
        for descending in (False, True):
            sort = {"path": path, "direction": "desc" if descending else "asc"}
            if kind:
                sort["type"] = kind
            if agg:
                sort["aggregate"] = agg
            got = [r["run_id"] for r in post(client, headers, {"sort": [sort], "limit": 1000})["rows"]]
            assert got == expected_order(truth, [(path, agg, descending)]), sort
    # several keys: optimizer ascending, then the best loss descending
    body = {"sort": [{"path": "config/optimizer"}, {"path": "train/loss", "aggregate": "min", "direction": "desc"}],
            "limit": 1000}
    got = [r["run_id"] for r in post(client, headers, body)["rows"]]
    assert got == expected_order(truth, [("config/optimizer", None, False), ("train/loss", "min", True)])


@pytest.mark.slow
def test_nql_filter_with_sort_by_a_series_aggregate(table: Table) -> None:
    client, headers, truth, _, _ = table
    body = {"query": "`config/lr`:float >= \"0.01\" AND `sys/tags`:stringSet CONTAINS \"t1\"",
            "sort": [{"path": "train/loss", "aggregate": "max", "direction": "desc"}], "limit": 1000,
            "columns": [{"path": "config/lr"}]}
    out = post(client, headers, body)
    chosen = {r: h for r, h in truth.items()
              if isinstance(h.get("config/lr"), float) and h["config/lr"] >= 0.01 and "t1" in h["sys/tags"]}
    assert chosen, "the data must hold matching runs"
    assert out["total"] == len(chosen)
    assert [r["run_id"] for r in out["rows"]] == expected_order(chosen, [("train/loss", "max", True)])
    assert all(r["values"][0] >= 0.01 for r in out["rows"])


@pytest.mark.slow
def test_keyset_pages_join_into_the_whole_order_even_when_runs_arrive_between_pages(table: Table) -> None:
    client, headers, truth, services, project_id = table
    for sort in ([{"path": "config/lr", "direction": "desc"}], [{"path": "config/optimizer"}],
                 [{"path": "train/loss", "aggregate": "last"}, {"path": "config/batch", "direction": "desc"}]):
        keys = [(s["path"], s.get("aggregate"), s.get("direction") == "desc") for s in sort]
        for limit in (1, 7, 40):
            rows = all_pages(client, headers, {"sort": sort, "limit": limit})
            assert [r["run_id"] for r in rows] == expected_order(truth, keys), (sort, limit)
    # runs written between pages: no run is answered twice, none of the old ones is skipped
    body = {"sort": [{"path": "config/lr", "direction": "desc"}], "limit": 10}
    first = post(client, headers, body)
    more = make_runs(services, project_id, range(RUNS, RUNS + 10), seed=99)
    rest = all_pages(client, headers, {**body, "after": first["next_cursor"]})
    seen = [r["run_id"] for r in first["rows"] + rest]
    assert len(seen) == len(set(seen))
    assert set(truth) <= set(seen)
    whole = expected_order({**truth, **more}, [("config/lr", None, True)])
    assert seen == [r for r in whole if r in seen]  # in order
    cut = whole.index(first["rows"][-1]["run_id"])
    assert set(whole[cut + 1:]) <= set(seen)  # every new run that sorts after the cursor is answered


def test_refusals_name_what_is_wrong(client: TestClient, project_key: tuple[str, str]) -> None:
    headers = {"Authorization": f"Bearer {project_key[1]}"}

    def refused(body: dict[str, Any], *words: str, status: int = 422) -> dict[str, Any]:
        answer = client.post("/api/track/table", json=body, headers=headers)
        assert answer.status_code == status, answer.text
        text = answer.text
        assert all(w in text for w in words), text
        error: dict[str, Any] = answer.json()["error"]
        return error

    refused({"columns": [{"path": "x", "aggregate": "median"}]}, "aggregate")
    refused({"columns": [{"path": "x", "type": "float", "aggregate": "max"}]}, "columns[0]", "aggregate")
    refused({"columns": [{"path": "x", "type": "stringSeries", "aggregate": "max"}]}, "columns[0]", "max")
    refused({"columns": [{"path": f"c{i}"} for i in range(201)]}, "columns")
    refused({"limit": 1001}, "limit")
    refused({"sort": [{"path": "x", "direction": "sideways"}]}, "direction")
    error = refused({"query": "config/lr >"}, "query", "position")
    assert error["position"] == len("config/lr >")
    refused({"query": "`a` == \"1\" UNION SELECT 1"}, "position")
    refused({"group": "abc"}, "group_by")
    # cursors: edited, foreign, for another sort
    good = post(client, headers, {"limit": 1})
    assert good["next_cursor"] is None  # no runs: one page
    for cursor in ("not-a-cursor", "eyJrIjpbXX0", "a" * 40):
        refused({"after": cursor}, "after")


@pytest.mark.slow
def test_a_cursor_is_refused_when_edited_or_used_with_another_sort(table: Table) -> None:
    client, headers, _, _, _ = table
    page = post(client, headers, {"sort": [{"path": "config/lr"}], "limit": 5})
    cursor = page["next_cursor"]
    assert cursor
    for body in ({"sort": [{"path": "config/lr", "direction": "desc"}]}, {"sort": [{"path": "config/batch"}]},
                 {"sort": [{"path": "config/lr"}], "query": "config/batch > 1"}):
        answer = client.post("/api/track/table", json={**body, "after": cursor}, headers=headers)
        assert answer.status_code == 422 and "after" in answer.json()["error"]["message"], answer.text  # noqa: PT018
    flipped = cursor[:-3] + ("A" if cursor[-3] != "A" else "B") + cursor[-2:]
    answer = client.post("/api/track/table", json={"sort": [{"path": "config/lr"}], "after": flipped},
                         headers=headers)
    assert answer.status_code == 422 and "after" in answer.json()["error"]["message"], answer.text  # noqa: PT018
    # hostile names are names: no such column, nothing else happens
    out = post(client, headers, {"columns": [{"path": "x') UNION ALL SELECT 1 --"}],
                                 "sort": [{"path": "'; DROP TABLE track_runs; --"}], "limit": 1})
    assert out["rows"][0]["values"] == [None]
    assert post(client, headers, {"limit": 1})["total"] == RUNS
