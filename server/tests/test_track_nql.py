"""NQL: parsed into a tree, compiled to parameterised SQL, run against real chDB over runs the service wrote."""

from __future__ import annotations

import asyncio
import math
from datetime import UTC, datetime
from typing import Any

import pytest

from neon_server.domain.track import RunCreate, RunWrites
from neon_server.runtime import Services
from neon_server.services.errors import InvalidInput
from neon_server.track.nql import Attribute, BoolOp, Not, NQLError, Predicate, parse


def test_the_clients_form_parses() -> None:
    tree = parse('(`config/lr`:float > "0.001") AND ((`sys/tags`:stringSet CONTAINS "tag-a"))')
    assert tree == BoolOp("AND", (Predicate(Attribute("config/lr", "float"), ">", "0.001", 1),
                                  Predicate(Attribute("sys/tags", "stringSet"), "CONTAINS", "tag-a", 36)))
    assert parse('NOT (max(`val/acc`:floatSeries) >= "0.9")') == Not(
        Predicate(Attribute("val/acc", "floatSeries", "max"), ">=", "0.9", 5))
    assert parse('`sys/name`:string NOT MATCHES "^a.*"').operator == "NOT MATCHES"  # type: ignore[union-attr]
    assert parse("`a` EXISTS").operator == "EXISTS"  # type: ignore[union-attr]
    assert parse("`a` NOT EXISTS").operator == "NOT EXISTS"  # type: ignore[union-attr]


def test_hand_typed_queries_parse_too() -> None:
    text = 'config/lr > 0.01 and sys/tags contains "best" or not (x = "y")'
    tree = parse(text)
    assert isinstance(tree, BoolOp)
    assert tree.op == "OR"
    assert tree.children[0] == BoolOp("AND", (Predicate(Attribute("config/lr"), ">", "0.01", 0),
                                              Predicate(Attribute("sys/tags"), "CONTAINS", "best", text.index("sys"))))
    assert tree.children[1] == Not(Predicate(Attribute("x"), "==", "y", text.index("x =")))


def test_escapes_in_names_and_values() -> None:
    tree = parse(r'`we``ird\`name` == "say \"hi\" \\ bye"')
    assert tree == Predicate(Attribute("we`ird`name"), "==", 'say "hi" \\ bye', 0)


@pytest.mark.parametrize(("query", "position", "expected"), [
    ("", 0, "empty query"),
    ("`a` >", 5, "expected a value"),
    ('`a` LIKE "x"', 4, "expected an operator"),
    ('`a` == "x" `b`', 11, "expected AND, OR or the end"),
    ('(`a` == "x"', 11, "expected ')'"),
    ('`a`:decimal == "1"', 4, "unknown attribute type"),
    ('`a == "1"', 0, "unterminated attribute name"),
    ('`a` == "1', 7, "unterminated string"),
    ('`a` == "1" AND', 14, "expected an attribute name"),
    ("`a` == ;", 7, "unexpected character"),
    ("max(`a` > \"1\"", 8, "expected ')' to close max("),
])
def test_errors_say_where_and_what_was_expected(query: str, position: int, expected: str) -> None:
    with pytest.raises(NQLError) as caught:
        parse(query)
    assert caught.value.position == position
    assert expected in caught.value.reason


def test_limits_on_size_and_depth() -> None:
    with pytest.raises(NQLError, match="longer than"):
        parse('`a` == "' + "x" * 100_001 + '"')
    with pytest.raises(NQLError, match="nested deeper"):
        parse("(" * 100 + '`a` == "1"' + ")" * 100)
    with pytest.raises(NQLError, match="more than 1000 conditions"):
        parse(" OR ".join(['`a` == "1"'] * 1001))


def run(coro: Any) -> Any:
    return asyncio.run(coro)


@pytest.fixture
def runs(services: Services) -> str:
    """Four runs with attributes of every type and a float series each."""
    project = services.projects.create("nql").id
    specs = [("r1", 0.1, 32, True, "alpha-1", {"best", "seed-1"}, [0.9, 0.5, 0.3]),
             ("r2", 0.01, 64, False, "alpha-2", {"seed-2"}, [0.8, 0.6, math.nan]),
             ("r3", 0.001, 128, True, "beta", set(), [0.7, 0.2, 0.25]),
             ("r4", 0.5, 16, False, "gamma", {"best"}, [])]
    for name, lr, batch, amp, label, tags, losses in specs:
        run(services.track.create_run(project, RunCreate(name, experiment_name=label)))
        writes = RunWrites(name)
        writes.set_attribute("config/lr", lr, 0)
        writes.set_attribute("config/batch", batch, 0)
        writes.set_attribute("config/amp", amp, 0)
        writes.set_attribute("config/label", label, 0)
        writes.set_attribute("config/start", datetime(2026, 1, int(name[1]), tzinfo=UTC), 0)
        writes.set_changes += [("sys/tags", t, True) for t in sorted(tags)]
        for step, loss in enumerate(losses):
            writes.add_float("train/loss", step, 0, loss)
        run(services.track.write(project, writes))
    return project


def ids(services: Services, project: str, query: str) -> list[str]:
    return [r.run_id for r in services.track.runs(project, query)]


