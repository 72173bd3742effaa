"""The unmodified neptune-query 1.14 client reads runs written through Track, over HTTP from a live server.

Runs are written through `Services.track` (every attribute type, metrics with fractional steps and NaN,
string series, histograms, files, tags, a fork), then read back with neptune-query's public functions; every
value must equal what was written. Hostile NQL gets a 4xx and changes nothing.
"""

from __future__ import annotations

import asyncio
import base64
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import neptune_query as nq
import neptune_query.runs as nq_runs
import pytest
from neptune_api.proto.neptune_pb.api.v1.model.leaderboard_entries_pb2 import (
    ProtoLeaderboardEntriesSearchResultDTO,
)
from neptune_api.proto.neptune_pb.api.v1.model.requests_pb2 import ProtoGetTimeseriesBucketsRequest, ProtoView
from neptune_api.proto.neptune_pb.api.v1.model.series_values_pb2 import (
    ProtoFloatSeriesValuesResponseDTO,
    ProtoSeriesValuesResponseDTO,
    ProtoTimeseriesBucketsDTO,
)
from neptune_query.exceptions import NeptuneProjectInaccessible, NeptuneUnexpectedResponseError
from neptune_query.filters import Attribute, AttributeFilter, Filter
from neptune_query.internal import client as nq_client
from neptune_query.types import Histogram as NqHistogram

from neon_server.domain.track import FileRef, ForkPoint, Histogram, RunCreate, RunWrites
from neon_server.runtime import Services
from neon_server.services.neptune_read import NeptuneRead
from neon_server.storage.analytics.track_read import TrackReadStore

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
START = datetime(2026, 2, 28, 8, 30, 15, 250000, tzinfo=UTC)
LOSS_STEPS = [0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0]
FORK_STEPS = [2.5, 3.0, 3.5]


def loss(run: str, step: float) -> float:
    if run == "base-1" and step == 1.5:
        return math.nan
    return {"base-1": 1.0, "base-2": 2.0, "other-1": 3.0, "fork-1": 10.0}[run] / (1 + step)


def ms(step: float) -> float:
    return (T0 + timedelta(seconds=step * 10)).timestamp() * 1000


@dataclass
class Setup:
    url: str
    project: str  # workspace/project as neptune-query names it
    key: str
    services: Services
    project_id: str


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def write_runs(services: Services, project_id: str) -> None:
    track = services.track
    creates = [RunCreate("base-1", "exp-a", T0), RunCreate("base-2", "exp-a", T0 + timedelta(minutes=1)),
               RunCreate("other-1", "exp-b", T0 + timedelta(minutes=2)),
               RunCreate("fork-1", "exp-c", T0 + timedelta(minutes=3), fork=ForkPoint("base-1", 2.0)),
               RunCreate("loner", "", T0 + timedelta(minutes=4))]
    for create in creates:
        outcome, _ = run(track.create_run(project_id, create))
        assert outcome.ok, outcome
    configs: dict[str, dict[str, Any]] = {
        "base-1": {"config/lr": 0.001, "config/epochs": 10, "config/amp": True, "config/name": "resnet",
                   "config/start": START, "config/labels": frozenset({"x", "y"}),
                   "config/weights": FileRef("w/base-1.bin", 1234, "application/octet-stream")},
        "base-2": {"config/lr": 0.01, "config/epochs": 20, "config/amp": False, "config/name": "vit"},
        "other-1": {"config/lr": 0.1, "config/epochs": 5, "config/name": "resnet-big"},
        "fork-1": {"config/lr": 0.0005, "config/name": "resnet"},
        "loner": {"config/lr": 0.2},
    }
    tags = {"base-1": ["tag-a", "best"], "base-2": ["tag-b"], "other-1": ["tag-a"], "fork-1": ["tag-c"]}
    for run_id, values in configs.items():
        writes = RunWrites(run_id)
        for path, value in values.items():
            writes.set_attribute(path, value, ms(0))
        writes.set_changes += [("sys/tags", tag, True) for tag in tags.get(run_id, [])]
        steps = FORK_STEPS if run_id == "fork-1" else [] if run_id == "loner" else LOSS_STEPS
        for step in steps:
            writes.add_float("loss", step, ms(step), loss(run_id, step))
        if run_id == "base-1":
            for step in LOSS_STEPS:
                writes.add_float("acc", step, ms(step), step / 10)
                writes.add_string("logs", step, ms(step), f"line {step} ✓ \"quoted\"")
            writes.add_float("acc", 3.5, ms(3.5), 0.99, preview=True, ratio=0.5)  # not committed yet
            writes.add_histogram("hist", 1, ms(1), Histogram((0.0, 1.0, 2.0), (3.0, 4.0)))
            writes.add_histogram("hist", 2, ms(2), Histogram((0.0, 0.5, 1.0), (0.25, 0.75), "densities"))
            writes.add_file("samples", 1, ms(1), FileRef("s/1.png", 10, "image/png"))
            writes.add_file("samples", 2, ms(2), FileRef("s/2.png", 20, "image/png"))
        if run_id == "fork-1":
            writes.add_string("logs", 3.0, ms(3.0), "fork line")
        outcome = run(track.write(project_id, writes))
        assert outcome.ok, outcome
        assert not outcome.rejections, outcome


