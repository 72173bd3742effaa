"""Datasets (versioned), eval runs and their case results, as the metadata store returns them."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

RUN_STATUSES = ("queued", "running", "completed", "failed", "cancelled")  # cancelled: a workflow run
OPEN_STATUSES = ("queued", "running")


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


@dataclass(frozen=True)
class Dataset:
    id: str
    project_id: str
    name: str
    description: str
    current_version: int
    item_count: int
    created_at: datetime
    updated_at: datetime

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["created_at"], data["updated_at"] = _iso(self.created_at), _iso(self.updated_at)
        return data


@dataclass(frozen=True)
class DatasetVersion:
    version: int
    item_count: int
    change: str
    created_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "created_at": _iso(self.created_at)}


@dataclass(frozen=True)
class NewItem:
    """An item to add; `item_id` empty means "make one up"."""

    input: Any
    expected: Any = None
    expected_tools: list[str] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    item_id: str = ""
    source_trace_id: str = ""


@dataclass(frozen=True)
class DatasetItem:
    id: str
    input: Any
    expected: Any
    expected_tools: list[str] | None
    metadata: dict[str, Any]
    source_trace_id: str
    added_in: int
    removed_in: int | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class EvalRun:
    id: str
    project_id: str
    suite: str
    version: str
    status: str
    origin: str
    dataset: str
    case_count: int | None
    total: int
    passed: int
    failed: int
    errored: int
    summary: dict[str, Any] | None
    metadata: dict[str, Any]
    error: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @property
    def duration_ms(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds() * 1000

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("created_at", "started_at", "finished_at"):
            data[key] = _iso(getattr(self, key))
        data["duration_ms"] = self.duration_ms
        return data


@dataclass(frozen=True)
class CaseResult:
    """One case of a run, in the wire shape of `neon.evaluate.results.CaseResult.to_dict`."""

    case_id: str
    trace_id: str
    input: Any
    expected: Any
    output: Any
    error: str | None
    duration_ms: float | None
    passed: bool
    scores: list[dict[str, Any]]
    tools: list[str] | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
