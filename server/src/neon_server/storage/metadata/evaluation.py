"""Repositories of the evaluation records: datasets with versioned items, eval runs with case results."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.elements import ColumnElement

from neon_server.domain.evaluation import CaseResult, Dataset, DatasetItem, DatasetVersion, EvalRun, NewItem
from neon_server.storage.metadata.errors import AlreadyExists
from neon_server.storage.metadata.models import (
    DatasetItemRow,
    DatasetRow,
    DatasetVersionRow,
    EvalCaseResultRow,
    EvalRunRow,
)


def _at_version(version: int) -> ColumnElement[bool]:
    """Items present in `version`: added at or before it, not removed at or before it."""
    return (DatasetItemRow.added_in <= version) & or_(DatasetItemRow.removed_in.is_(None),
                                                      DatasetItemRow.removed_in > version)


def _item(row: DatasetItemRow) -> DatasetItem:
    return DatasetItem(id=row.item_id, input=row.input, expected=row.expected, expected_tools=row.expected_tools,
                       metadata=dict(row.item_metadata or {}), source_trace_id=row.source_trace_id,
                       added_in=row.added_in, removed_in=row.removed_in)


class DatasetRepository:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def _dataset(self, session: Session, row: DatasetRow) -> Dataset:
        count = session.scalar(select(DatasetVersionRow.item_count).where(
            DatasetVersionRow.dataset_id == row.id, DatasetVersionRow.version == row.current_version))
        return Dataset(id=row.id, project_id=row.project_id, name=row.name, description=row.description,
                       current_version=row.current_version, item_count=count or 0, created_at=row.created_at,
                       updated_at=row.updated_at)

    def create(self, project_id: str, name: str, description: str, items: Sequence[NewItem]) -> Dataset:
        """A new dataset at version 1 holding `items` (possibly none)."""
        with self._sessions.begin() as session:
            row = DatasetRow(id=f"ds_{uuid.uuid4().hex[:20]}", project_id=project_id, name=name,
                             description=description, current_version=0)
            session.add(row)
            try:
                session.flush()
            except IntegrityError:
                raise AlreadyExists(f"a dataset named {name!r} already exists in this project") from None
            self._new_version(session, row.id, items, (), "created")
            session.refresh(row)
            return self._dataset(session, row)

    def get(self, project_id: str, name: str) -> Dataset | None:
        with self._sessions() as session:
            row = self._row(session, project_id, name)
            return self._dataset(session, row) if row else None

    def all(self, project_id: str) -> list[Dataset]:
        with self._sessions() as session:
            rows = session.scalars(select(DatasetRow).where(DatasetRow.project_id == project_id)
                                   .order_by(DatasetRow.name))
            return [self._dataset(session, r) for r in rows]

    def change(self, project_id: str, name: str, *, add: Sequence[NewItem] = (), remove: Sequence[str] = (),
               note: str) -> tuple[Dataset, list[str]] | None:
        """Add and/or remove items as one new version; returns the dataset and the added item ids, or None
        when there is no such dataset. Raises KeyError naming item ids that are not in the current version,
        AlreadyExists for added ids that are."""
        with self._sessions.begin() as session:
            row = self._row(session, project_id, name)
            if row is None:
                return None
            added = self._new_version(session, row.id, add, remove, note)
            session.refresh(row)
            return self._dataset(session, row), added

    def versions(self, project_id: str, name: str) -> list[DatasetVersion] | None:
        with self._sessions() as session:
            row = self._row(session, project_id, name)
            if row is None:
                return None
            rows = session.scalars(select(DatasetVersionRow).where(DatasetVersionRow.dataset_id == row.id)
                                   .order_by(DatasetVersionRow.version))
            return [DatasetVersion(version=v.version, item_count=v.item_count, change=v.change,
                                   created_at=v.created_at) for v in rows]

    def items(self, project_id: str, name: str, version: int | None, *, limit: int,
              offset: int) -> tuple[int, list[DatasetItem]] | None:
        """(the version read, its items in insertion order); None when the dataset does not exist.
        Raises LookupError when it has no such version."""
        with self._sessions() as session:
            row = self._row(session, project_id, name)
            if row is None:
                return None
            at = row.current_version if version is None else version
            if not 1 <= at <= row.current_version:
                raise LookupError(f"dataset {name!r} has versions 1 to {row.current_version}, not {at}")
            rows = session.scalars(select(DatasetItemRow).where(DatasetItemRow.dataset_id == row.id,
                                                                _at_version(at))
                                   .order_by(DatasetItemRow.row_id).limit(limit).offset(offset))
            return at, [_item(r) for r in rows]

    def from_traces(self, project_id: str, name: str, trace_ids: Sequence[str]) -> set[str]:
        """Which of these traces the dataset's current version has an item from (none when it does not exist)."""
        if not trace_ids:
            return set()
        with self._sessions() as session:
            row = self._row(session, project_id, name)
            if row is None:
                return set()
            found = session.scalars(select(DatasetItemRow.source_trace_id).where(
                DatasetItemRow.dataset_id == row.id, _at_version(row.current_version),
                DatasetItemRow.source_trace_id.in_(list(trace_ids))))
            return set(found)

    @staticmethod
    def _row(session: Session, project_id: str, name: str) -> DatasetRow | None:
        return session.scalar(select(DatasetRow).where(DatasetRow.project_id == project_id,
                                                       DatasetRow.name == name))

    @staticmethod
    def _new_version(session: Session, dataset_id: str, add: Sequence[NewItem], remove: Sequence[str],
                     note: str) -> list[str]:
        # Bump the counter first: the UPDATE takes the write lock (SQLite) or the row lock (PostgreSQL), so two
        # concurrent changes queue up instead of both writing version N+1.
        session.execute(update(DatasetRow).where(DatasetRow.id == dataset_id)
                        .values(current_version=DatasetRow.current_version + 1, updated_at=datetime.now(UTC)))
        version = session.scalar(select(DatasetRow.current_version).where(DatasetRow.id == dataset_id))
        assert version is not None
        present = select(DatasetItemRow).where(DatasetItemRow.dataset_id == dataset_id,
                                               _at_version(version - 1))
        if remove:
            wanted = set(remove)
            rows = list(session.scalars(present.where(DatasetItemRow.item_id.in_(wanted))))
            missing = wanted - {r.item_id for r in rows}
            if missing:
                raise KeyError(f"not in the current version: {', '.join(sorted(missing))}")
            for r in rows:
                r.removed_in = version
        given = [i.item_id for i in add if i.item_id]
        if given:
            taken = set(session.scalars(select(DatasetItemRow.item_id).where(
                DatasetItemRow.dataset_id == dataset_id, DatasetItemRow.item_id.in_(given),
                _at_version(version - 1), DatasetItemRow.removed_in.is_(None))))
            if taken:
                raise AlreadyExists(f"item id(s) already in the dataset: {', '.join(sorted(taken))}")
        ids = []
        for item in add:
            item_id = item.item_id or f"di_{uuid.uuid4().hex[:20]}"
            ids.append(item_id)
            session.add(DatasetItemRow(dataset_id=dataset_id, item_id=item_id, input=item.input,
                                       expected=item.expected, expected_tools=item.expected_tools,
                                       item_metadata=item.metadata or None, source_trace_id=item.source_trace_id,
                                       added_in=version))
        session.flush()
        count = session.scalar(select(func.count()).select_from(DatasetItemRow).where(
            DatasetItemRow.dataset_id == dataset_id, _at_version(version)))
        session.add(DatasetVersionRow(dataset_id=dataset_id, version=version, item_count=count or 0, change=note))
        return ids


