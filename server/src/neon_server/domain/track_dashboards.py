"""Saved views of the runs table, dashboards (versioned) and reports, as the metadata store returns them.

Their specs are JSON checked at the API's edge (`api/track_dashboard_schemas.py`); here they are plain dicts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class SavedView:
    """A named state of the runs table: query, columns, sort and grouping (`state`)."""

    id: str
    project_id: str
    name: str
    state: dict[str, Any]
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class DashboardVersion:
    """One saved spec of a dashboard; versions count from 1 and are never changed."""

    dashboard_id: str
    version: int
    spec: dict[str, Any]
    author: str
    created_at: datetime


@dataclass(frozen=True)
class Dashboard:
    """A dashboard with its newest version."""

    id: str
    project_id: str
    name: str
    created_at: datetime
    latest: DashboardVersion


@dataclass(frozen=True)
class Report:
    """A dashboard-like spec over a fixed list of runs (and groups of runs). `shared` says whether a share link
    is live; the link's token itself is never stored, only its hash."""

    id: str
    project_id: str
    name: str
    spec: dict[str, Any]
    runs: list[str]
    groups: list[dict[str, Any]]
    shared: bool
    shared_at: datetime | None
    created_at: datetime
    updated_at: datetime

    def run_ids(self) -> set[str]:
        """Every run the report may show: its runs and those of its groups."""
        return set(self.runs) | {run for group in self.groups for run in group.get("runs", [])}
