"""Track use cases: create runs and write their attributes and series, durably, whoever the producer is
(the Neptune protocol, `neon.track`, the importer); read back what is stored.

An operation is answered only once what it wrote is in the store. Writing is idempotent: a point logged again
at the same step replaces the old one, an attribute assigned again takes the newer value and a tag added twice
is there once, so a retried request changes nothing.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from neon_server.domain.track import (
    DATETIME,
    FLOAT,
    MAX_BUCKETS,
    RUN_ID_PATTERN,
    STRING,
    STRING_SET,
    AttributeValue,
    BucketQuery,
    ForkPoint,
    Outcome,
    RunCreate,
    RunWrites,
    Segment,
    SeriesBuckets,
    SeriesSummary,
    TrackCode,
    TrackRun,
)
from neon_server.services.errors import InvalidInput, NotFound
from neon_server.storage.analytics.track import POINT_TABLES, TrackStore
from neon_server.storage.analytics.track_buckets import (
    MAX_SERIES,
    SeriesRequest,
    TrackBucketStore,
)
from neon_server.storage.metadata.track_runs import TrackRunRepository
from neon_server.track import nql
from neon_server.track.columns import TIMESTAMP, PreparedRun, attribute_table, prepare
from neon_server.track.writer import TrackWriter

# sys/* attributes a client may set; the rest are the server's (id, creation time, lineage, …).
WRITABLE_SYS = frozenset({"sys/tags", "sys/group_tags", "sys/name", "sys/description", "sys/failed"})
KNOWN_RUNS_CACHE = 100_000


def _ms(value: datetime) -> int:
    return int(value.timestamp() * 1000)


class TrackService:
    def __init__(self, runs: TrackRunRepository, store: TrackStore, writer: TrackWriter,
                 buckets: TrackBucketStore) -> None:
        self._runs = runs
        self._store = store
        self._buckets = buckets
        self._writer = writer
        self._known: dict[tuple[str, str], TrackRun] = {}
        # Preparing columns is mostly vectorised; one thread keeps it off the event loop in order.
        self._prepare = ThreadPoolExecutor(max_workers=1, thread_name_prefix="neon-track-prepare")

    # -- writes -------------------------------------------------------------------------------------------------
    async def create_run(self, project_id: str, create: RunCreate, *,  # noqa: PLR0911 - one per refusal
                         sys_attributes: dict[str, AttributeValue] | None = None) -> tuple[Outcome, TrackRun | None]:
        """Create a run (durably). A run that exists with the same lineage answers RUN_DUPLICATE (its rows are
        written again, so a create retried after a crash completes); with another lineage, RUN_CONFLICTING."""
        if not RUN_ID_PATTERN.match(create.run_id):
            return Outcome(TrackCode.RUN_INVALID_CREATION_PARAMETERS,
                           "run id must be 1–730 printable characters without '/'"), None
        if create.fork is not None:
            if not math.isfinite(create.fork.step) or create.fork.step < 0:
                return Outcome(TrackCode.RUN_INVALID_CREATION_PARAMETERS, "fork step must be a finite step ≥ 0"), None
            if create.fork.parent_run_id == create.run_id:
                return Outcome(TrackCode.RUN_INVALID_CREATION_PARAMETERS, "a run cannot fork itself"), None
            if await asyncio.to_thread(self._find, project_id, create.fork.parent_run_id) is None:
                return Outcome(TrackCode.RUN_FORK_PARENT_NOT_FOUND,
                               f"fork parent {create.fork.parent_run_id!r} not found"), None
        created_at = create.creation_time or datetime.now(UTC)
        run, added = await asyncio.to_thread(self._runs.add, project_id, create, created_at)
        if not added and ((run.fork_parent_run_id, run.fork_step)
                          != ((create.fork.parent_run_id, create.fork.step) if create.fork else ("", None))):
            return Outcome(TrackCode.RUN_CONFLICTING,
                           f"run {create.run_id!r} exists with another fork parent or step"), run
        self._known[project_id, run.run_id] = run
        if not added and await asyncio.to_thread(self._store.has_run, project_id, run.run_id):
            return Outcome(TrackCode.RUN_DUPLICATE, f"run {create.run_id!r} exists"), run
        extra = {"track_runs": [_run_row(run)],
                 "track_attributes": [attribute_table(project_id, run.run_id,
                                                     _sys_rows(run, sys_attributes or {}, with_tags=added))]}
        await asyncio.wrap_future(self._writer.submit([], extra))
        if not added:
            return Outcome(TrackCode.RUN_DUPLICATE, f"run {create.run_id!r} exists"), run
        return Outcome(accepted=1), run

    async def write(self, project_id: str, writes: RunWrites, *, allow_sys: bool = False,
                    touch: bool = True) -> Outcome:
        """Write one run's attributes, tag changes and points; answered once they are durable. What fails a
        check is left out and reported in `rejections`; the rest is written. `touch=False` leaves
        sys/modification_time as it is (an import brings the run's own)."""
        run = await asyncio.to_thread(self._find, project_id, writes.run_id)
        if run is None:
            return Outcome(TrackCode.RUN_NOT_FOUND, f"run {writes.run_id!r} not found: create it first")
        prepared = await asyncio.get_running_loop().run_in_executor(
            self._prepare, self._prepared, project_id, writes, allow_sys, touch)
        if prepared.accepted:
            await asyncio.wrap_future(self._writer.submit([prepared]))
        return Outcome(accepted=prepared.accepted, rejections=prepared.rejections())

    async def relink(self, project_id: str, run_id: str, fork: ForkPoint) -> TrackRun:
        """Give a run created without its fork (imported before its parent) its lineage, once the parent exists."""
        if await asyncio.to_thread(self._find, project_id, fork.parent_run_id) is None:
            raise NotFound(f"fork parent {fork.parent_run_id!r} not found")
        run = await asyncio.to_thread(self._runs.set_fork, project_id, run_id, fork.parent_run_id, fork.step)
        if run is None:
            raise NotFound(f"no run {run_id!r} in this project")
        self._known[project_id, run_id] = run
        lineage = [row for row in _sys_rows(run, {}, with_tags=False) if str(row["path"]).startswith("sys/forking/")]
        await asyncio.wrap_future(self._writer.submit([], {
            "track_runs": [_run_row(run)], "track_attributes": [attribute_table(project_id, run_id, lineage)]}))
        return run

    def _prepared(self, project_id: str, writes: RunWrites, allow_sys: bool, touch: bool) -> PreparedRun:
        refused = 0
        if not allow_sys:
            servers = [p for p in writes.assign if _servers(p)]
            for path in servers:
                del writes.assign[path]
            kept = [change for change in writes.set_changes if not _servers(change[0])]
            refused = len(servers) + len(writes.set_changes) - len(kept)
            writes.set_changes = kept
        prepared = prepare(project_id, writes)
        if refused:
            prepared.rejected[TrackCode.FIELD_PATH_NON_WRITABLE,
                              "sys/* attributes are the server's, except " + ", ".join(sorted(WRITABLE_SYS))] \
                += refused
        if prepared.accepted and touch:
            now = int(time.time() * 1000)
            touched = attribute_table(project_id, writes.run_id, [
                {"path": "sys/modification_time", "type": DATETIME, "datetime_value": now, "updated_at": now}])
            prepared.attributes = touched if prepared.attributes is None else pa.concat_tables(
                [prepared.attributes, touched])
        return prepared

    def _find(self, project_id: str, run_id: str) -> TrackRun | None:
        run = self._known.get((project_id, run_id))
        if run is None:
            run = self._runs.get(project_id, run_id)
            if run is not None:
                if len(self._known) >= KNOWN_RUNS_CACHE:
                    self._known.clear()
                self._known[project_id, run_id] = run
        return run

    def close(self) -> None:
        self._prepare.shutdown(wait=True)

    # -- reads --------------------------------------------------------------------------------------------------
    def run(self, project_id: str, run_id: str) -> TrackRun:
        run = self._find(project_id, run_id)
        if run is None:
            raise NotFound(f"no run {run_id!r} in this project")
        return run

    def runs(self, project_id: str, query: str | None = None) -> list[TrackRun]:
        """The project's runs, oldest first; with an NQL query, those it matches (InvalidInput says where a
        query is wrong)."""
        runs = self._runs.list(project_id)
        if not query:
            return runs
        try:
            matching = self._store.matching_runs(project_id, nql.parse(query))
        except nql.NQLError as exc:
            raise InvalidInput(str(exc), position=exc.position, reason=exc.reason) from None
        return [r for r in runs if r.run_id in matching]

    def lineage(self, project_id: str, run_id: str) -> tuple[Segment, ...]:
        """The run's own points, then each ancestor's up to the step its descendant forked at."""
        run = self.run(project_id, run_id)
        segments = [Segment(run.run_id)]
        limit: float | None = None
        seen = {run.run_id}
        while run.fork_parent_run_id and run.fork_step is not None:
            limit = run.fork_step if limit is None else min(limit, run.fork_step)
            parent = self._find(project_id, run.fork_parent_run_id)
            if parent is None or parent.run_id in seen:
                break
            seen.add(parent.run_id)
            segments.append(Segment(parent.run_id, limit))
            run = parent
        return tuple(segments)

    def buckets(self, project_id: str, series: list[tuple[str, str]], query: BucketQuery, *,
                lineage: bool = True) -> list[SeriesBuckets]:
        """Float series (run id, path) bucketed; with `lineage`, a fork's series starts with its ancestors'."""
        if len(series) > MAX_SERIES:
            raise InvalidInput(f"at most {MAX_SERIES} series per request")
        if not 1 <= query.n <= MAX_BUCKETS:
            raise InvalidInput(f"buckets must be between 1 and {MAX_BUCKETS}")
        if query.x == "metric" and not query.x_path:
            raise InvalidInput("x = metric needs x_path, the metric whose values are the x axis")
        if query.window is not None and not query.window[0] < query.window[1]:
            raise InvalidInput("the window's from must be below its to")
        requests = [SeriesRequest(path, self.lineage(project_id, run_id) if lineage else (Segment(run_id),))
                    for run_id, path in series]
        return self._buckets.float_buckets(project_id, requests, query)

    def attributes(self, project_id: str, run_id: str) -> dict[str, tuple[str, Any]]:
        """A run's attributes: path → (type, value); datetimes as aware datetimes, string sets as sorted lists,
        file references as {path, size_bytes, mime_type}."""
        self.run(project_id, run_id)
        return {row["path"]: (row["type"], attribute_value(row)) for row in self._store.attributes(project_id, run_id)}

    def series(self, project_id: str, run_id: str) -> dict[str, SeriesSummary]:
        self.run(project_id, run_id)
        return self._store.series(project_id, run_id)

    def run_points(self, kind: str, project_id: str, run_id: str, paths: list[str]) -> pa.Table:
        """Several series of one kind of a run in one read, by path then step (kind: float, string, histogram or
        file)."""
        if kind not in POINT_TABLES:
            raise NotFound(f"no series kind {kind!r}")
        self.run(project_id, run_id)
        return self._store.run_points(kind, project_id, run_id, paths)

    def check_file(self, project_id: str, run_ids: Sequence[str], key: str) -> None:
        """NotFound unless one of the runs refers to the file `key` (a file attribute or a file series' point)."""
        if not self._store.holds_file(project_id, run_ids, key):
            raise NotFound(f"no file {key!r} among these runs' files")

    def points(self, kind: str, project_id: str, run_id: str, path: str) -> pa.Table:
        """A series' points in step order (kind: float, string, histogram or file)."""
        if kind not in POINT_TABLES:
            raise NotFound(f"no series kind {kind!r}")
        self.run(project_id, run_id)
        return self._store.points(kind, project_id, run_id, path)


def _servers(path: str) -> bool:
    return path.startswith("sys/") and path not in WRITABLE_SYS


def attribute_value(row: dict[str, Any]) -> Any:  # noqa: PLR0911 - one answer per type
    kind = row["type"]
    if kind == FLOAT:
        return row["float_value"]
    if kind == "int":
        return row["int_value"]
    if kind == "bool":
        return bool(row["bool_value"])
    if kind == STRING:
        return row["string_value"]
    if kind == DATETIME:
        return datetime.fromtimestamp(row["datetime_ms"] / 1000, UTC)
    if kind == STRING_SET:
        return sorted(row["string_set"])
    return {"path": row["file_path"], "size_bytes": row["file_size"], "mime_type": row["file_mime"]}


def _run_row(run: TrackRun) -> pa.Table:
    return pa.table({"project_id": [run.project_id], "run_id": [run.run_id], "short_id": [run.short_id],
                     "experiment_name": [run.experiment_name], "family": [run.family], "owner": [run.owner],
                     "created_at": pa.array([_ms(run.created_at)], TIMESTAMP),
                     "fork_parent_run_id": [run.fork_parent_run_id],
                     "fork_step": pa.array([run.fork_step], pa.float64())})


def _sys_rows(run: TrackRun, given: dict[str, AttributeValue], *, with_tags: bool) -> list[dict[str, object]]:
    """The server's sys/* attributes of a run; `with_tags` adds its (empty) tag sets, as at its creation: every
    run has them, so `NOT CONTAINS` matches a run without tags."""
    created = _ms(run.created_at)
    values: dict[str, tuple[str, str, object]] = {
        "sys/id": (STRING, "string_value", run.short_id),
        "sys/custom_run_id": (STRING, "string_value", run.run_id),
        "sys/name": (STRING, "string_value", run.experiment_name or run.run_id),
        "sys/family": (STRING, "string_value", run.family),
        "sys/owner": (STRING, "string_value", run.owner),
        "sys/creation_time": (DATETIME, "datetime_value", created),
        "sys/modification_time": (DATETIME, "datetime_value", created),
    }
    if run.experiment_name:
        values["sys/experiment/name"] = (STRING, "string_value", run.experiment_name)
    if run.fork_parent_run_id:
        values["sys/forking/parent"] = (STRING, "string_value", run.fork_parent_run_id)
        values["sys/forking/step"] = (FLOAT, "float_value", run.fork_step)
    if with_tags:
        values["sys/tags"] = (STRING_SET, "string_set", [])
        values["sys/group_tags"] = (STRING_SET, "string_set", [])
    for path, value in given.items():  # what an importer knows of the run (its owner, name, …)
        if isinstance(value, datetime):
            values[path] = (DATETIME, "datetime_value", _ms(value))
        elif isinstance(value, str):
            values[path] = (STRING, "string_value", value)
    return [{"path": path, "type": kind, column: value, "updated_at": created}
            for path, (kind, column, value) in values.items()]
