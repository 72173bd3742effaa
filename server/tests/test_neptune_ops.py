"""Neptune's RunOperation protobuf → Track's domain types (pure conversion)."""

from __future__ import annotations

import math
from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp
from neptune_api.proto.neptune_pb.ingest.v1 import common_pb2 as c
from neptune_api.proto.neptune_pb.ingest.v1.pub import ingest_pb2

from neon_server.domain.track import FileRef, ForkPoint, Histogram, TrackCode
from neon_server.track import neptune_ops

T0 = Timestamp(seconds=1_700_000_000, nanos=250_000_000)
T0_MS = 1_700_000_000_250.0


def test_create_takes_the_run_id_from_the_operation_and_the_fork_point() -> None:
    op = ingest_pb2.RunOperation(project="ws/proj", run_id="child", create=c.Run(
        family="child", experiment_id="exp", creation_time=T0, inherit_configs=True,
        fork_point=c.ForkPoint(parent_project="ws/proj", parent_run_id="parent", step=c.Step(whole=7, micro=250_000))))
    create = neptune_ops.to_run_create(op)
    assert create.run_id == "child"
    assert create.experiment_name == "exp"
    assert create.family == "child"
    assert create.fork == ForkPoint("parent", 7.25)
    assert create.creation_time == datetime.fromtimestamp(T0_MS / 1000, UTC)
    assert neptune_ops.fork_parent_project(op) == "ws/proj"


def test_create_without_options_is_a_plain_run() -> None:
    op = ingest_pb2.RunOperation(project="ws/proj", run_id="r", create=c.Run())
    create = neptune_ops.to_run_create(op)
    assert (create.run_id, create.experiment_name, create.fork, create.creation_time, create.family) == (
        "r", "", None, None, "r")
    assert neptune_ops.fork_parent_project(op) is None


def _batch(*snapshots: c.UpdateRunSnapshot) -> ingest_pb2.RunOperation:
    return ingest_pb2.RunOperation(project="ws/proj", run_id="r",
                                   update_batch=c.UpdateRunSnapshots(snapshots=list(snapshots)))


def test_assign_becomes_typed_attributes() -> None:
    snap = c.UpdateRunSnapshot(timestamp=T0, assign={
        "f": c.Value(float64=0.5), "i": c.Value(int64=-3), "b": c.Value(bool=True), "s": c.Value(string="x"),
        "t": c.Value(timestamp=Timestamp(seconds=1_600_000_000)),
        "set": c.Value(string_set=c.StringSet(values=["a", "b"])),
        "file": c.Value(file_ref=c.FileRef(path="r/file/none/a.txt", size_bytes=12, mime_type="text/plain"))})
    out = neptune_ops.to_run_writes(_batch(snap), now_ms=0)
    assert out.writes.assign == {"f": 0.5, "i": -3, "b": True, "s": "x",
                                 "t": datetime.fromtimestamp(1_600_000_000, UTC), "set": frozenset({"a", "b"}),
                                 "file": FileRef("r/file/none/a.txt", 12, "text/plain")}
    assert type(out.writes.assign["i"]) is int
    assert set(out.writes.assign_time.values()) == {T0_MS}
    assert not out.rejected


def test_append_becomes_points_at_fractional_steps() -> None:
    nan = c.UpdateRunSnapshot(step=c.Step(whole=3, micro=500_000), timestamp=T0, append={
        "loss": c.Value(float64=math.nan), "acc": c.Value(int64=2)})
    other = c.UpdateRunSnapshot(step=c.Step(whole=0, micro=1), timestamp=T0,
                                preview=c.Preview(is_preview=True, completion_ratio=0.25), append={
        "text": c.Value(string="line"),
        "hist": c.Value(histogram=c.Histogram(bin_edges=[0, 1, 2], counts=c.Histogram.Counts(values=[4, 5]))),
        "dens": c.Value(histogram=c.Histogram(bin_edges=[0, 1], densities=c.Histogram.Densities(values=[0.5]))),
        "img": c.Value(file_ref=c.FileRef(path="p", size_bytes=1, mime_type="image/png"))})
    w = neptune_ops.to_run_writes(_batch(nan, other), now_ms=0).writes
    points = dict(zip(w.float_path, w.float_value, strict=True))
    assert set(points) == {"loss", "acc"}
    assert math.isnan(points["loss"])
    assert points["acc"] == 2.0
    assert w.float_step == [3.5, 3.5]
    assert w.float_time == [T0_MS, T0_MS]
    assert w.float_preview == [False, False]
    assert w.float_ratio == [1.0, 1.0]
    assert (w.string_path, w.string_step, w.string_value, w.string_preview) == (["text"], [0.000001], ["line"], [True])
    assert w.string_ratio == [0.25]
    assert dict(zip(w.histogram_path, w.histogram_value, strict=True)) == {
        "hist": Histogram((0.0, 1.0, 2.0), (4.0, 5.0)), "dens": Histogram((0.0, 1.0), (0.5,), "densities")}
    assert w.file_value == [FileRef("p", 1, "image/png")]


def test_modify_sets_become_tag_changes_in_order() -> None:
    add = c.UpdateRunSnapshot(modify_sets={"sys/tags": c.ModifySet(string=c.ModifyStringSet(values={
        "a": c.ADD, "b": c.ADD}))})
    remove = c.UpdateRunSnapshot(modify_sets={"sys/group_tags": c.ModifySet(string=c.ModifyStringSet(values={
        "g": c.REMOVE, "ignored": c.NOOP}))})
    w = neptune_ops.to_run_writes(_batch(add, remove), now_ms=0).writes
    assert sorted(w.set_changes[:2]) == [("sys/tags", "a", True), ("sys/tags", "b", True)]
    assert w.set_changes[2:] == [("sys/group_tags", "g", False)]


def test_a_single_update_is_a_batch_of_one_and_now_stands_in_for_a_missing_timestamp() -> None:
    op = ingest_pb2.RunOperation(project="ws/proj", run_id="r", update=c.UpdateRunSnapshot(
        step=c.Step(whole=1), append={"m": c.Value(float64=1.0)}))
    w = neptune_ops.to_run_writes(op, now_ms=42.0).writes
    assert (w.run_id, w.float_step, w.float_time) == ("r", [1.0], [42.0])


def test_what_track_cannot_hold_is_counted_and_the_rest_kept() -> None:
    snap = c.UpdateRunSnapshot(assign={
        "h": c.Value(histogram=c.Histogram(bin_edges=[0, 1], counts=c.Histogram.Counts(values=[1]))),
        "empty": c.Value(), "ok": c.Value(float64=1.0)})
    no_step = c.UpdateRunSnapshot(append={"m": c.Value(float64=1.0), "n": c.Value(float64=2.0)})
    bad_series = c.UpdateRunSnapshot(step=c.Step(whole=1), append={"b": c.Value(bool=True),
                                                                  "m": c.Value(float64=3.0)})
    out = neptune_ops.to_run_writes(_batch(snap, no_step, bad_series), now_ms=0)
    assert out.writes.assign == {"ok": 1.0}
    assert out.writes.float_value == [3.0]
    counts: dict[TrackCode, int] = {}
    for rejection in out.rejections():
        counts[rejection.code] = counts.get(rejection.code, 0) + rejection.count
    assert counts == {TrackCode.FIELD_TYPE_UNSUPPORTED: 3, TrackCode.SERIES_STEP_INVALID: 2}
    assert all(r.message for r in out.rejections())
