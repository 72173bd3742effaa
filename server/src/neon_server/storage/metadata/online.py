"""Repositories of online evaluation rules and score jobs (scoring production traffic)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from neon_server.domain.online import NewRule, OnlineRule, ScoreJob
from neon_server.storage.metadata.errors import AlreadyExists
from neon_server.storage.metadata.models import OnlineRuleRow, ScoreJobRow


def _rule(row: OnlineRuleRow) -> OnlineRule:
    return OnlineRule(id=row.id, project_id=row.project_id, name=row.name, filter=dict(row.filter or {}),
                      sample_rate=row.sample_rate, scorers=list(row.scorers or []), enabled=row.enabled,
                      created_at=row.created_at, updated_at=row.updated_at)


def _job(row: ScoreJobRow) -> ScoreJob:
    return ScoreJob(id=row.id, project_id=row.project_id, status=row.status, filter=dict(row.filter or {}),
                    scorers=list(row.scorers or []), limit=row.limit, key=row.key, total=row.total, done=row.done,
                    scores_written=row.scores_written, errors=row.errors, summary=dict(row.summary or {}),
                    error=row.error, created_at=row.created_at, started_at=row.started_at,
                    finished_at=row.finished_at)


class OnlineRuleRepository:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def create(self, project_id: str, rule: NewRule) -> OnlineRule:
        now = datetime.now(UTC)
        with self._sessions.begin() as session:
            row = OnlineRuleRow(id=f"rule_{uuid.uuid4().hex[:20]}", project_id=project_id, name=rule.name,
                                filter=rule.filter, sample_rate=rule.sample_rate, scorers=rule.scorers,
                                enabled=rule.enabled, created_at=now, updated_at=now)
            session.add(row)
            try:
                session.flush()
            except IntegrityError:
                raise AlreadyExists(f"an online rule named {rule.name!r} already exists in this project") from None
            return _rule(row)

    def get(self, project_id: str, rule_id: str) -> OnlineRule | None:
        with self._sessions() as session:
            row = session.scalar(select(OnlineRuleRow).where(OnlineRuleRow.id == rule_id,
                                                             OnlineRuleRow.project_id == project_id))
            return _rule(row) if row else None

    def all(self, project_id: str) -> list[OnlineRule]:
        with self._sessions() as session:
            rows = session.scalars(select(OnlineRuleRow).where(OnlineRuleRow.project_id == project_id)
                                   .order_by(OnlineRuleRow.name))
            return [_rule(r) for r in rows]

    def enabled(self) -> list[OnlineRule]:
        """Every project's enabled rules (what the online scorer runs)."""
        with self._sessions() as session:
            rows = session.scalars(select(OnlineRuleRow).where(OnlineRuleRow.enabled.is_(True))
                                   .order_by(OnlineRuleRow.project_id, OnlineRuleRow.name))
            return [_rule(r) for r in rows]

    def replace(self, project_id: str, rule_id: str, rule: NewRule) -> OnlineRule | None:
        with self._sessions.begin() as session:
            row = session.scalar(select(OnlineRuleRow).where(OnlineRuleRow.id == rule_id,
                                                             OnlineRuleRow.project_id == project_id))
            if row is None:
                return None
            row.name, row.filter, row.sample_rate = rule.name, rule.filter, rule.sample_rate
            row.scorers, row.enabled, row.updated_at = rule.scorers, rule.enabled, datetime.now(UTC)
            try:
                session.flush()
            except IntegrityError:
                raise AlreadyExists(f"an online rule named {rule.name!r} already exists in this project") from None
            return _rule(row)

    def delete(self, project_id: str, rule_id: str) -> bool:
        with self._sessions.begin() as session:
            row = session.scalar(select(OnlineRuleRow).where(OnlineRuleRow.id == rule_id,
                                                             OnlineRuleRow.project_id == project_id))
            if row is None:
                return False
            session.delete(row)
            return True


class ScoreJobRepository:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def create(self, project_id: str, *, filter: dict[str, Any], scorers: list[dict[str, Any]], limit: int,
               key: str) -> ScoreJob:
        with self._sessions.begin() as session:
            row = ScoreJobRow(id=f"job_{uuid.uuid4().hex[:20]}", project_id=project_id, status="queued",
                              filter=filter, scorers=scorers, limit=limit, key=key, total=0, done=0,
                              scores_written=0, errors=0, summary=None, error="", created_at=datetime.now(UTC))
            session.add(row)
            session.flush()
            return _job(row)

    def get(self, project_id: str, job_id: str) -> ScoreJob | None:
        with self._sessions() as session:
            row = session.scalar(select(ScoreJobRow).where(ScoreJobRow.id == job_id,
                                                           ScoreJobRow.project_id == project_id))
            return _job(row) if row else None

    def recent(self, project_id: str, limit: int) -> list[ScoreJob]:
        with self._sessions() as session:
            rows = session.scalars(select(ScoreJobRow).where(ScoreJobRow.project_id == project_id)
                                   .order_by(ScoreJobRow.created_at.desc(), ScoreJobRow.id).limit(limit))
            return [_job(r) for r in rows]

    def progress(self, job_id: str, counts: Mapping[str, int] | None = None, *, status: str | None = None,
                 total: int | None = None, summary: dict[str, Any] | None = None, error: str | None = None,
                 finished: bool = False) -> None:
        """Set what is given; `counts` (done, scores_written, errors) are absolute: the job's thread owns them."""
        given = counts or {}
        values: dict[str, Any] = {k: given[k] for k in ("done", "scores_written", "errors") if k in given}
        now = datetime.now(UTC)
        if status is not None:
            values["status"] = status
            if status == "running":
                values["started_at"] = now
        if total is not None:
            values["total"] = total
        if summary is not None:
            values["summary"] = summary
        if error is not None:
            values["error"] = error
        if finished:
            values["finished_at"] = now
        with self._sessions.begin() as session:
            session.execute(update(ScoreJobRow).where(ScoreJobRow.id == job_id).values(**values))
