"""Track's service over real chDB and SQLite/PostgreSQL: runs, attributes, series, summaries, replacement."""

from __future__ import annotations

import asyncio
import math
import statistics
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pytest

from neon_server.domain.track import (
    FLOAT_SCHEMA,
    FileRef,
    ForkPoint,
    Histogram,
    RunCreate,
    RunWrites,
    TrackCode,
)
from neon_server.runtime import Services


def run(coro: Any) -> Any:
    return asyncio.run(coro)


@pytest.fixture
def project(services: Services) -> str:
    return services.projects.create("track").id


def test_a_run_is_created_once_numbered_and_described(services: Services, project: str) -> None:
    outcome, created = run(services.track.create_run(project, RunCreate("r1", experiment_name="exp")))
    assert outcome.ok
    assert created is not None
    assert created.short_id == "NEON-1"
    again, same = run(services.track.create_run(project, RunCreate("r1", experiment_name="exp")))
    assert again.code == TrackCode.RUN_DUPLICATE
    assert same is not None
    assert same.short_id == "NEON-1"
    _, second = run(services.track.create_run(project, RunCreate("r2")))
    assert second is not None
    assert second.short_id == "NEON-2"
    attrs = services.track.attributes(project, "r1")
    assert attrs["sys/id"] == ("string", "NEON-1")
    assert attrs["sys/custom_run_id"] == ("string", "r1")
    assert attrs["sys/experiment/name"] == ("string", "exp")
    assert attrs["sys/creation_time"][0] == "datetime"


def test_forks_need_their_parent_and_keep_their_lineage(services: Services, project: str) -> None:
    missing, _ = run(services.track.create_run(project, RunCreate("child", fork=ForkPoint("nope", 5))))
    assert missing.code == TrackCode.RUN_FORK_PARENT_NOT_FOUND
    run(services.track.create_run(project, RunCreate("parent")))
    ok, child = run(services.track.create_run(project, RunCreate("child", fork=ForkPoint("parent", 5.5))))
    assert ok.ok
    assert child is not None
    assert (child.fork_parent_run_id, child.fork_step) == ("parent", 5.5)
    conflict, _ = run(services.track.create_run(project, RunCreate("child", fork=ForkPoint("parent", 7))))
    assert conflict.code == TrackCode.RUN_CONFLICTING
    assert services.track.attributes(project, "child")["sys/forking/step"] == ("float", 5.5)


def test_writes_to_an_unknown_run_are_refused(services: Services, project: str) -> None:
    writes = RunWrites("ghost")
    writes.add_float("loss", 1, 0, 1.0)
    assert run(services.track.write(project, writes)).code == TrackCode.RUN_NOT_FOUND


def test_attributes_of_every_type_are_stored_typed(services: Services, project: str) -> None:
    run(services.track.create_run(project, RunCreate("r")))
    writes = RunWrites("r")
    when = datetime(2026, 3, 5, 12, 0, 1, 500000, tzinfo=UTC)
    for path, value in {"config/lr": 0.001, "config/epochs": 10, "config/amp": True, "config/name": "resnet",
                        "config/start": when, "config/labels": frozenset({"a", "b"}),
                        "config/file": FileRef("files/x.bin", 12, "application/octet-stream")}.items():
        writes.set_attribute(path, value, 0)
    writes.set_changes += [("sys/tags", "t1", True), ("sys/tags", "t2", True), ("sys/tags", "t1", False)]
    outcome = run(services.track.write(project, writes))
    assert outcome.ok
    assert outcome.accepted == 10
    assert not outcome.rejections
    attrs = services.track.attributes(project, "r")
    assert attrs["config/lr"] == ("float", 0.001)
    assert attrs["config/epochs"] == ("int", 10)
    assert attrs["config/amp"] == ("bool", True)
    assert attrs["config/name"] == ("string", "resnet")
    assert attrs["config/start"] == ("datetime", when)
    assert attrs["config/labels"] == ("stringSet", ["a", "b"])
    assert attrs["config/file"] == ("fileRef", {"path": "files/x.bin", "size_bytes": 12,
                                                "mime_type": "application/octet-stream"})
    assert attrs["sys/tags"] == ("stringSet", ["t2"])
    more = RunWrites("r")
    more.set_changes.append(("sys/tags", "t3", True))
    run(services.track.write(project, more))
    assert services.track.attributes(project, "r")["sys/tags"] == ("stringSet", ["t2", "t3"])


def test_bad_values_are_rejected_and_the_rest_kept(services: Services, project: str) -> None:
    run(services.track.create_run(project, RunCreate("r")))
    writes = RunWrites("r")
    writes.set_attribute("", 1.0, 0)
    writes.set_attribute("sys/id", "forged", 0)
    writes.set_attribute("ok", 2.0, 0)
    writes.add_float("loss", math.nan, 0, 1.0)  # a NaN step
    writes.add_float("loss", 1, 0, 0.5)
    writes.add_histogram("h", 1, 0, Histogram((0.0, 1.0), (1.0, 2.0)))  # 2 values for 1 bin
    outcome = run(services.track.write(project, writes))
    codes = {r.code: r.count for r in outcome.rejections}
    assert codes == {TrackCode.FIELD_PATH_EMPTY: 1, TrackCode.FIELD_PATH_NON_WRITABLE: 1,
                     TrackCode.SERIES_STEP_INVALID: 1, TrackCode.HISTOGRAM_VALUES_LENGTH_DOESNT_MATCH_BINS: 1}
    assert outcome.accepted == 2
    assert services.track.attributes(project, "r")["ok"] == ("float", 2.0)
    assert services.track.attributes(project, "r")["sys/id"] == ("string", "NEON-1")
    assert services.track.points("float", project, "r", "loss").column("value").to_pylist() == [0.5]