def token_for(url: str, key: str) -> str:
    return base64.b64encode(json.dumps({"api_address": url, "api_url": url, "api_key": key}).encode()).decode()


@pytest.fixture
def setup(live_server: Any, services: Services, project_key: tuple[str, str],
          monkeypatch: pytest.MonkeyPatch) -> Iterator[Setup]:
    project_id, key = project_key
    write_runs(services, project_id)
    project = f"some-workspace/{services.projects.get(project_id).name}"
    monkeypatch.setenv("NEPTUNE_API_TOKEN", token_for(live_server.url, key))
    monkeypatch.setenv("NEPTUNE_PROJECT", project)
    monkeypatch.setenv("NEPTUNE_QUERY_RETRY_SOFT_TIMEOUT", "5")
    nq.set_api_token(token_for(live_server.url, key))
    from neptune_query.internal.context import set_project
    set_project(project)
    yield Setup(live_server.url, project, key, services, project_id)
    nq_client.clear_cache()


def rows(df: Any) -> list[dict[str, Any]]:
    return df.reset_index().to_dict("records")  # type: ignore[no-any-return]


def same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


@pytest.mark.slow
def test_experiments_runs_and_attributes_are_listed(setup: Setup) -> None:
    assert sorted(nq.list_experiments()) == ["exp-a", "exp-b", "exp-c"]
    assert nq.list_experiments(experiments=r"^exp-[ab]$") == ["exp-a", "exp-b"]
    assert sorted(nq_runs.list_runs()) == ["base-1", "base-2", "fork-1", "loner", "other-1"]
    assert sorted(nq_runs.list_runs(runs=r"^base")) == ["base-1", "base-2"]
    # exp-a's head is its newest run, base-2
    assert set(nq.list_attributes(experiments=["exp-a"], attributes=r"^config/")) == {
        "config/lr", "config/epochs", "config/amp", "config/name"}
    every = set(nq_runs.list_attributes(runs=["base-1"]))
    assert {"config/start", "config/labels", "config/weights", "loss", "acc", "logs", "hist", "samples",
            "sys/id", "sys/custom_run_id", "sys/tags", "sys/creation_time"} <= every
    assert set(nq_runs.list_attributes(runs=["base-1"], attributes=AttributeFilter(
        name=r"^config/ & !lr", type=["float", "int", "string"]))) == {"config/epochs", "config/name"}


