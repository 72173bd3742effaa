"""Repositories of the Track UI's saved things: views of the runs table, versioned dashboards and reports."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from neon_server.domain.track_dashboards import Dashboard, DashboardVersion, Report, SavedView
from neon_server.storage.metadata.errors import AlreadyExists
from neon_server.storage.metadata.models import (
    TrackDashboardRow,
    TrackDashboardVersionRow,
    TrackReportRow,
    TrackViewRow,
)


def _view(row: TrackViewRow) -> SavedView:
    return SavedView(id=row.id, project_id=row.project_id, name=row.name, state=dict(row.state),
                     created_at=row.created_at, updated_at=row.updated_at)


def _version(row: TrackDashboardVersionRow) -> DashboardVersion:
    return DashboardVersion(dashboard_id=row.dashboard_id, version=row.version, spec=dict(row.spec),
                            author=row.author, created_at=row.created_at)


def _dashboard(row: TrackDashboardRow, latest: TrackDashboardVersionRow) -> Dashboard:
    return Dashboard(id=row.id, project_id=row.project_id, name=row.name, created_at=row.created_at,
                     latest=_version(latest))


def _report(row: TrackReportRow) -> Report:
    return Report(id=row.id, project_id=row.project_id, name=row.name, spec=dict(row.spec), runs=list(row.runs),
                  groups=list(row.groups), shared=row.share_token_hash is not None, shared_at=row.shared_at,
                  created_at=row.created_at, updated_at=row.updated_at)


class TrackViewRepository:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def add(self, view_id: str, project_id: str, name: str, state: dict[str, Any], when: datetime) -> SavedView:
        try:
            with self._sessions.begin() as session:
                row = TrackViewRow(id=view_id, project_id=project_id, name=name, state=state, created_at=when,
                                   updated_at=when)
                session.add(row)
                session.flush()
                return _view(row)
        except IntegrityError:
            raise AlreadyExists(f"a view named {name!r} already exists") from None

    def all(self, project_id: str) -> list[SavedView]:
        with self._sessions() as session:
            rows = session.scalars(select(TrackViewRow).where(TrackViewRow.project_id == project_id)
                                   .order_by(TrackViewRow.name))
            return [_view(r) for r in rows]

    def get(self, project_id: str, view_id: str) -> SavedView | None:
        with self._sessions() as session:
            row = session.scalar(select(TrackViewRow).where(TrackViewRow.project_id == project_id,
                                                            TrackViewRow.id == view_id))
            return _view(row) if row else None

    def update(self, project_id: str, view_id: str, name: str | None, state: dict[str, Any] | None,
               when: datetime) -> SavedView | None:
        """Rename and/or replace the state; None when the project has no such view."""
        try:
            with self._sessions.begin() as session:
                row = session.scalar(select(TrackViewRow).where(TrackViewRow.project_id == project_id,
                                                                TrackViewRow.id == view_id))
                if row is None:
                    return None
                if name is not None:
                    row.name = name
                if state is not None:
                    row.state = state
                row.updated_at = when
                session.flush()
                return _view(row)
        except IntegrityError:
            raise AlreadyExists(f"a view named {name!r} already exists") from None

    def delete(self, project_id: str, view_id: str) -> bool:
        with self._sessions.begin() as session:
            row = session.scalar(select(TrackViewRow).where(TrackViewRow.project_id == project_id,
                                                            TrackViewRow.id == view_id))
            if row is None:
                return False
            session.delete(row)
            return True


class TrackDashboardRepository:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def add(self, dashboard_id: str, project_id: str, name: str, *, spec: dict[str, Any], author: str,
            when: datetime) -> Dashboard:
        """A new dashboard whose first version is `spec`."""
        try:
            with self._sessions.begin() as session:
                row = TrackDashboardRow(id=dashboard_id, project_id=project_id, name=name, latest_version=1,
                                        created_at=when)
                session.add(row)
                session.flush()
                version = TrackDashboardVersionRow(dashboard_id=dashboard_id, version=1, spec=spec, author=author,
                                                   created_at=when)
                session.add(version)
                session.flush()
                return _dashboard(row, version)
        except IntegrityError:
            raise AlreadyExists(f"a dashboard named {name!r} already exists") from None

    def _row(self, session: Session, project_id: str, dashboard_id: str) -> TrackDashboardRow | None:
        return session.scalar(select(TrackDashboardRow).where(TrackDashboardRow.project_id == project_id,
                                                              TrackDashboardRow.id == dashboard_id))

    def save(self, project_id: str, dashboard_id: str, *, spec: dict[str, Any], author: str, when: datetime,
             name: str | None = None) -> Dashboard | None:
        """Add `spec` as the newest version (and rename when `name` is given); None when there is no such
        dashboard. Two saves at once: the version's primary key makes one of them fail and retry the next number."""
        for _ in range(5):
            try:
                with self._sessions.begin() as session:
                    row = self._row(session, project_id, dashboard_id)
                    if row is None:
                        return None
                    number = (session.scalar(select(func.max(TrackDashboardVersionRow.version)).where(
                        TrackDashboardVersionRow.dashboard_id == dashboard_id)) or 0) + 1
                    version = TrackDashboardVersionRow(dashboard_id=dashboard_id, version=number, spec=spec,
                                                       author=author, created_at=when)
                    session.add(version)
                    row.latest_version = number
                    if name is not None:
                        row.name = name
                    session.flush()
                    return _dashboard(row, version)
            except IntegrityError:
                if name is not None and self._name_taken(project_id, dashboard_id, name):
                    raise AlreadyExists(f"a dashboard named {name!r} already exists") from None
                continue
        raise RuntimeError(f"could not save dashboard {dashboard_id!r}: too many concurrent saves")

    def _name_taken(self, project_id: str, dashboard_id: str, name: str) -> bool:
        with self._sessions() as session:
            return session.scalar(select(TrackDashboardRow.id).where(
                TrackDashboardRow.project_id == project_id, TrackDashboardRow.name == name,
                TrackDashboardRow.id != dashboard_id)) is not None

    def get(self, project_id: str, dashboard_id: str, version: int | None = None) -> Dashboard | None:
        """The dashboard with its newest version, or with `version` in its place; None when either is missing."""
        with self._sessions() as session:
            row = self._row(session, project_id, dashboard_id)
            if row is None:
                return None
            found = session.get(TrackDashboardVersionRow, (dashboard_id, version or row.latest_version))
            return _dashboard(row, found) if found else None

    def all(self, project_id: str) -> list[Dashboard]:
        """The project's dashboards by name, each with its newest version."""
        query = (select(TrackDashboardRow, TrackDashboardVersionRow)
                 .join(TrackDashboardVersionRow,
                       (TrackDashboardVersionRow.dashboard_id == TrackDashboardRow.id)
                       & (TrackDashboardVersionRow.version == TrackDashboardRow.latest_version))
                 .where(TrackDashboardRow.project_id == project_id).order_by(TrackDashboardRow.name))
        with self._sessions() as session:
            return [_dashboard(row, version) for row, version in session.execute(query)]

    def versions(self, project_id: str, dashboard_id: str) -> list[DashboardVersion] | None:
        """A dashboard's versions, newest first; None when there is no such dashboard."""
        with self._sessions() as session:
            if self._row(session, project_id, dashboard_id) is None:
                return None
            rows = session.scalars(select(TrackDashboardVersionRow)
                                   .where(TrackDashboardVersionRow.dashboard_id == dashboard_id)
                                   .order_by(TrackDashboardVersionRow.version.desc()))
            return [_version(r) for r in rows]

    def delete(self, project_id: str, dashboard_id: str) -> bool:
        with self._sessions.begin() as session:
            row = self._row(session, project_id, dashboard_id)
            if row is None:
                return False
            for version in session.scalars(select(TrackDashboardVersionRow).where(
                    TrackDashboardVersionRow.dashboard_id == dashboard_id)):
                session.delete(version)  # SQLite enforces no foreign keys unless asked: do not rely on CASCADE
            session.delete(row)
            return True


