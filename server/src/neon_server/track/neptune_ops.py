"""Neptune's ingest protobuf (`RunOperation`, as neptune-scale sends it) → Track's domain types. Pure: no I/O.

- `create` → `RunCreate`. neptune-scale leaves `Run.run_id` empty and puts the id in `RunOperation.run_id`
  (`Run.run_id` wins when a client sets it). `experiment_id` is the experiment name; `fork_point` → `ForkPoint`.
- `update` / `update_batch` → one `RunWrites`: `assign` → attributes, `append` → series points (float, string,
  histogram, file), `modify_sets` → string-set changes (`sys/tags`, `sys/group_tags`). A step is
  `whole + micro / 1e6`; times are epoch milliseconds.

What cannot be expressed in Track's types (a histogram as an attribute, a bool appended to a series, a point
without a step) is left out and counted as a `Rejection`, so the client is told and the rest is written.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp
from neptune_api.proto.neptune_pb.ingest.v1 import common_pb2
from neptune_api.proto.neptune_pb.ingest.v1.pub import ingest_pb2

from neon_server.domain.track import (
    AttributeValue,
    FileRef,
    ForkPoint,
    Histogram,
    Rejection,
    RunCreate,
    RunWrites,
    TrackCode,
)

ADD, REMOVE = common_pb2.ADD, common_pb2.REMOVE


@dataclass
class Converted:
    """One operation's writes and what of it could not be converted."""

    writes: RunWrites
    rejected: Counter[tuple[TrackCode, str]] = field(default_factory=Counter)

    def rejections(self) -> tuple[Rejection, ...]:
        return tuple(Rejection(code, count, message) for (code, message), count in self.rejected.items())


def run_id_of(op: ingest_pb2.RunOperation) -> str:
    if op.WhichOneof("operation") == "create" and op.create.HasField("run_id") and op.create.run_id:
        return str(op.create.run_id)
    return str(op.run_id)


def time_ms(ts: Timestamp) -> float:
    return float(ts.seconds * 1000 + ts.nanos / 1_000_000)


def step_value(step: common_pb2.Step) -> float:
    return float(step.whole + step.micro / 1_000_000)


def to_run_create(op: ingest_pb2.RunOperation) -> RunCreate:
    """The run a `create` operation asks for. A fork's `parent_project` is checked by the caller."""
    run = op.create
    run_id = run_id_of(op)
    fork = None
    if run.HasField("fork_point"):
        fork = ForkPoint(parent_run_id=run.fork_point.parent_run_id, step=step_value(run.fork_point.step))
    created = datetime.fromtimestamp(time_ms(run.creation_time) / 1000, UTC) if run.HasField("creation_time") \
        else None
    return RunCreate(run_id=run_id, experiment_name=run.experiment_id if run.HasField("experiment_id") else "",
                     creation_time=created, fork=fork, family=(run.family if run.HasField("family") else "") or run_id)


def fork_parent_project(op: ingest_pb2.RunOperation) -> str | None:
    """The project a fork names as its parent's, when it names one."""
    if op.create.HasField("fork_point") and op.create.fork_point.HasField("parent_project"):
        return str(op.create.fork_point.parent_project)
    return None


def snapshots_of(op: ingest_pb2.RunOperation) -> list[common_pb2.UpdateRunSnapshot]:
    kind = op.WhichOneof("operation")
    if kind == "update":
        return [op.update]
    if kind == "update_batch":
        return list(op.update_batch.snapshots)
    return []


def to_run_writes(op: ingest_pb2.RunOperation, *, now_ms: float) -> Converted:
    """The writes of an `update` or `update_batch`; `now_ms` stands in for a snapshot without a timestamp."""
    out = Converted(RunWrites(run_id=run_id_of(op)))
    for snapshot in snapshots_of(op):
        _snapshot(snapshot, out, now_ms)
    return out


def _snapshot(snap: common_pb2.UpdateRunSnapshot, out: Converted, now_ms: float) -> None:
    w = out.writes
    when = time_ms(snap.timestamp) if snap.HasField("timestamp") else now_ms
    for path, value in snap.assign.items():
        converted = _attribute(value)
        if converted is None:
            kind = value.WhichOneof("value") or "empty"
            out.rejected[TrackCode.FIELD_TYPE_UNSUPPORTED,
                         f"an attribute of {kind} value is not supported (histograms are series only)"] += 1
        else:
            w.set_attribute(path, converted, when)
    for path, change in snap.modify_sets.items():
        if change.WhichOneof("type") != "string":
            out.rejected[TrackCode.FIELD_TYPE_UNSUPPORTED, "only string sets can be modified"] += 1
            continue
        for item, operation in change.string.values.items():
            if operation in (ADD, REMOVE):
                w.set_changes.append((path, item, operation == ADD))
    if not snap.append:
        return
    if not snap.HasField("step"):
        out.rejected[TrackCode.SERIES_STEP_INVALID, "a series point needs a step"] += len(snap.append)
        return
    step = step_value(snap.step)
    preview = snap.HasField("preview") and snap.preview.is_preview
    ratio = snap.preview.completion_ratio if preview else 1.0
    for path, value in snap.append.items():
        kind = value.WhichOneof("value")
        if kind == "float64":
            w.float_path.append(path)
            w.float_step.append(step)
            w.float_time.append(when)
            w.float_value.append(value.float64)
            w.float_preview.append(preview)
            w.float_ratio.append(ratio)
        elif kind == "int64":
            w.add_float(path, step, when, float(value.int64), preview=preview, ratio=ratio)
        elif kind == "string":
            w.add_string(path, step, when, value.string, preview=preview, ratio=ratio)
        elif kind == "histogram":
            w.add_histogram(path, step, when, _histogram(value.histogram), preview=preview, ratio=ratio)
        elif kind == "file_ref":
            w.add_file(path, step, when, _file(value.file_ref), preview=preview, ratio=ratio)
        else:
            out.rejected[TrackCode.FIELD_TYPE_UNSUPPORTED, f"a series of {kind or 'empty'} values is not supported "
                         "(float, int, string, histogram and file series are)"] += 1


def _attribute(value: common_pb2.Value) -> AttributeValue | None:
    """The attribute value, or None when it cannot be one."""
    kind = value.WhichOneof("value")
    if kind == "float64":
        return float(value.float64)
    if kind == "int64":
        return int(value.int64)
    if kind == "bool":
        return bool(value.bool)
    if kind == "string":
        return str(value.string)
    if kind == "timestamp":
        return datetime.fromtimestamp(time_ms(value.timestamp) / 1000, UTC)
    if kind == "string_set":
        return frozenset(value.string_set.values)
    if kind == "file_ref":
        return _file(value.file_ref)
    return None


def _histogram(h: common_pb2.Histogram) -> Histogram:
    which = h.WhichOneof("values")
    if which == "densities":
        return Histogram(tuple(h.bin_edges), tuple(h.densities.values), kind="densities")
    values = tuple(float(v) for v in h.counts.values) if which == "counts" else ()
    return Histogram(tuple(h.bin_edges), values, kind="counts")


def _file(ref: common_pb2.FileRef) -> FileRef:
    return FileRef(path=ref.path, size_bytes=ref.size_bytes, mime_type=ref.mime_type)
