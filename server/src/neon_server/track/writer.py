"""Group commit for Track: requests hand in prepared runs; one thread writes them, a few inserts per batch.

A request's future resolves only once its rows, and the summaries of the series it touched, are written (so
an answered request is durable), or fails with the store's error. Summaries and string sets are read-modify-
write, so they are kept by this one thread, with a bounded cache of the latest ones in front of the store.
The buffer is bounded by rows: when full, `submit` raises Overloaded (the API answers 429 / UNAVAILABLE).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict, defaultdict, deque
from concurrent.futures import Future
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from neon_server.domain.track import STRING_SET, SeriesSummary
from neon_server.ingest.writer import Overloaded, WriterStopped
from neon_server.storage.analytics.track import POINT_TABLES, TrackStore
from neon_server.track.blocks import block_rows
from neon_server.track.columns import SERIES_TYPE, PreparedRun, attribute_table, constant
from neon_server.track.summaries import extends, merge, summarise

log = logging.getLogger("neon.track.writer")

SeriesKey = tuple[str, str, str]  # project, run, path
SERIES_SCHEMA = pa.schema([
    ("project_id", pa.string()), ("run_id", pa.string()), ("path", pa.string()), ("type", pa.string()),
    ("count", pa.uint64()), ("finite_count", pa.uint64()), ("nan_count", pa.uint64()),
    ("posinf_count", pa.uint64()), ("neginf_count", pa.uint64()), ("first_step", pa.float64()),
    ("last_step", pa.float64()), ("last_value", pa.float64()), ("min_value", pa.float64()),
    ("max_value", pa.float64()), ("mean_value", pa.float64()), ("sum_sq_dev", pa.float64()),
    ("first_time", pa.timestamp("ms", tz="UTC")), ("last_time", pa.timestamp("ms", tz="UTC")),
    ("rewritten", pa.bool_())])


@dataclass
class Pending:
    runs: list[PreparedRun]
    extra: dict[str, list[pa.Table]]  # rows for track_runs / track_attributes given as they are (run creation)
    rows: int
    future: Future[None] = field(default_factory=Future)


@dataclass
class TrackWriterStats:
    batches: int = 0
    points: int = 0
    requests: int = 0
    failures: int = 0
    rejected_overload: int = 0
    write_seconds: float = 0.0


class TrackWriter:
    def __init__(self, store: TrackStore, *, max_batch_rows: int = 2_000_000, max_delay_seconds: float = 0.02,
                 max_pending_rows: int = 8_000_000, cache_series: int = 200_000, eager_rows: int = 250_000) -> None:
        self._store = store
        self._max_batch_rows = max_batch_rows
        self._max_delay = max_delay_seconds
        self._max_pending_rows = max_pending_rows
        self._eager_rows = eager_rows  # this many pending rows make a big enough insert: no waiting for more
        self._pending: deque[Pending] = deque()
        self._pending_rows = 0
        self._first_pending_at = 0.0
        self._cond = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._summaries: OrderedDict[SeriesKey, SeriesSummary] = OrderedDict()
        self._cache_size = cache_series
        self._version = 0
        self.stats = TrackWriterStats()

    @property
    def pending_rows(self) -> int:
        return self._pending_rows

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="neon-track-writer", daemon=True)
        self._thread.start()

    def submit(self, runs: list[PreparedRun], extra: dict[str, list[pa.Table]] | None = None) -> Future[None]:
        rows = sum(p.table.num_rows for r in runs for p in r.points.values()) + sum(
            (r.attributes.num_rows if r.attributes is not None else 0) + len(r.set_changes) for r in runs) + 1
        pending = Pending(runs, extra or {}, rows)
        with self._cond:
            if self._stopping:
                raise WriterStopped("the server is shutting down")
            if self._pending_rows and self._pending_rows + rows > self._max_pending_rows:
                self.stats.rejected_overload += 1
                raise Overloaded(retry_after=1.0)
            if not self._pending:
                self._first_pending_at = time.monotonic()
            self._pending.append(pending)
            self._pending_rows += rows
            self._cond.notify()
        return pending.future

    def stop(self, timeout: float = 30.0) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.error("track writer did not finish within %ss", timeout)

    def _take(self) -> list[Pending] | None:
        with self._cond:
            while True:
                if self._pending:
                    due = self._first_pending_at + self._max_delay
                    now = time.monotonic()
                    if self._stopping or self._pending_rows >= self._eager_rows or now >= due:
                        taken: list[Pending] = []
                        rows = 0
                        while self._pending and (not taken or rows + self._pending[0].rows <= self._max_batch_rows):
                            item = self._pending.popleft()
                            taken.append(item)
                            rows += item.rows
                        self._pending_rows -= rows
                        self._first_pending_at = time.monotonic()
                        return taken
                    self._cond.wait(due - now)
                elif self._stopping:
                    return None
                else:
                    self._cond.wait()

    def _run(self) -> None:
        while True:
            taken = self._take()
            if taken is None:
                return
            started = time.perf_counter()
            try:
                points = self._write(taken)
            except Exception as exc:
                self.stats.failures += 1
                log.exception("track write failed", extra={"fields": {"requests": len(taken)}})
                self._forget(taken)
                for item in taken:
                    item.future.set_exception(exc)
                continue
            self.stats.batches += 1
            self.stats.requests += len(taken)
            self.stats.points += points
            self.stats.write_seconds += time.perf_counter() - started
            for item in taken:
                item.future.set_result(None)

    def _next_version(self, rows: int) -> int:
        """The first of `rows` versions above every version handed out before. A batch's rows get increasing
        versions in the order they came, so of two rows with one key in one batch (a step logged twice in a
        request, or by two requests written together) the later one wins, as it does across batches."""
        start = max(self._version + 1, time.time_ns())
        self._version = start + rows
        return start

    def _write(self, taken: list[Pending]) -> int:
        tables: dict[str, list[pa.Table]] = defaultdict(list)
        for item in taken:
            for name, parts in item.extra.items():
                tables[name].extend(parts)
        runs = [run for item in taken for run in item.runs]
        for run in runs:
            if run.attributes is not None:
                tables["track_attributes"].append(run.attributes)
        set_rows = self._apply_set_changes(runs)
        tables["track_attributes"].extend(set_rows)
        points = 0
        blocks: list[pa.Table] = []
        for run in runs:
            for kind, prepared in run.points.items():
                tables[POINT_TABLES[kind]].append(prepared.table)
                points += prepared.table.num_rows
                if kind == "float" and prepared.values is not None:
                    found = block_rows(run.project_id, run.run_id, prepared.paths, prepared.codes, prepared.steps,
                                       prepared.values, prepared.table.column("preview").to_numpy(
                                           zero_copy_only=False))
                    if found is not None:
                        blocks.append(found)
        # one range of versions for every table (each table's keys are its own); the summaries are fewer rows
        version = self._next_version(sum(part.num_rows for parts in tables.values() for part in parts) + 1)
        for name in ("track_runs", "track_attributes", *POINT_TABLES.values()):
            if tables.get(name):
                self._store.insert(name, _versioned(tables[name], version))
        if blocks:
            self._store.insert("track_float_blocks", pa.concat_tables(blocks))
        summaries = self._summaries_after(runs)
        if summaries:
            self._store.insert("track_series", _versioned([_series_table(summaries)], version))
            for key, summary in summaries.items():
                self._cache(key, summary)
        return points

    def _apply_set_changes(self, runs: list[PreparedRun]) -> list[pa.Table]:
        """String sets (tags) after this batch's additions and removals, in order, as attribute rows."""
        sets: dict[SeriesKey, set[str]] = {}
        for run in runs:
            if not run.set_changes:
                continue
            missing = {path for path, _v, _a, _t in run.set_changes} - {
                k[2] for k in sets if k[0] == run.project_id and k[1] == run.run_id}
            for path, stored in self._store.string_sets(run.project_id, run.run_id, missing).items():
                sets[run.project_id, run.run_id, path] = set(stored)
            for path, value, add, _t in run.set_changes:
                current = sets.setdefault((run.project_id, run.run_id, path), set())
                if add:
                    current.add(value)
                else:
                    current.discard(value)
        now_ms = int(time.time() * 1000)
        per_run: dict[tuple[str, str], list[dict[str, object]]] = defaultdict(list)
        for (project_id, run_id, path), members in sets.items():
            per_run[project_id, run_id].append({"path": path, "type": STRING_SET, "string_set": sorted(members),
                                                "updated_at": now_ms})
        return [attribute_table(project_id, run_id, rows) for (project_id, run_id), rows in per_run.items()]

    def _summaries_after(self, runs: list[PreparedRun]) -> dict[SeriesKey, SeriesSummary]:
        """The summary of every series this batch touched, merged where exact, recomputed where points were
        (maybe) replaced. Runs are taken in order, so two requests for one run in a batch merge in turn."""
        result: dict[SeriesKey, SeriesSummary] = {}
        recompute: dict[tuple[str, str, str], set[str]] = defaultdict(set)  # (kind, project, run) -> paths
        for run in runs:
            for kind, prepared in run.points.items():
                batch = summarise(prepared.codes, prepared.steps, prepared.times_ms, prepared.values,
                                  SERIES_TYPE[kind])
                keys = {code: (run.project_id, run.run_id, prepared.paths[code]) for code in batch}
                stored = self._stored(run.project_id, run.run_id,
                                      [k[2] for k in keys.values() if k not in result and k not in self._summaries])
                for code, part in batch.items():
                    key = keys[code]
                    before = result.get(key) or self._summaries.get(key) or stored.get(key[2])
                    if key[2] in recompute.get((kind, key[0], key[1]), ()):
                        continue
                    if extends(before, part):
                        result[key] = merge(before, part.summary)
                    else:
                        recompute[kind, key[0], key[1]].add(key[2])
        for (kind, project_id, run_id), paths in recompute.items():
            if kind == "float":
                fresh = self._store.recompute_float(project_id, run_id, paths)
            else:
                fresh = self._store.recompute_counts(kind, SERIES_TYPE[kind], project_id, run_id, paths)
            for path, recomputed in fresh.items():
                recomputed.rewritten = True
                result[project_id, run_id, path] = recomputed
        return result

    def _stored(self, project_id: str, run_id: str, paths: list[str]) -> dict[str, SeriesSummary]:
        return self._store.summaries(project_id, run_id, paths) if paths else {}

    def _cache(self, key: SeriesKey, summary: SeriesSummary) -> None:
        self._summaries[key] = summary
        self._summaries.move_to_end(key)
        while len(self._summaries) > self._cache_size:
            self._summaries.popitem(last=False)

    def _forget(self, taken: list[Pending]) -> None:
        """After a failed write, drop the cached summaries of what it touched: the store says what is there."""
        for item in taken:
            for run in item.runs:
                for prepared in run.points.values():
                    for path in prepared.paths:
                        self._summaries.pop((run.project_id, run.run_id, path), None)