@pytest.mark.slow
def test_tables_read_back_every_type_with_filters_and_sorts(setup: Setup) -> None:
    table = nq_runs.fetch_runs_table(runs=["base-1"], attributes=r"^config/|^loss$|^logs$|^sys/tags$",
                                     type_suffix_in_column_names=True)
    row = table.to_dict("records")[0]
    assert row["config/lr:float"] == 0.001
    assert row["config/epochs:int"] == 10
    assert bool(row["config/amp:bool"]) is True
    assert row["config/name:string"] == "resnet"
    assert row["config/start:datetime"].to_pydatetime() == START
    assert row["config/labels:string_set"] == {"x", "y"}
    weights = row["config/weights:file"]
    assert (weights.path, weights.size_bytes, weights.mime_type) == ("w/base-1.bin", 1234, "application/octet-stream")
    assert row["loss:float_series"] == loss("base-1", 3.0)  # the last value
    assert row["logs:string_series"] == 'line 3.0 ✓ "quoted"'
    assert row["sys/tags:string_set"] == {"tag-a", "best"}

    # NQL with several operators, sorted by a config and by a series aggregate
    query = (Filter.gt("config/lr", 0.0001) & Filter.matches("config/name", "^res")
             & ~Filter.contains_all("sys/tags", "tag-b") & Filter.exists("loss"))
    by_lr = nq_runs.fetch_runs_table(runs=query, attributes=["config/lr"], sort_by="config/lr",
                                     sort_direction="asc")
    assert list(by_lr.index) == ["fork-1", "base-1", "other-1"]
    assert list(by_lr["config/lr"]) == [0.0005, 0.001, 0.1]
    by_last = nq_runs.fetch_runs_table(runs=query & Filter.gt(Attribute("loss", type="float_series"), 0.2),
                                       attributes=["config/lr"], sort_by=Attribute("loss", type="float_series"),
                                       sort_direction="desc")
    assert list(by_last.index) == ["fork-1", "other-1", "base-1"]  # last loss: 10/4.5, 3/4, 1/4

    experiments = nq.fetch_experiments_table(experiments=Filter.le("config/epochs", 20),
                                             attributes=["config/epochs", "config/name"])
    assert dict(zip(experiments.index, experiments["config/epochs"], strict=True)) == {"exp-a": 20, "exp-b": 5}
    assert dict(zip(experiments.index, experiments["config/name"], strict=True)) == {
        "exp-a": "vit", "exp-b": "resnet-big"}


@pytest.mark.slow
def test_metrics_with_limits_ranges_and_lineage(setup: Setup) -> None:
    own = rows(nq_runs.fetch_metrics(runs=["base-1"], attributes=["loss", "acc"]))
    assert [r["step"] for r in own] == LOSS_STEPS
    assert all(same(r["loss"], loss("base-1", r["step"])) for r in own)
    assert math.isnan(own[3]["loss"])  # NaN comes back as NaN
    assert [r["acc"] for r in own] == [s / 10 for s in LOSS_STEPS]

    previews = nq_runs.fetch_metrics(runs=["base-1"], attributes=["acc"], include_point_previews=True)
    assert list(previews.reset_index()["step"]) == [*LOSS_STEPS, 3.5]
    assert previews[("acc", "value")].iloc[-1] == 0.99
    assert bool(previews[("acc", "is_preview")].iloc[-1]) is True
    assert previews[("acc", "preview_completion")].iloc[-1] == 0.5
    assert not previews[("acc", "is_preview")].iloc[:-1].any()

    tail = rows(nq_runs.fetch_metrics(runs=["base-1"], attributes=["loss"], tail_limit=2))
    assert [r["step"] for r in tail] == [2.5, 3.0]
    window = rows(nq_runs.fetch_metrics(runs=["base-1"], attributes=["loss"], step_range=(0.5, 1.5)))
    assert [r["step"] for r in window] == [0.5, 1.0, 1.5]

    timed = nq.fetch_metrics(experiments=["exp-c"], attributes=["loss"], include_time="absolute")
    assert timed[("loss", "absolute_time")].iloc[-1].to_pydatetime() == T0 + timedelta(seconds=35)
    full = rows(nq.fetch_metrics(experiments=["exp-c"], attributes=["loss"]))
    inherited = [s for s in LOSS_STEPS if s <= 2.0]
    assert [r["step"] for r in full] == inherited + FORK_STEPS
    assert all(same(r["loss"], loss("base-1" if r["step"] <= 2.0 else "fork-1", r["step"])) for r in full)
    only_own = rows(nq.fetch_metrics(experiments=["exp-c"], attributes=["loss"], lineage_to_the_root=False))
    assert [r["step"] for r in only_own] == FORK_STEPS