# Every case runs over the same four runs: one store set up for all of them (a fresh one per case cost ~2 s each).
SELECTIONS = [
    ('`config/lr`:float > "0.005"', ["r1", "r2", "r4"]),
    ('`config/lr`:float <= "0.01"', ["r2", "r3"]),
    ('`config/lr`:float == "0.1"', ["r1"]),
    ('`config/lr`:float != "0.1"', ["r2", "r3", "r4"]),
    ('`config/batch`:int >= "64"', ["r2", "r3"]),
    ('`config/batch`:float < "64"', ["r1", "r4"]),  # ints compare as numbers whichever numeric type is named
    ('`config/amp`:bool == "true"', ["r1", "r3"]),
    ('`config/amp`:bool != "true"', ["r2", "r4"]),
    ('`config/label`:string == "beta"', ["r3"]),
    ('`config/label`:string MATCHES "^alpha-[0-9]$"', ["r1", "r2"]),
    ('`config/label`:string NOT MATCHES "^alpha"', ["r3", "r4"]),
    ('`config/label`:string CONTAINS "mm"', ["r4"]),
    ('`config/label`:string NOT CONTAINS "a"', []),
    ('`config/label`:string > "b"', ["r3", "r4"]),
    ('`config/start`:datetime >= "2026-01-03T00:00:00Z"', ["r3", "r4"]),
    ('`config/start`:datetime < "2026-01-02"', ["r1"]),
    ('`sys/tags`:stringSet CONTAINS "best"', ["r1", "r4"]),
    ('`sys/tags`:stringSet NOT CONTAINS "best"', ["r2", "r3"]),  # r3 has no tags: every run has the set
    ('`sys/tags`:stringSet MATCHES "^seed-"', ["r1", "r2"]),
    ('`sys/name`:string == "gamma"', ["r4"]),
    ('`train/loss`:floatSeries < "0.28"', ["r3"]),  # last value: r3 ends at 0.25, r2 at NaN
    ('last(`train/loss`:floatSeries) == "NaN"', ["r2"]),
    ('min(`train/loss`:floatSeries) < "0.4"', ["r1", "r3"]),
    ('max(`train/loss`:floatSeries) >= "0.8"', ["r1", "r2"]),
    ('average(`train/loss`:floatSeries) > "0.55"', ["r1", "r2"]),  # r2: mean of finite values 0.8, 0.6
    ('variance(`train/loss`:floatSeries) < "0.011"', ["r2"]),  # 0.01: (0.8 - 0.7)² and (0.6 - 0.7)²
    ('`train/loss` EXISTS', ["r1", "r2", "r3"]),
    ('`train/loss`:floatSeries NOT EXISTS', ["r4"]),
    ('`config/lr` EXISTS AND NOT (`sys/tags`:stringSet CONTAINS "best")', ["r2", "r3"]),
    ('(`config/batch`:int > "100") OR (`config/label`:string == "alpha-1")', ["r1", "r3"]),
    ('config/lr > 0.05', ["r1", "r4"]),  # untyped: compared with the stored float
    ('config/label == "beta" or train/loss < 0.28', ["r3"]),  # untyped: a string, and a series' last value
    ('sys/tags contains "seed-2"', ["r2"]),
    ('config/amp == true', ["r1", "r3"]),
    ('`nope` == "x"', []),
    ('NOT (`nope` == "x")', ["r1", "r2", "r3", "r4"]),
]


def test_every_operator_and_aggregate_selects_the_right_runs(services: Services, runs: str) -> None:
    wrong = {query: (found, expected) for query, expected in SELECTIONS
             if (found := ids(services, runs, query)) != expected}
    assert not wrong, "\n".join(f"{q}: got {f}, expected {e}" for q, (f, e) in wrong.items())


MISFITS = [
    '`config/lr`:float > "fast"',
    '`config/lr`:float MATCHES "1"',
    '`config/amp`:bool > "true"',
    '`config/start`:datetime > "yesterday"',
    '`sys/tags`:stringSet == "best"',
    '`config/label`:string MATCHES "(unclosed"',
    '`runtime/stdout`:stringSeries == "x"',
]


def test_values_that_do_not_fit_their_type_are_refused_with_where(services: Services, runs: str) -> None:
    for query in MISFITS:
        with pytest.raises(InvalidInput) as caught:
            services.track.runs(runs, query)
        assert caught.value.details["position"] == 0, query


HOSTILE = [
    "`x` == \"'; DROP TABLE track_runs; --\"",
    "`x') OR 1=1 --` == \"1\"",
    '`config/label`:string == "a" UNION SELECT run_id FROM track_runs',
    '`config/label`:string == "a" /* comment */',
    '`config/label`:string == "a" -- comment',
    "`a` == \"" + "\\\"" * 5000 + "\"",
]


def test_hostile_queries_are_refused_or_match_only_as_literals(services: Services, runs: str) -> None:
    for hostile in HOSTILE:
        try:
            found = ids(services, runs, hostile)
        except InvalidInput:
            found = None
        assert found in (None, []), hostile
    assert len(services.track.runs(runs)) == 4  # nothing touched


def test_the_api_filters_runs_and_says_where_a_query_is_wrong(services: Services, runs: str, client) -> None:
    _key, secret = services.keys.create(runs)
    headers = {"Authorization": f"Bearer {secret}"}
    found = client.get("/api/track/runs", params={"query": '`sys/tags`:stringSet CONTAINS "best"'}, headers=headers)
    assert [r["run_id"] for r in found.json()["runs"]] == ["r1", "r4"]
    wrong = client.get("/api/track/runs", params={"query": '`config/lr`:float >'}, headers=headers)
    assert wrong.status_code == 422
    assert "expected a value" in wrong.json()["error"]["message"]