class TrackReportRepository:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def add(self, report_id: str, project_id: str, name: str, *, spec: dict[str, Any], runs: list[str],
            groups: list[dict[str, Any]], when: datetime) -> Report:
        with self._sessions.begin() as session:
            row = TrackReportRow(id=report_id, project_id=project_id, name=name, spec=spec, runs=runs,
                                 groups=groups, created_at=when, updated_at=when)
            session.add(row)
            session.flush()
            return _report(row)

    def _row(self, session: Session, project_id: str, report_id: str) -> TrackReportRow | None:
        return session.scalar(select(TrackReportRow).where(TrackReportRow.project_id == project_id,
                                                           TrackReportRow.id == report_id))

    def get(self, project_id: str, report_id: str) -> Report | None:
        with self._sessions() as session:
            row = self._row(session, project_id, report_id)
            return _report(row) if row else None

    def by_token_hash(self, token_hash: str) -> Report | None:
        with self._sessions() as session:
            row = session.scalar(select(TrackReportRow).where(TrackReportRow.share_token_hash == token_hash))
            return _report(row) if row else None

    def all(self, project_id: str) -> list[Report]:
        with self._sessions() as session:
            rows = session.scalars(select(TrackReportRow).where(TrackReportRow.project_id == project_id)
                                   .order_by(TrackReportRow.name, TrackReportRow.id))
            return [_report(r) for r in rows]

    def update(self, project_id: str, report_id: str, changes: dict[str, Any], when: datetime) -> Report | None:
        """Set the given fields among name, spec, runs and groups; None when there is no such report."""
        with self._sessions.begin() as session:
            row = self._row(session, project_id, report_id)
            if row is None:
                return None
            for field in ("name", "spec", "runs", "groups"):
                if field in changes:
                    setattr(row, field, changes[field])
            row.updated_at = when
            session.flush()
            return _report(row)

    def set_share(self, project_id: str, report_id: str, token_hash: str | None,
                  when: datetime | None) -> Report | None:
        """Replace the share link's token hash (None revokes it)."""
        with self._sessions.begin() as session:
            row = self._row(session, project_id, report_id)
            if row is None:
                return None
            row.share_token_hash, row.shared_at = token_hash, when
            session.flush()
            return _report(row)

    def delete(self, project_id: str, report_id: str) -> bool:
        with self._sessions.begin() as session:
            row = self._row(session, project_id, report_id)
            if row is None:
                return False
            session.delete(row)
            return True
