"""Repositories: the only code that queries the metadata store. They return domain objects."""

from __future__ import annotations

import time
from datetime import datetime

from sqlalchemy import Engine, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from neon_server.domain.projects import ApiKey, Project
from neon_server.storage.metadata.agents import AgentVersionRepository
from neon_server.storage.metadata.errors import AlreadyExists
from neon_server.storage.metadata.evaluation import DatasetRepository, EvalRunRepository
from neon_server.storage.metadata.models import ApiKeyRow, ModelPriceRow, ProjectRow
from neon_server.storage.metadata.online import OnlineRuleRepository, ScoreJobRepository
from neon_server.storage.metadata.track_dashboards import (
    TrackDashboardRepository,
    TrackReportRepository,
    TrackViewRepository,
)
from neon_server.storage.metadata.track_runs import TrackRunRepository


def _project(row: ProjectRow) -> Project:
    return Project(id=row.id, name=row.name, created_at=row.created_at)


def _key(row: ApiKeyRow) -> ApiKey:
    return ApiKey(id=row.id, project_id=row.project_id, name=row.name, prefix=row.prefix,
                  created_at=row.created_at, last_used_at=row.last_used_at, revoked_at=row.revoked_at)


class ProjectRepository:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def create(self, project_id: str, name: str) -> Project:
        with self._sessions.begin() as session:
            row = ProjectRow(id=project_id, name=name)
            session.add(row)
            try:
                session.flush()
            except IntegrityError:
                raise AlreadyExists(f"a project named {name!r} already exists") from None
            return _project(row)

    def get(self, project_id: str) -> Project | None:
        with self._sessions() as session:
            row = session.get(ProjectRow, project_id)
            return _project(row) if row else None

    def get_by_name(self, name: str) -> Project | None:
        with self._sessions() as session:
            row = session.scalar(select(ProjectRow).where(ProjectRow.name == name))
            return _project(row) if row else None

    def list(self) -> list[Project]:
        with self._sessions() as session:
            return [_project(r) for r in session.scalars(select(ProjectRow).order_by(ProjectRow.created_at))]


class ApiKeyRepository:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def create(self, *, key_id: str, project_id: str, name: str, prefix: str, secret_hash: str) -> ApiKey:
        with self._sessions.begin() as session:
            row = ApiKeyRow(id=key_id, project_id=project_id, name=name, prefix=prefix, secret_hash=secret_hash)
            session.add(row)
            try:
                session.flush()
            except IntegrityError:
                raise AlreadyExists(f"key prefix {prefix!r} is taken") from None
            return _key(row)

    def find_by_prefix(self, prefix: str) -> tuple[ApiKey, str] | None:
        """The key with this prefix and its stored secret hash, or None."""
        with self._sessions() as session:
            row = session.scalar(select(ApiKeyRow).where(ApiKeyRow.prefix == prefix))
            return (_key(row), row.secret_hash) if row else None

    def get(self, project_id: str, key_id: str) -> ApiKey | None:
        with self._sessions() as session:
            row = session.scalar(select(ApiKeyRow).where(ApiKeyRow.id == key_id,
                                                         ApiKeyRow.project_id == project_id))
            return _key(row) if row else None

    def list(self, project_id: str, *, include_revoked: bool = True) -> list[ApiKey]:
        query = select(ApiKeyRow).where(ApiKeyRow.project_id == project_id)
        if not include_revoked:
            query = query.where(ApiKeyRow.revoked_at.is_(None))
        with self._sessions() as session:
            return [_key(r) for r in session.scalars(query.order_by(ApiKeyRow.created_at))]

    def revoke(self, project_id: str, key_id: str, when: datetime) -> ApiKey | None:
        """Revoke a key of this project (a no-op if already revoked); None if the project has no such key."""
        with self._sessions.begin() as session:
            row = session.scalar(select(ApiKeyRow).where(ApiKeyRow.id == key_id,
                                                         ApiKeyRow.project_id == project_id))
            if row is None:
                return None
            if row.revoked_at is None:
                row.revoked_at = when
            session.flush()
            return _key(row)

    def touch(self, key_id: str, when: datetime) -> None:
        with self._sessions.begin() as session:
            session.execute(update(ApiKeyRow).where(ApiKeyRow.id == key_id).values(last_used_at=when))


class ModelPriceRepository:
    """Per-project price overrides, as (model → (input, output, cached input)) in USD per million tokens."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def list(self, project_id: str) -> dict[str, tuple[float, float, float | None]]:
        with self._sessions() as session:
            rows = session.scalars(select(ModelPriceRow).where(ModelPriceRow.project_id == project_id)
                                   .order_by(ModelPriceRow.model))
            return {r.model: (r.input_per_mtok, r.output_per_mtok, r.cached_input_per_mtok) for r in rows}

    def put(self, project_id: str, model: str, price: tuple[float, float, float | None]) -> None:
        with self._sessions.begin() as session:
            row = session.get(ModelPriceRow, (project_id, model))
            if row is None:
                row = ModelPriceRow(project_id=project_id, model=model)
                session.add(row)
            row.input_per_mtok, row.output_per_mtok, row.cached_input_per_mtok = price

    def delete(self, project_id: str, model: str) -> bool:
        with self._sessions.begin() as session:
            row = session.get(ModelPriceRow, (project_id, model))
            if row is None:
                return False
            session.delete(row)
            return True


class MetadataStore:
    """The metadata database: its engine and one repository per kind of record."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        sessions = sessionmaker(engine, expire_on_commit=False)
        self.projects = ProjectRepository(sessions)
        self.api_keys = ApiKeyRepository(sessions)
        self.model_prices = ModelPriceRepository(sessions)
        self.datasets = DatasetRepository(sessions)
        self.eval_runs = EvalRunRepository(sessions)
        self.online_rules = OnlineRuleRepository(sessions)
        self.score_jobs = ScoreJobRepository(sessions)
        self.agent_versions = AgentVersionRepository(sessions)
        self.track_runs = TrackRunRepository(sessions)
        self.track_views = TrackViewRepository(sessions)
        self.track_dashboards = TrackDashboardRepository(sessions)
        self.track_reports = TrackReportRepository(sessions)

    @property
    def backend(self) -> str:
        return self.engine.dialect.name

    def health(self) -> dict[str, object]:
        started = time.perf_counter()
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception as exc:  # health reports failures, it does not raise them
            return {"status": "down", "backend": self.backend, "error": str(exc).splitlines()[0]}
        return {"status": "ok", "backend": self.backend,
                "latency_ms": round((time.perf_counter() - started) * 1000, 2)}

    def close(self) -> None:
        self.engine.dispose()
