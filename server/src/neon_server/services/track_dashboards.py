"""Saved views of the runs table, versioned dashboards, and reports with read-only share links.

Specs arrive checked by the API's models (api/track_dashboard_schemas.py) and are stored as given. A share link
is a random token handed out once; only its SHA-256 is stored, so a leaked database does not leak the links.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from neon_server.domain.track_dashboards import Dashboard, DashboardVersion, Report, SavedView
from neon_server.services.errors import Conflict, NotFound
from neon_server.storage.metadata.errors import AlreadyExists
from neon_server.storage.metadata.repositories import ApiKeyRepository
from neon_server.storage.metadata.track_dashboards import (
    TrackDashboardRepository,
    TrackReportRepository,
    TrackViewRepository,
)

SHARE_TOKEN_PREFIX = "neon_share_"  # noqa: S105 - a prefix that says what a token is, not a secret


def _now() -> datetime:
    return datetime.now(UTC)


def _new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(8)}"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class TrackViewService:
    """Named states of the runs table, per project (names unique: a duplicate is a 409)."""

    def __init__(self, repo: TrackViewRepository) -> None:
        self._repo = repo

    def all(self, project_id: str) -> list[SavedView]:
        return self._repo.all(project_id)

    def get(self, project_id: str, view_id: str) -> SavedView:
        found = self._repo.get(project_id, view_id)
        if found is None:
            raise NotFound(f"no view {view_id!r} in this project")
        return found

    def create(self, project_id: str, name: str, state: dict[str, Any]) -> SavedView:
        try:
            return self._repo.add(_new_id("view"), project_id, name, state, _now())
        except AlreadyExists as exc:
            raise Conflict(str(exc)) from None

    def update(self, project_id: str, view_id: str, name: str | None, state: dict[str, Any] | None) -> SavedView:
        try:
            found = self._repo.update(project_id, view_id, name, state, _now())
        except AlreadyExists as exc:
            raise Conflict(str(exc)) from None
        if found is None:
            raise NotFound(f"no view {view_id!r} in this project")
        return found

    def delete(self, project_id: str, view_id: str) -> None:
        if not self._repo.delete(project_id, view_id):
            raise NotFound(f"no view {view_id!r} in this project")


class TrackDashboardService:
    """Dashboards whose every save is a new version; restoring saves an old version's spec as the newest."""

    def __init__(self, repo: TrackDashboardRepository, keys: ApiKeyRepository) -> None:
        self._repo = repo
        self._keys = keys

    def author(self, project_id: str, key_id: str) -> str:
        """Who saves: the API key's name, else its id (a run token or an unknown key: empty)."""
        key = self._keys.get(project_id, key_id) if key_id else None
        return (key.name or key.prefix) if key else ""

    def all(self, project_id: str) -> list[Dashboard]:
        return self._repo.all(project_id)

    def create(self, project_id: str, name: str, spec: dict[str, Any], author: str) -> Dashboard:
        try:
            return self._repo.add(_new_id("dash"), project_id, name, spec=spec, author=author, when=_now())
        except AlreadyExists as exc:
            raise Conflict(str(exc)) from None

    def get(self, project_id: str, dashboard_id: str, version: int | None = None) -> Dashboard:
        found = self._repo.get(project_id, dashboard_id, version)
        if found is None:
            self.versions(project_id, dashboard_id)  # no such dashboard at all: say that instead
            raise NotFound(f"dashboard {dashboard_id!r} has no version {version}")
        return found

    def versions(self, project_id: str, dashboard_id: str) -> list[DashboardVersion]:
        found = self._repo.versions(project_id, dashboard_id)
        if found is None:
            raise NotFound(f"no dashboard {dashboard_id!r} in this project")
        return found

    def save(self, project_id: str, dashboard_id: str, spec: dict[str, Any], author: str,
             name: str | None = None) -> Dashboard:
        try:
            saved = self._repo.save(project_id, dashboard_id, spec=spec, author=author, when=_now(), name=name)
        except AlreadyExists as exc:
            raise Conflict(str(exc)) from None
        if saved is None:
            raise NotFound(f"no dashboard {dashboard_id!r} in this project")
        return saved

    def restore(self, project_id: str, dashboard_id: str, version: int, author: str) -> Dashboard:
        old = self.get(project_id, dashboard_id, version)
        return self.save(project_id, dashboard_id, old.latest.spec, author)

    def delete(self, project_id: str, dashboard_id: str) -> None:
        if not self._repo.delete(project_id, dashboard_id):
            raise NotFound(f"no dashboard {dashboard_id!r} in this project")


class TrackReportService:
    """Reports over a fixed run list, and their share links: whoever holds a link reads that report and the data
    of its own runs, nothing else (`shared` and `check_runs`)."""

    def __init__(self, repo: TrackReportRepository) -> None:
        self._repo = repo

    def all(self, project_id: str) -> list[Report]:
        return self._repo.all(project_id)

    def create(self, project_id: str, name: str, spec: dict[str, Any], runs: list[str],
               groups: list[dict[str, Any]]) -> Report:
        return self._repo.add(_new_id("report"), project_id, name, spec=spec, runs=runs, groups=groups, when=_now())

    def get(self, project_id: str, report_id: str) -> Report:
        found = self._repo.get(project_id, report_id)
        if found is None:
            raise NotFound(f"no report {report_id!r} in this project")
        return found

    def update(self, project_id: str, report_id: str, changes: dict[str, Any]) -> Report:
        found = self._repo.update(project_id, report_id, changes, _now())
        if found is None:
            raise NotFound(f"no report {report_id!r} in this project")
        return found

    def delete(self, project_id: str, report_id: str) -> None:
        if not self._repo.delete(project_id, report_id):
            raise NotFound(f"no report {report_id!r} in this project")

    def share(self, project_id: str, report_id: str) -> tuple[Report, str]:
        """A new share link's token (any earlier link of the report stops working); shown only this once."""
        token = SHARE_TOKEN_PREFIX + secrets.token_urlsafe(24)
        found = self._repo.set_share(project_id, report_id, token_hash(token), _now())
        if found is None:
            raise NotFound(f"no report {report_id!r} in this project")
        return found, token

    def revoke(self, project_id: str, report_id: str) -> Report:
        found = self._repo.set_share(project_id, report_id, None, None)
        if found is None:
            raise NotFound(f"no report {report_id!r} in this project")
        return found

    def shared(self, token: str) -> Report:
        """The report a share token opens; NotFound for an unknown or revoked token (the same answer, so a
        caller learns nothing about which tokens existed)."""
        found = self._repo.by_token_hash(token_hash(token)) if token.startswith(SHARE_TOKEN_PREFIX) else None
        if found is None:
            raise NotFound("no shared report for this link: it may have been revoked")
        return found

    @staticmethod
    def check_runs(report: Report, run_ids: Iterable[str]) -> None:
        """NotFound unless every run is one of the report's."""
        allowed = report.run_ids()
        for run_id in run_ids:
            if run_id not in allowed:
                raise NotFound(f"no run {run_id!r} in this report")