def _run(row: EvalRunRow) -> EvalRun:
    return EvalRun(id=row.id, project_id=row.project_id, suite=row.suite, version=row.version, status=row.status,
                   origin=row.origin, dataset=row.dataset, case_count=row.case_count, total=row.total,
                   passed=row.passed, failed=row.failed, errored=row.errored, summary=row.summary,
                   metadata=dict(row.run_metadata or {}), error=row.error, created_at=row.created_at,
                   started_at=row.started_at, finished_at=row.finished_at)


def _result(row: EvalCaseResultRow) -> CaseResult:
    return CaseResult(case_id=row.case_id, trace_id=row.trace_id, input=row.input, expected=row.expected,
                      output=row.output, error=row.error, duration_ms=row.duration_ms, passed=row.passed,
                      scores=list(row.scores or []), tools=row.tools)


class EvalRunRepository:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def create(self, project_id: str, *, suite: str, version: str, status: str, origin: str, dataset: str,
               case_count: int | None, metadata: dict[str, Any]) -> EvalRun:
        now = datetime.now(UTC)
        with self._sessions.begin() as session:
            row = EvalRunRow(id=f"run_{uuid.uuid4().hex[:20]}", project_id=project_id, suite=suite,
                             version=version, status=status, origin=origin, dataset=dataset, case_count=case_count,
                             total=0, passed=0, failed=0, errored=0, run_metadata=metadata or None, error="",
                             created_at=now, started_at=now if status == "running" else None)
            session.add(row)
            session.flush()
            return _run(row)

    def get(self, project_id: str, run_id: str) -> EvalRun | None:
        with self._sessions() as session:
            row = session.scalar(select(EvalRunRow).where(EvalRunRow.id == run_id,
                                                          EvalRunRow.project_id == project_id))
            return _run(row) if row else None

    def find(self, project_id: str, *, suite: str | None, version: str | None, status: str | None,
             limit: int) -> list[EvalRun]:
        query = select(EvalRunRow).where(EvalRunRow.project_id == project_id)
        for column, value in ((EvalRunRow.suite, suite), (EvalRunRow.version, version),
                              (EvalRunRow.status, status)):
            if value is not None:
                query = query.where(column == value)
        with self._sessions() as session:
            rows = session.scalars(query.order_by(EvalRunRow.created_at.desc(), EvalRunRow.id).limit(limit))
            return [_run(r) for r in rows]

    def results(self, run_id: str) -> list[CaseResult]:
        with self._sessions() as session:
            rows = session.scalars(select(EvalCaseResultRow).where(EvalCaseResultRow.run_id == run_id)
                                   .order_by(EvalCaseResultRow.position))
            return [_result(r) for r in rows]

    def add_results(self, run_id: str, results: Sequence[CaseResult]) -> None:
        """Store case results; a case sent again (a retried request) replaces its earlier result."""
        with self._sessions.begin() as session:
            ids = [r.case_id for r in results]
            session.execute(delete(EvalCaseResultRow).where(EvalCaseResultRow.run_id == run_id,
                                                            EvalCaseResultRow.case_id.in_(ids)))
            start = session.scalar(select(func.coalesce(func.max(EvalCaseResultRow.position), 0)).where(
                EvalCaseResultRow.run_id == run_id)) or 0
            for offset, r in enumerate(results, start=1):
                session.add(EvalCaseResultRow(
                    run_id=run_id, case_id=r.case_id, position=start + offset, trace_id=r.trace_id, input=r.input,
                    expected=r.expected, output=r.output, error=r.error, duration_ms=r.duration_ms,
                    passed=r.passed, scores=r.scores, tools=r.tools))
            session.execute(update(EvalRunRow).where(EvalRunRow.id == run_id, EvalRunRow.status == "queued")
                            .values(status="running", started_at=datetime.now(UTC)))

    def merge_metadata(self, run_id: str, values: dict[str, Any]) -> EvalRun | None:
        with self._sessions.begin() as session:
            row = session.get(EvalRunRow, run_id)
            if row is None:
                return None
            row.run_metadata = {**(row.run_metadata or {}), **values}
            session.flush()
            return _run(row)

    def finish(self, run_id: str, *, status: str, error: str, counts: dict[str, int],
               summary: dict[str, Any] | None, only_if_open: bool = False) -> EvalRun | None:
        """Close the run with its counts and summary. `only_if_open`: leave a run already closed alone
        (and return None)."""
        now = datetime.now(UTC)
        with self._sessions.begin() as session:
            row = session.get(EvalRunRow, run_id)
            if row is None or (only_if_open and row.status not in ("queued", "running")):
                return None
            row.status, row.error, row.summary, row.finished_at = status, error, summary, now
            row.started_at = row.started_at or now
            row.total, row.passed = counts.get("total", 0), counts.get("passed", 0)
            row.failed, row.errored = counts.get("failed", 0), counts.get("errored", 0)
            session.flush()
            return _run(row)