@pytest.mark.slow
def test_series_string_histogram_and_files(setup: Setup) -> None:
    logs = rows(nq_runs.fetch_series(runs=["base-1"], attributes=["logs"]))
    assert [(r["step"], r["logs"]) for r in logs] == [(s, f'line {s} ✓ "quoted"') for s in LOSS_STEPS]
    tail = rows(nq_runs.fetch_series(runs=["base-1"], attributes=["logs"], tail_limit=3))
    assert [r["step"] for r in tail] == LOSS_STEPS[-3:]
    hist = rows(nq_runs.fetch_series(runs=["base-1"], attributes=["hist"]))
    assert [r["hist"] for r in hist] == [NqHistogram(type="COUNTING", edges=[0.0, 1.0, 2.0], values=[3.0, 4.0]),
                                         NqHistogram(type="DENSITY", edges=[0.0, 0.5, 1.0], values=[0.25, 0.75])]
    files = rows(nq_runs.fetch_series(runs=["base-1"], attributes=["samples"]))
    assert [(r["samples"].path, r["samples"].size_bytes, r["samples"].mime_type) for r in files] == [
        ("s/1.png", 10, "image/png"), ("s/2.png", 20, "image/png")]
    forked = rows(nq.fetch_series(experiments=["exp-c"], attributes=["logs"]))
    assert [r["step"] for r in forked] == [s for s in LOSS_STEPS if s <= 2.0] + [3.0]
    assert forked[-1]["logs"] == "fork line"


PAGED_CLIENT = r"""
import json, math, sys
import neptune_query as nq, neptune_query.runs as nq_runs
from neptune_query.internal.retrieval import metrics
metrics.TOTAL_POINT_LIMIT = 3  # the client's own page size for float series: 3 points a page
def points(df, column):
    return [[r["step"], "NaN" if math.isnan(r[column]) else r[column]] for r in df.reset_index().to_dict("records")]
table = nq_runs.fetch_runs_table(attributes=r"^config/lr$", sort_by="config/lr")
print(json.dumps({
    "runs": nq_runs.list_runs(),
    "attributes": sorted(nq_runs.list_attributes(runs=["base-1"])),
    "table": [[i, v] for i, v in zip(table.index, table["config/lr"])],
    "loss": points(nq_runs.fetch_metrics(runs=["base-1"], attributes=["loss"]), "loss"),
    "fork": points(nq.fetch_metrics(experiments=["exp-c"], attributes=r"^loss$"), "loss"),
    "logs": [[r["step"], r["logs"]] for r in nq_runs.fetch_series(runs=["base-1"], attributes=["logs"])
             .reset_index().to_dict("records")],
}))
"""


