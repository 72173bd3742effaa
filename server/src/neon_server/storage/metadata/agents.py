"""Repository of agent spec versions (one row per project, agent name and content-hash version)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from neon_server.domain.agents import AgentSummary, AgentVersion
from neon_server.storage.metadata.models import AgentVersionRow


def _version(row: AgentVersionRow) -> AgentVersion:
    return AgentVersion(project_id=row.project_id, name=row.name, version=row.version, spec=dict(row.spec),
                        created_at=row.created_at)


class AgentVersionRepository:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def add(self, project_id: str, name: str, version: str, spec: dict[str, Any]) -> tuple[AgentVersion, bool]:
        """Record a version unless it is already there; (the stored version, whether this call added it).
        Safe when two callers record the same version at once: one inserts, the other finds it."""
        found = self.get(project_id, name, version)
        if found is not None:
            return found, False
        try:
            with self._sessions.begin() as session:
                row = AgentVersionRow(project_id=project_id, name=name, version=version, spec=spec)
                session.add(row)
                session.flush()
                return _version(row), True
        except IntegrityError:
            raced = self.get(project_id, name, version)
            if raced is None:
                raise
            return raced, False

    def get(self, project_id: str, name: str, version: str) -> AgentVersion | None:
        with self._sessions() as session:
            row = session.scalar(select(AgentVersionRow).where(AgentVersionRow.project_id == project_id,
                                                               AgentVersionRow.name == name,
                                                               AgentVersionRow.version == version))
            return _version(row) if row else None

    def versions(self, project_id: str, name: str) -> list[AgentVersion]:
        """An agent's versions, newest first."""
        with self._sessions() as session:
            rows = session.scalars(select(AgentVersionRow)
                                   .where(AgentVersionRow.project_id == project_id, AgentVersionRow.name == name)
                                   .order_by(AgentVersionRow.id.desc()))
            return [_version(r) for r in rows]

    def latest(self, project_id: str) -> list[AgentSummary]:
        """Each agent of the project with its newest version and version count, by name."""
        per_name = (select(AgentVersionRow.name, func.max(AgentVersionRow.id).label("last_id"),
                           func.count().label("count"), func.min(AgentVersionRow.created_at).label("first_at"))
                    .where(AgentVersionRow.project_id == project_id)
                    .group_by(AgentVersionRow.name).subquery())
        query = (select(AgentVersionRow, per_name.c.count, per_name.c.first_at)
                 .join(per_name, AgentVersionRow.id == per_name.c.last_id)
                 .order_by(AgentVersionRow.name))
        with self._sessions() as session:
            # min() keeps the column's type, so first_at comes back as an aware UTC datetime on both backends
            return [AgentSummary(latest=_version(row), version_count=int(count), first_seen_at=first_at)
                    for row, count, first_at in session.execute(query)]
