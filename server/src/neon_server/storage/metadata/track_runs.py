"""Repository of training runs' identity: one row per (project, run id), numbered per project for short ids."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from neon_server.domain.track import RunCreate, TrackRun
from neon_server.storage.metadata.models import TrackRunRow

SHORT_ID_PREFIX = "NEON"
_INSERT_ATTEMPTS = 5


def short_id(number: int) -> str:
    return f"{SHORT_ID_PREFIX}-{number}"


def _run(row: TrackRunRow) -> TrackRun:
    return TrackRun(project_id=row.project_id, run_id=row.run_id, short_id=short_id(row.number),
                    experiment_name=row.experiment_name, family=row.family, owner=row.owner,
                    created_at=row.created_at, fork_parent_run_id=row.fork_parent_run_id, fork_step=row.fork_step)


class TrackRunRepository:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def add(self, project_id: str, create: RunCreate, created_at: datetime) -> tuple[TrackRun, bool]:
        """Insert the run with the project's next number; (the stored run, whether this call added it).
        When the id is taken (also by a concurrent insert) the stored run is returned with False."""
        for _ in range(_INSERT_ATTEMPTS):
            found = self.get(project_id, create.run_id)
            if found is not None:
                return found, False
            try:
                with self._sessions.begin() as session:
                    number = (session.scalar(select(func.max(TrackRunRow.number))
                                             .where(TrackRunRow.project_id == project_id)) or 0) + 1
                    row = TrackRunRow(project_id=project_id, run_id=create.run_id, number=number,
                                      experiment_name=create.experiment_name,
                                      family=create.family or create.run_id, owner=create.owner,
                                      fork_parent_run_id=create.fork.parent_run_id if create.fork else "",
                                      fork_step=create.fork.step if create.fork else None, created_at=created_at)
                    session.add(row)
                    session.flush()
                    return _run(row), True
            except IntegrityError:
                continue  # the id or the number was taken meanwhile: look again
        raise RuntimeError(f"could not number run {create.run_id!r}: too many concurrent creations")

    def set_fork(self, project_id: str, run_id: str, parent_run_id: str, step: float) -> TrackRun | None:
        """Give a stored run its fork lineage (an import that met the run before its parent)."""
        with self._sessions.begin() as session:
            row = session.scalar(select(TrackRunRow).where(TrackRunRow.project_id == project_id,
                                                           TrackRunRow.run_id == run_id))
            if row is None:
                return None
            row.fork_parent_run_id, row.fork_step = parent_run_id, step
            session.flush()
            return _run(row)

    def get(self, project_id: str, run_id: str) -> TrackRun | None:
        with self._sessions() as session:
            row = session.scalar(select(TrackRunRow).where(TrackRunRow.project_id == project_id,
                                                           TrackRunRow.run_id == run_id))
            return _run(row) if row else None

    def by_number(self, project_id: str, number: int) -> TrackRun | None:
        with self._sessions() as session:
            row = session.scalar(select(TrackRunRow).where(TrackRunRow.project_id == project_id,
                                                           TrackRunRow.number == number))
            return _run(row) if row else None

    def list(self, project_id: str) -> list[TrackRun]:
        """The project's runs, oldest first."""
        with self._sessions() as session:
            rows = session.scalars(select(TrackRunRow).where(TrackRunRow.project_id == project_id)
                                   .order_by(TrackRunRow.number))
            return [_run(r) for r in rows]
