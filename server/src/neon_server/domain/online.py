"""Scoring production traffic: online evaluation rules and score jobs, as the metadata store returns them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

JOB_STATUSES = ("queued", "running", "completed", "failed")


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


@dataclass(frozen=True)
class OnlineRule:
    """Score new traces that match `filter` (root-span fields), sampling `sample_rate` of them by trace id."""

    id: str
    project_id: str
    name: str
    filter: dict[str, Any]
    sample_rate: float
    scorers: list[dict[str, Any]]
    enabled: bool
    created_at: datetime
    updated_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "filter": self.filter, "sample_rate": self.sample_rate,
                "scorers": self.scorers, "enabled": self.enabled, "created_at": _iso(self.created_at),
                "updated_at": _iso(self.updated_at)}


@dataclass(frozen=True)
class NewRule:
    name: str
    filter: dict[str, Any]
    sample_rate: float
    scorers: list[dict[str, Any]]
    enabled: bool = True


@dataclass(frozen=True)
class ScoreJob:
    """Scorers run over the stored traces a filter chose; progress counts traces, the summary scores."""

    id: str
    project_id: str
    status: str
    filter: dict[str, Any]
    scorers: list[dict[str, Any]]
    limit: int
    key: str
    total: int
    done: int
    scores_written: int
    errors: int
    summary: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    created_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "status": self.status, "filter": self.filter, "scorers": self.scorers,
                "limit": self.limit, "key": self.key, "total": self.total, "done": self.done,
                "scores_written": self.scores_written, "errors": self.errors, "summary": self.summary,
                "error": self.error, "created_at": _iso(self.created_at), "started_at": _iso(self.started_at),
                "finished_at": _iso(self.finished_at)}
