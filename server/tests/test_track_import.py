"""Importing neptune-exporter Parquet and exporting runs in its shape, through a real server over real stores.

The rows are written here in the exporter's shape (`neptune_export.py`); what is stored is read back through
`Services.track` and compared with what the rows say.
"""

from __future__ import annotations

import io
import math
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pyarrow as pa
import pytest

from neon_server.runtime import Services
from neon_server.services import track_transfer
from server.tests.conftest import LiveServer
from server.tests.neptune_export import SCHEMA, T0, param, point, run_rows, table

ARROW = "application/vnd.apache.arrow.stream"
SERIES = {"floatSeries": "float", "stringSeries": "string", "histogramSeries": "histogram", "fileRefSeries": "file"}


def arrow_body(rows: pa.Table) -> bytes:
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, rows.schema) as writer:
        writer.write_table(rows)
    return sink.getvalue()


def post(server: LiveServer, key: str, rows: pa.Table) -> httpx.Response:
    return httpx.post(f"{server.url}/api/track/import", content=arrow_body(rows), timeout=60,
                      headers={"Authorization": f"Bearer {key}", "Content-Type": ARROW})


def plain(value: Any) -> Any:
    """Values comparable with ==: NaN as a string, lists and dicts recursively."""
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value


def snapshot(services: Services, project: str) -> dict[str, Any]:
    """Everything stored of a project's runs, comparable across projects (Neon's own numbering left out)."""
    out: dict[str, Any] = {}
    for run in services.track.runs(project):
        attributes = services.track.attributes(project, run.run_id)
        attributes.pop("sys/id")
        series = services.track.series(project, run.run_id)
        out[run.run_id] = {
            "run": (run.experiment_name, run.family, run.owner, run.created_at, run.fork_parent_run_id,
                    run.fork_step),
            "attributes": plain(dict(attributes.items())),
            # summaries of a series logged again are recomputed by the store: the same up to float rounding;
            # `rewritten` says how the points are stored (replaced rows not merged yet), not what they are
            "series": {p: plain({k: round(v, 9) if isinstance(v, float) and math.isfinite(v) else v
                                 for k, v in vars(s).items() if k != "rewritten"}) for p, s in series.items()},
            "points": {p: plain(services.track.points(SERIES[s.type], project, run.run_id, p).to_pylist())
                       for p, s in series.items()}}
    return out


@pytest.fixture
def key(project_key: tuple[str, str]) -> str:
    return project_key[1]


def test_runs_are_stored_as_the_rows_say(services: Services, live_server: LiveServer,
                                         project_key: tuple[str, str]) -> None:
    project, key = project_key
    # The fork's rows come first: its parent is created first all the same.
    rows = table(run_rows("child", parent="parent", fork_step=1.25, created=T0 + timedelta(days=1))
                 + run_rows("parent", experiment="exp-a"))
    answer = post(live_server, key, rows)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert sorted(body["runs_created"]) == ["child", "parent"]
    assert body["errors"] == []
    assert body["detached"] == []

    parent = services.track.run(project, "parent")
    child = services.track.run(project, "child")
    assert (parent.experiment_name, parent.created_at, parent.owner) == ("exp-a", T0, "alice")
    assert (child.fork_parent_run_id, child.fork_step, child.created_at) == ("parent", 1.25, T0 + timedelta(days=1))
    attrs = services.track.attributes(project, "parent")
    assert attrs["config/lr"] == ("float", 0.001)
    assert attrs["config/epochs"] == ("int", 12)
    assert attrs["config/optimizer"] == ("string", "adam")
    assert attrs["config/augment"] == ("bool", True)
    assert attrs["config/started"] == ("datetime", T0 + timedelta(minutes=1))
    assert attrs["config/labels"] == ("stringSet", ["cat", "dog"])
    assert attrs["sys/tags"] == ("stringSet", ["baseline", "resnet"])
    assert attrs["sys/modification_time"] == ("datetime", T0 + timedelta(hours=2))  # the run's, not the import's
    assert attrs["sys/custom_run_id"] == ("string", "parent")
    assert attrs["sys/id"][1].startswith("NEON-")
    assert attrs["artifacts/model"][0] == "fileRef"
    assert attrs["artifacts/model"][1]["path"].endswith("/artifacts/model.txt")
    assert services.track.attributes(project, "child")["sys/forking/parent"] == ("string", "parent")

    loss = services.track.points("float", project, "parent", "train/loss").to_pylist()
    assert [p["step"] for p in loss] == [0, 0.5, 1.000001, 1.25, 2, 2.1, 3]  # decimal steps, exactly
    assert plain([p["value"] for p in loss]) == [2.5, 2.25, "NaN", math.inf, -math.inf, 0.1, 1.75]
    assert [p["time_ms"] for p in loss] == [(T0.timestamp() + i) * 1000 for i in range(7)]
    summary = services.track.series(project, "parent")["train/loss"]
    assert (summary.count, summary.nan_count, summary.posinf_count, summary.neginf_count) == (7, 1, 1, 1)
    logs = services.track.points("string", project, "parent", "logs/stdout").to_pylist()
    assert [(p["step"], p["value"]) for p in logs] == [(0, "epoch 0"), (0.25, "warm"), (1, "épocha 1 ✓")]
    hist = services.track.points("histogram", project, "parent", "weights/hist").to_pylist()
    assert [(h["kind"], h["bin_edges"], h["bin_values"]) for h in hist] == [
        ("counts", [0.0, 0.5, 1.0 + i], [float(i), 3.0]) for i in range(3)]
    files = services.track.points("file", project, "parent", "samples/image").to_pylist()
    assert [(f["step"], f["file_path"].rsplit("/", 1)[1], f["file_mime"]) for f in files] == [
        (1, "step_1_000000.png", "image/png"), (2, "step_2_000000.png", "image/png")]


