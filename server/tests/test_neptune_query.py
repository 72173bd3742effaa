"""The unmodified neptune-query 1.14 client reads runs written through Track, over HTTP from a live server.

Runs are written through `Services.track` (see neptune_read_rig.py), then read back with neptune-query's public
functions; every value must equal what was written, NaN included.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import neptune_query as nq
import neptune_query.runs as nq_runs
import pytest
from neptune_api.proto.neptune_pb.api.v1.model.requests_pb2 import ProtoGetTimeseriesBucketsRequest, ProtoView
from neptune_api.proto.neptune_pb.api.v1.model.series_values_pb2 import ProtoTimeseriesBucketsDTO
from neptune_query.exceptions import NeptuneProjectInaccessible, NeptuneUnexpectedResponseError
from neptune_query.filters import Attribute, AttributeFilter, Filter
from neptune_query.types import Histogram as NqHistogram

from neon_server.runtime import Services
from server.tests.neptune_read_rig import (
    FORK_STEPS,
    LOSS_STEPS,
    START,
    T0,
    Setup,
    loss,
    python_buckets,
    reading,
    rows,
    same,
)


@pytest.fixture
def setup(live_server: Any, services: Services, project_key: tuple[str, str],
          monkeypatch: pytest.MonkeyPatch) -> Iterator[Setup]:
    yield from reading(live_server, services, project_key, monkeypatch)


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

    # every operator the client's Filter has, datetimes with an offset, OR and NOT
    later = (Filter.gt("sys/creation_time", T0 + timedelta(seconds=30)) & Filter.ne("config/name", "vit")
             & Filter.contains_none("sys/tags", ["tag-c"]) & Filter.ge("config/lr", 0.1)
             & Filter.lt("config/lr", 0.15))
    assert list(nq_runs.fetch_runs_table(runs=later, attributes=["config/lr"]).index) == ["other-1"]
    either = Filter.eq("config/epochs", 10) | Filter.matches("sys/custom_run_id", "^fork") | ~Filter.exists("loss")
    assert sorted(nq_runs.list_runs(runs=either)) == ["base-1", "fork-1", "loner"]
    assert sorted(nq_runs.list_runs(runs=Filter.contains_all("sys/tags", ["tag-a", "best"]))) == ["base-1"]
    assert nq_runs.list_runs(runs=Filter.eq("config/start", START)) == ["base-1"]


@pytest.mark.slow
def test_metrics_with_limits_ranges_and_lineage(setup: Setup) -> None:
    own = rows(nq_runs.fetch_metrics(runs=["base-1"], attributes=["loss", "acc"]))
    assert [r["step"] for r in own] == LOSS_STEPS
    assert all(same(r["loss"], loss("base-1", r["step"])) for r in own)
    assert math.isnan(own[3]["loss"])  # NaN comes back as NaN
    assert [r["acc"] for r in own] == [s / 10 for s in LOSS_STEPS]
    special = rows(nq_runs.fetch_metrics(runs=["base-2"], attributes=["grad"]))
    assert [r["step"] for r in special] == [1, 2, 3, 4]
    assert special[0]["grad"] == math.inf
    assert special[1]["grad"] == -math.inf
    assert math.isnan(special[2]["grad"])
    assert special[3]["grad"] == 0.5

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


@pytest.mark.slow
def test_download_files_fetches_the_bytes_through_signed_urls(setup: Setup, tmp_path: Any) -> None:
    stored = {"s/1.png": b"\x89PNG one.", "s/2.png": b"\x89PNG second image."}
    for key, content in stored.items():  # as neptune-scale's upload would have left them
        pending = setup.services.track_files.begin(setup.project_id, key)
        pending.write(content)
        pending.commit()
    files = nq_runs.fetch_series(runs=["base-1"], attributes=["samples"])
    found = nq_runs.download_files(files=files, destination=tmp_path)
    downloaded = sorted(Path(p).relative_to(tmp_path) for p in found.to_numpy().ravel() if isinstance(p, str))
    assert len(downloaded) == 2
    assert sorted(Path(p).read_bytes() for p in found.to_numpy().ravel() if isinstance(p, str)) == sorted(
        stored.values())
    missing = nq_runs.fetch_series(runs=["base-1"], attributes=["samples"], step_range=(1, 1))
    setup.services.track_files.path(setup.project_id, "s/1.png").unlink()
    again = nq_runs.download_files(files=missing, destination=tmp_path / "again")
    assert [p for p in again.to_numpy().ravel() if isinstance(p, str)] == []  # not found: no path, no bytes
    assert not any((tmp_path / "again").rglob("*.png"))


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


def test_a_quoted_value_is_only_a_value(setup: Setup) -> None:
    names = nq.list_experiments(experiments=Filter.eq("sys/name", '"; DROP TABLE track_runs; --'))
    assert names == []
    assert len(setup.services.track.runs(setup.project_id)) == 5


def test_the_client_sees_fatal_errors_and_other_projects_as_inaccessible(setup: Setup) -> None:
    with pytest.raises(NeptuneUnexpectedResponseError, match="regular expression"):
        nq.list_experiments(experiments="(unclosed")
    with pytest.raises(NeptuneProjectInaccessible):
        nq.list_experiments(project="some-workspace/not-this-one")


