"""Track import and export in neptune-exporter's shape: rows in, runs created and written; runs out, rows.

Import is idempotent: a run that exists with the same lineage answers RUN_DUPLICATE and its values are written
again, which replaces every point and attribute by the same one. Within one request, parents are created before
the runs forked from them; a fork whose parent is neither in the request nor in the project is kept without its
lineage (`detached`), with sys/forking/* as ordinary attributes, and re-linked when the same run is imported
again once its parent is there.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import pyarrow as pa

from neon_server.domain.track import FILE_SERIES, FLOAT_SERIES, HISTOGRAM_SERIES, STRING_SERIES, TrackCode
from neon_server.services.errors import NotFound
from neon_server.services.track import TrackService
from neon_server.track.exporter_format import ImportedRun, RowProblem, parameter_rows, rows_to_runs, series_rows

SERIES_KINDS = ("float", "string", "histogram", "file")  # the exporter's order: metrics, then other series
SERIES_KIND = {FLOAT_SERIES: "float", STRING_SERIES: "string", HISTOGRAM_SERIES: "histogram", FILE_SERIES: "file"}
MAX_EXPORT_POINTS = 2_000_000  # points read at once while exporting


@dataclass
class ImportReport:
    rows: int = 0
    runs_created: list[str] = field(default_factory=list)
    runs_existing: list[str] = field(default_factory=list)
    detached: list[str] = field(default_factory=list)
    relinked: list[str] = field(default_factory=list)
    written: int = 0
    problems: list[RowProblem] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)  # what the service refused, by reason and count

    def to_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "runs_created": self.runs_created, "runs_existing": self.runs_existing,
                "detached": self.detached, "relinked": self.relinked, "written": self.written,
                "rejected": self.rejected,
                "errors": [{"row": p.row, "column": p.column, "message": p.message} for p in self.problems]}


def parents_first(runs: list[ImportedRun]) -> list[ImportedRun]:
    """The runs ordered so that a parent in the list comes before its forks (otherwise as given)."""
    by_id = {r.create.run_id: r for r in runs}
    ordered: list[ImportedRun] = []
    placed: set[str] = set()

    def place(run: ImportedRun, seen: frozenset[str]) -> None:
        run_id = run.create.run_id
        if run_id in placed:
            return
        parent = by_id.get(run.create.fork.parent_run_id) if run.create.fork else None
        if parent is not None and parent.create.run_id not in seen:  # a cycle is broken where it closes
            place(parent, seen | {run_id})
        placed.add(run_id)
        ordered.append(run)

    for run in runs:
        place(run, frozenset())
    return ordered


class TrackTransfer:
    def __init__(self, track: TrackService) -> None:
        self._track = track

    async def import_rows(self, project_id: str, table: pa.Table) -> ImportReport:
        """Create and write the runs in these rows; rows that cannot be used are in `problems`, the rest is
        written. Raises FormatError when the table is not in the exporter's shape at all."""
        converted = await asyncio.to_thread(rows_to_runs, table)
        report = ImportReport(rows=table.num_rows, problems=converted.problems)
        for run in parents_first(converted.runs):
            if await self._create(project_id, run, report):
                outcome = await self._track.write(project_id, run.writes, allow_sys=True, touch=False)
                report.written += outcome.accepted
                if not outcome.ok:
                    report.problems.append(RowProblem(run.first_row, "run_id", outcome.message))
                report.rejected += [f"run {run.create.run_id!r}: {r.count} × {r.message}" for r in outcome.rejections]
        report.problems.sort(key=lambda p: p.row)
        return report

    async def _create(self, project_id: str, run: ImportedRun, report: ImportReport) -> bool:
        create = run.create
        if not run.describes_run:  # points only: write them to the run if it is there, else create it plainly
            try:
                await asyncio.to_thread(self._track.run, project_id, create.run_id)
            except NotFound:
                pass
            else:
                report.runs_existing.append(create.run_id)
                return True
        outcome, stored = await self._track.create_run(project_id, create)
        if outcome.code == TrackCode.RUN_FORK_PARENT_NOT_FOUND:
            # Keep the run and its data; the fork attributes stay as they were exported.
            outcome, stored = await self._track.create_run(project_id, replace(create, fork=None))
            if outcome.code in (TrackCode.OK, TrackCode.RUN_DUPLICATE):
                report.detached.append(create.run_id)
        elif (outcome.code == TrackCode.RUN_CONFLICTING and stored is not None and create.fork is not None
              and not stored.fork_parent_run_id):
            # Imported before its parent was: the parent is here now, so the run gets its lineage back.
            await self._track.relink(project_id, create.run_id, create.fork)
            report.relinked.append(create.run_id)
            outcome = replace(outcome, code=TrackCode.RUN_DUPLICATE)
        if outcome.code == TrackCode.OK:
            report.runs_created.append(create.run_id)
        elif outcome.code == TrackCode.RUN_DUPLICATE:
            report.runs_existing.append(create.run_id)
        else:
            column = "attribute_path" if outcome.code == TrackCode.RUN_CONFLICTING and run.fork_row >= 0 else "run_id"
            row = run.fork_row if column == "attribute_path" else run.first_row
            report.problems.append(RowProblem(row, column, f"run not imported ({outcome.code.name}): "
                                                           f"{outcome.message}"))
            return False
        return True

    def export_run(self, project_id: str, project_name: str, run_id: str) -> Iterator[pa.Table]:
        """One run's rows in the exporter's shape: parameters first, then each kind of series."""
        run = self._track.run(project_id, run_id)
        yield parameter_rows(project_name, run, self._track.attributes(project_id, run_id))
        series = self._track.series(project_id, run_id)
        for kind in SERIES_KINDS:
            paths = [(p, s.count) for p, s in series.items() if SERIES_KIND.get(s.type) == kind]
            for chunk in _chunks(paths, MAX_EXPORT_POINTS):
                points = self._track.run_points(kind, project_id, run_id, chunk)
                if points.num_rows:
                    yield series_rows(project_name, run_id, kind, points)


def _chunks(paths: list[tuple[str, int]], limit: int) -> Iterator[list[str]]:
    """Paths in groups of at most `limit` points (a longer series alone), so a big run is read a part at a time."""
    chunk: list[str] = []
    size = 0
    for path, count in paths:
        if chunk and size + count > limit:
            yield chunk
            chunk, size = [], 0
        chunk.append(path)
        size += count
    if chunk:
        yield chunk