def test_importing_twice_changes_nothing(services: Services, live_server: LiveServer,
                                         project_key: tuple[str, str]) -> None:
    project, key = project_key
    rows = table(run_rows("a", experiment="e") + run_rows("b", parent="a", fork_step=2))
    assert post(live_server, key, rows).status_code == 200
    before = snapshot(services, project)
    again = post(live_server, key, rows)
    assert again.status_code == 200
    assert sorted(again.json()["runs_existing"]) == ["a", "b"]
    assert again.json()["runs_created"] == []
    assert snapshot(services, project) == before
    assert len(services.track.runs(project)) == 2


def test_a_fork_imported_before_its_parent_is_linked_when_imported_again(
        services: Services, live_server: LiveServer, project_key: tuple[str, str]) -> None:
    project, key = project_key
    child = table(run_rows("late-child", parent="late-parent", fork_step=1))
    first = post(live_server, key, child).json()
    assert first["detached"] == ["late-child"]
    assert services.track.run(project, "late-child").fork_parent_run_id == ""
    assert services.track.attributes(project, "late-child")["sys/forking/parent"] == ("string", "late-parent")
    assert post(live_server, key, table(run_rows("late-parent"))).status_code == 200
    second = post(live_server, key, child).json()
    assert second["relinked"] == ["late-child"]
    linked = services.track.run(project, "late-child")
    assert (linked.fork_parent_run_id, linked.fork_step) == ("late-parent", 1.0)


def test_bad_rows_are_named_and_the_good_ones_written(services: Services, live_server: LiveServer,
                                                      project_key: tuple[str, str]) -> None:
    project, key = project_key
    good = run_rows("r")
    bad = [{**param("r", "x/odd", "string", "?"), "attribute_type": "complex_number"},
           {**point("r", "train/loss", "float_series", "9", 1.0), "step": None},
           point("r", "weights/hist", "histogram_series", "9", {"type": "COUNTING", "edges": [1.0, 0.0],
                                                                 "values": [1.0]}),
           {**point("r", "train/acc", "float_series", "9", None)},
           {**param("r", "config/x", "string", "v"), "run_id": None}]
    answer = post(live_server, key, table(good + bad))
    assert answer.status_code == 422
    error = answer.json()["error"]
    n = len(good)
    assert [(e["row"], e["column"]) for e in error["errors"]] == [
        (n, "attribute_type"), (n + 1, "step"), (n + 2, "histogram_value"), (n + 3, "float_value"), (n + 4, "run_id")]
    assert f"row {n}, column attribute_type: unknown attribute type 'complex_number'" in error["message"]
    assert "do not increase" in error["errors"][2]["message"]
    assert error["runs_created"] == ["r"]
    assert services.track.series(project, "r")["train/loss"].count == 7  # everything good is there
    assert services.track.series(project, "r")["weights/hist"].count == 3