def _versioned(parts: list[pa.Table], version: int) -> pa.Table:
    table = pa.concat_tables(parts) if len(parts) > 1 else parts[0]
    return table.append_column("version", pa.array(np.arange(version, version + table.num_rows, dtype=np.uint64)))


def _series_table(summaries: dict[SeriesKey, SeriesSummary]) -> pa.Table:
    keys = list(summaries)
    values = [summaries[k] for k in keys]
    n = len(keys)

    def col(name: str) -> list[object]:
        return [getattr(s, name) for s in values]

    return pa.table({
        "project_id": [k[0] for k in keys], "run_id": [k[1] for k in keys], "path": [k[2] for k in keys],
        "type": col("type"), "count": col("count"), "finite_count": col("finite_count"),
        "nan_count": col("nan_count"), "posinf_count": col("posinf_count"), "neginf_count": col("neginf_count"),
        "first_step": col("first_step"), "last_step": col("last_step"), "last_value": col("last_value"),
        "min_value": col("min_value"), "max_value": col("max_value"), "mean_value": col("mean_value"),
        "sum_sq_dev": col("sum_sq_dev"),
        "first_time": np.asarray(col("first_time_ms"), dtype=np.float64).astype(np.int64) if n else [],
        "last_time": np.asarray(col("last_time_ms"), dtype=np.float64).astype(np.int64) if n else [],
        "rewritten": col("rewritten"),
    }, schema=SERIES_SCHEMA)


__all__ = ["Overloaded", "TrackWriter", "WriterStopped", "constant"]
