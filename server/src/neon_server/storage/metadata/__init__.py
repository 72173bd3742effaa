"""Metadata store: projects, keys and (later) datasets, suites, agents, dashboards — SQLite or PostgreSQL."""

from __future__ import annotations

from neon_server.storage.metadata.engine import create_metadata_engine, migrate
from neon_server.storage.metadata.errors import AlreadyExists
from neon_server.storage.metadata.repositories import MetadataStore

__all__ = ["AlreadyExists", "MetadataStore", "open_metadata"]


def open_metadata(url: str, *, run_migrations: bool = True) -> MetadataStore:
    """Open the metadata database the URL names and bring its schema to the newest revision."""
    engine = create_metadata_engine(url)
    if run_migrations:
        try:
            migrate(engine)
        except BaseException:
            engine.dispose()
            raise
    return MetadataStore(engine)