def test_a_table_of_another_shape_is_refused_naming_the_column(live_server: LiveServer, key: str) -> None:
    rows = table(run_rows("r")).drop_columns(["step"])
    answer = post(live_server, key, rows)
    assert answer.status_code == 422
    assert answer.json()["error"]["column"] == "step"
    assert "column 'step' is missing" in answer.json()["error"]["message"]
    garbage = httpx.post(f"{live_server.url}/api/track/import", content=b"not arrow", timeout=10,
                         headers={"Authorization": f"Bearer {key}", "Content-Type": ARROW})
    assert garbage.status_code == 400
    assert "not an Arrow IPC stream" in garbage.json()["error"]["message"]
    json_body = httpx.post(f"{live_server.url}/api/track/import", json={}, timeout=10,
                           headers={"Authorization": f"Bearer {key}"})
    assert json_body.status_code == 415
    unauthenticated = httpx.post(f"{live_server.url}/api/track/import", content=arrow_body(table(run_rows("r"))),
                                 headers={"Content-Type": ARROW}, timeout=10)
    assert unauthenticated.status_code == 401


def test_export_streams_the_rows_back_in_the_exporters_shape(live_server: LiveServer, key: str,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(track_transfer, "MAX_EXPORT_POINTS", 4)  # a run read a few series at a time
    rows = table(run_rows("a", experiment="e"))
    assert post(live_server, key, rows).status_code == 200
    with httpx.stream("GET", f"{live_server.url}/api/track/export", params={"run_id": "a"}, timeout=60,
                      headers={"Authorization": f"Bearer {key}"}) as answer:
        assert answer.status_code == 200
        assert answer.headers["content-type"] == ARROW
        exported = pa.ipc.open_stream(answer.read()).read_all()
    assert exported.schema == SCHEMA
    loss = exported.filter(pa.compute.equal(exported["attribute_path"], "train/loss")).to_pylist()
    assert [str(r["step"]) for r in loss] == ["0.000000", "0.500000", "1.000001", "1.250000", "2.000000",
                                              "2.100000", "3.000000"]
    assert {r["attribute_type"] for r in exported.to_pylist()} == {
        "string", "datetime", "string_set", "bool", "float", "int", "file", "float_series", "string_series",
        "histogram_series", "file_series"}
    series = exported.filter(exported["step"].is_valid()).group_by("attribute_path").aggregate([([], "count_all")])
    assert dict(zip(*series.to_pydict().values(), strict=True)) == {
        "train/loss": 7, "train/acc": 5, "logs/stdout": 3, "weights/hist": 3, "samples/image": 2}
    hist = exported.filter(pa.compute.equal(exported["attribute_type"], "histogram_series")).to_pylist()
    assert hist[0]["histogram_value"] == {"type": "COUNTING", "edges": [0.0, 0.5, 1.0], "values": [0.0, 3.0]}
    missing = httpx.get(f"{live_server.url}/api/track/export", params={"run_id": "nope"},
                        headers={"Authorization": f"Bearer {key}"}, timeout=10)
    assert missing.status_code == 404


def test_datetimes_stay_utc_milliseconds(services: Services, live_server: LiveServer,
                                         project_key: tuple[str, str]) -> None:
    project, key = project_key
    moment = datetime(2024, 2, 29, 23, 59, 59, 123000, tzinfo=UTC)
    assert post(live_server, key, table([param("d", "when", "datetime", moment)])).status_code == 200
    assert services.track.attributes(project, "d")["when"] == ("datetime", moment)


def test_columns_of_a_narrower_or_finer_type_are_read(services: Services, live_server: LiveServer,
                                                      project_key: tuple[str, str]) -> None:
    project, key = project_key
    rows = table(run_rows("w"))
    rows = rows.set_column(rows.schema.get_field_index("timestamp"), "timestamp",
                           rows.column("timestamp").cast(pa.timestamp("us", tz="UTC")))
    rows = rows.set_column(rows.schema.get_field_index("int_value"), "int_value", rows.column("int_value").cast(
        pa.int32()))
    assert post(live_server, key, rows).status_code == 200
    assert services.track.attributes(project, "w")["config/epochs"] == ("int", 12)
    assert services.track.series(project, "w")["train/loss"].count == 7