@pytest.mark.slow
def test_a_client_process_pages_through_everything(setup: Setup, monkeypatch: pytest.MonkeyPatch) -> None:
    """neptune-query in its own process, with pages of 2 runs, 2 definitions, 2 values and 3 points, and
    the server sending 2 points of a string series per answer: every page boundary is crossed. The server reads
    every series through its many-series query here (the other tests read few series, one query each)."""
    import os
    import subprocess
    import sys

    from neon_server.services import neptune_series
    from neon_server.storage.analytics import track_read

    monkeypatch.setattr(neptune_series, "PAGE", 2)
    monkeypatch.setattr(track_read, "FEW_SEGMENTS", 0)
    env = {**os.environ, "NEPTUNE_QUERY_EXPERIMENT_SYS_ATTRS_BATCH_SIZE": "2",
           "NEPTUNE_QUERY_ATTRIBUTE_DEFINITIONS_BATCH_SIZE": "2", "NEPTUNE_QUERY_ATTRIBUTE_VALUES_BATCH_SIZE": "2"}
    done = subprocess.run([sys.executable, "-c", PAGED_CLIENT], env=env, capture_output=True, text=True,
                          timeout=240, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    got = json.loads(done.stdout.strip().splitlines()[-1])
    assert sorted(got["runs"]) == ["base-1", "base-2", "fork-1", "loner", "other-1"]
    assert {"config/lr", "loss", "acc", "logs", "hist", "samples", "sys/id"} <= set(got["attributes"])
    assert got["table"] == [["loner", 0.2], ["other-1", 0.1], ["base-2", 0.01], ["base-1", 0.001],
                            ["fork-1", 0.0005]]
    assert got["loss"] == [[s, "NaN" if s == 1.5 else loss("base-1", s)] for s in LOSS_STEPS]
    assert got["fork"] == [[s, "NaN" if s == 1.5 else loss("base-1", s)] for s in LOSS_STEPS if s <= 2.0] + [
        [s, loss("fork-1", s)] for s in FORK_STEPS]
    assert got["logs"] == [[s, f'line {s} ✓ "quoted"'] for s in LOSS_STEPS]


def python_buckets(points: list[tuple[float, float]], n: int) -> dict[int, dict[str, Any]]:
    """The same bucketing in plain Python: bucket 0 = (-inf, a], then n - 1 equal buckets up to b."""
    a, b = min(s for s, _ in points), max(s for s, _ in points)
    width = (b - a) / (n - 1)
    out: dict[int, dict[str, Any]] = {}
    for step, value in sorted(points):
        index = 0 if step <= a else min(n - 1, math.ceil((step - a) / width))
        bucket = out.setdefault(index, {"finite": [], "nan": 0, "pos": 0, "neg": 0})
        if math.isnan(value):
            bucket["nan"] += 1
        elif math.isinf(value):
            bucket["pos" if value > 0 else "neg"] += 1
        else:
            bucket["finite"].append((step, value))
    return out


@pytest.mark.slow
def test_metric_buckets_match_the_same_computation_in_python(setup: Setup, monkeypatch: pytest.MonkeyPatch) -> None:
    from neon_server.storage.analytics import track_read

    head = python_buckets([(s, loss("base-2", s)) for s in LOSS_STEPS], 4)  # exp-a's head run
    frame = nq.fetch_metric_buckets(experiments=["exp-a"], y=["loss"], limit=3)
    got = [(x, y) for x, y in zip(frame[("exp-a", "loss", "x")], frame[("exp-a", "loss", "y")], strict=True)
           if not math.isnan(x)]
    # the client merges bucket 0 (its first point) into bucket 1, then shows each bucket's last point
    assert got == [head[0]["finite"][0]] + [head[i]["finite"][-1] for i in (2, 3)]

    forked = nq.fetch_metric_buckets(experiments=["exp-c"], y=["loss"], limit=1000)
    xs = [x for x in forked[("exp-c", "loss", "x")] if not math.isnan(x)]
    assert xs == [s for s in LOSS_STEPS if s <= 2.0 and s != 1.5] + FORK_STEPS  # lineage, NaN has no point

    expected = python_buckets([(s, loss("base-1", s)) for s in LOSS_STEPS], 4)  # with a NaN at 1.5
    request = ProtoGetTimeseriesBucketsRequest(view=ProtoView(maxBuckets=4))
    request.expressions.add(requestId="r", runId=f"{setup.project}/NEON-1", customYFormula="${loss}")
    answer = httpx.post(setup.url + "/api/leaderboard/v1/proto/attributes/timeseries/buckets",
                        content=request.SerializeToString(), timeout=30,
                        headers={"Authorization": f"Bearer {setup.key}", "Content-Type": "application/x-protobuf"})
    assert answer.status_code == 200, answer.text
    (entry,) = ProtoTimeseriesBucketsDTO.FromString(answer.content).entries
    assert [b.index for b in entry.bucket] == sorted(expected)
    for bucket in entry.bucket:
        want = expected[bucket.index]
        finite = want["finite"]
        assert (bucket.finitePointCount, bucket.nanCount, bucket.positiveInfCount, bucket.negativeInfCount) == (
            len(finite), want["nan"], want["pos"], want["neg"])
        assert (bucket.first.x, bucket.first.y) == finite[0]
        assert (bucket.last.x, bucket.last.y) == finite[-1]
        assert bucket.localMin == min(v for _, v in finite)
        assert bucket.localMax == max(v for _, v in finite)
        assert bucket.localSum == pytest.approx(sum(v for _, v in finite))
    assert (entry.bucket[0].fromX, entry.bucket[0].toX, entry.bucket[-1].toX) == (-math.inf, 0.0, 3.0)
    monkeypatch.setattr(track_read, "FEW_SEGMENTS", 0)  # the many-series query answers the same
    again = httpx.post(setup.url + "/api/leaderboard/v1/proto/attributes/timeseries/buckets",
                       content=request.SerializeToString(), timeout=30,
                       headers={"Authorization": f"Bearer {setup.key}"})
    assert ProtoTimeseriesBucketsDTO.FromString(again.content) == ProtoTimeseriesBucketsDTO.FromString(answer.content)

    request.expressions[0].customYFormula = "${loss} * 2"
    refused = httpx.post(setup.url + "/api/leaderboard/v1/proto/attributes/timeseries/buckets",
                         content=request.SerializeToString(), timeout=30,
                         headers={"Authorization": f"Bearer {setup.key}"})
    assert refused.status_code == 422
    assert "only '${attribute path}'" in refused.json()["message"]


@pytest.mark.slow
def test_global_search_reads_the_callers_project(setup: Setup) -> None:
    import neptune_query.experimental as nq_experimental

    table = nq_experimental.fetch_runs_table_global(
        runs=Filter.matches(Attribute("sys/custom_run_id", type="string"), "^base"), attributes=["config/lr"],
        sort_by=Attribute("config/lr", type="float"), sort_direction="asc")
    assert list(table["config/lr"]) == [0.001, 0.01]


def post(setup: Setup, path: str, body: dict[str, Any], **params: str) -> httpx.Response:
    return httpx.post(setup.url + path, json=body, params=params,
                      headers={"Authorization": f"Bearer {setup.key}"}, timeout=30)


SEARCH = "/api/leaderboard/v1/proto/leaderboard/entries/search/"


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


def test_a_quoted_value_is_only_a_value(setup: Setup) -> None:
    names = nq.list_experiments(experiments=Filter.eq("sys/name", '"; DROP TABLE track_runs; --'))
    assert names == []
    assert len(setup.services.track.runs(setup.project_id)) == 5


def test_the_client_sees_fatal_errors_and_other_projects_as_inaccessible(setup: Setup) -> None:
    with pytest.raises(NeptuneUnexpectedResponseError, match="regular expression"):
        nq.list_experiments(experiments="(unclosed")
    with pytest.raises(NeptuneProjectInaccessible):
        nq.list_experiments(project="some-workspace/not-this-one")


def test_too_many_reads_at_once_answer_429_with_retry_after(setup: Setup) -> None:
    services = setup.services
    services.neptune_read = NeptuneRead(TrackReadStore(services.analytics), lambda p: services.projects.get(p).name,
                                        max_concurrent=0)
    answer = post(setup, SEARCH, {}, projectIdentifier=setup.project, type="run")
    assert answer.status_code == 429
    assert answer.headers["Retry-After"] == "1"


def search_ids(setup: Setup, body: dict[str, Any]) -> list[str]:
    answer = post(setup, SEARCH, {"attributeFilters": [{"path": "sys/custom_run_id"}], **body},
                  projectIdentifier=setup.project, type="run")
    assert answer.status_code == 200, answer.text
    result = ProtoLeaderboardEntriesSearchResultDTO.FromString(answer.content)
    return [a.string_properties.value for e in result.entries for a in e.attributes]


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