def test_float_series_summaries_match_a_plain_computation(services: Services, project: str) -> None:
    run(services.track.create_run(project, RunCreate("r")))
    values = [math.sin(i / 7) * 10 + i / 100 for i in range(3000)]
    values[5], values[9], values[11] = math.nan, math.inf, -math.inf
    for chunk in range(3):  # three requests, each after the last: merged, never recomputed
        writes = RunWrites("r")
        for i in range(chunk * 1000, (chunk + 1) * 1000):
            writes.add_float("train/loss", i + 0.25, 1_700_000_000_000 + i, values[i])
        assert run(services.track.write(project, writes)).accepted == 1000
    summary = services.track.series(project, "r")["train/loss"]
    finite = [v for v in values if math.isfinite(v)]
    assert (summary.count, summary.finite_count, summary.nan_count, summary.posinf_count, summary.neginf_count) \
        == (3000, 2997, 1, 1, 1)
    assert (summary.first_step, summary.last_step, summary.last_value) == (0.25, 2999.25, values[-1])
    assert summary.min_value == min(finite)
    assert summary.max_value == max(finite)
    assert summary.mean_value == pytest.approx(statistics.fmean(finite), rel=1e-12)
    assert summary.variance == pytest.approx(statistics.pvariance(finite), rel=1e-9)


def test_a_step_logged_again_replaces_the_point_and_the_summary_follows(services: Services, project: str) -> None:
    run(services.track.create_run(project, RunCreate("r")))
    first = RunWrites("r")
    for i in range(10):
        first.add_float("acc", i, 0, float(i))
    run(services.track.write(project, first))
    again = RunWrites("r")
    again.add_float("acc", 3, 0, 100.0)
    again.add_float("acc", 9, 0, -1.0)
    run(services.track.write(project, again))
    assert services.track.points("float", project, "r", "acc").column("value").to_pylist() == [
        0, 1, 2, 100, 4, 5, 6, 7, 8, -1]
    summary = services.track.series(project, "r")["acc"]
    assert (summary.count, summary.max_value, summary.min_value, summary.last_value) == (10, 100.0, -1.0, -1.0)


def test_columns_in_arrow_and_other_series_kinds(services: Services, project: str) -> None:
    run(services.track.create_run(project, RunCreate("r")))
    n = 50_000
    writes = RunWrites("r")
    writes.float_arrow = pa.table({"path": pa.array(["m/a", "m/b"] * (n // 2)).dictionary_encode(),
                                   "step": [float(i // 2) for i in range(n)], "time_ms": [0.0] * n,
                                   "value": [float(i) for i in range(n)], "preview": [False] * n,
                                   "ratio": pa.array([1.0] * n, pa.float32())})
    assert writes.float_arrow.schema.field("step").type == FLOAT_SCHEMA.field("step").type
    writes.add_string("runtime/stdout", 0.000001, 0, "hello")
    writes.add_string("runtime/stdout", 0.000002, 0, "world")
    writes.add_histogram("h", 1, 0, Histogram((0.0, 1.0, 2.0), (3.0, 4.0)))
    writes.add_file("images", 1, 0, FileRef("f/1.png", 10, "image/png"))
    outcome = run(services.track.write(project, writes))
    assert outcome.accepted == n + 4
    series = services.track.series(project, "r")
    assert series["m/a"].count == n // 2
    assert series["m/b"].last_value == n - 1
    assert series["runtime/stdout"].type == "stringSeries"
    assert series["runtime/stdout"].count == 2
    assert series["h"].type == "histogramSeries"
    assert series["images"].type == "fileRefSeries"
    assert services.track.points("string", project, "r", "runtime/stdout").column("value").to_pylist() == [
        "hello", "world"]
    hist = services.track.points("histogram", project, "r", "h").to_pylist()[0]
    assert hist["bin_edges"] == [0.0, 1.0, 2.0]
    assert hist["bin_values"] == [3.0, 4.0]


def test_the_read_api_answers_what_is_stored(services: Services, client, project_key) -> None:
    project_id, key = project_key
    headers = {"Authorization": f"Bearer {key}"}
    run(services.track.create_run(project_id, RunCreate("exp-1", experiment_name="baseline")))
    writes = RunWrites("exp-1")
    writes.set_attribute("config/lr", 0.1, 0)
    writes.add_float("loss", 1, 1_700_000_000_000, math.nan)
    writes.add_float("loss", 2, 1_700_000_000_000, 0.5)
    run(services.track.write(project_id, writes))
    runs = client.get("/api/track/runs", headers=headers).json()["runs"]
    assert [(r["run_id"], r["short_id"]) for r in runs] == [("exp-1", "NEON-1")]
    detail = client.get("/api/track/runs/exp-1", headers=headers).json()
    assert detail["attributes"]["config/lr"] == {"type": "float", "value": 0.1}
    assert detail["series"]["loss"]["count"] == 2
    assert detail["series"]["loss"]["nan_count"] == 1
    assert detail["series"]["loss"]["last"] == 0.5
    points = client.get("/api/track/runs/exp-1/points", params={"path": "loss"}, headers=headers).json()
    assert [p["value"] for p in points["points"]] == ["NaN", 0.5]
    assert client.get("/api/track/runs/nope", headers=headers).status_code == 404
