"""Alembic environment: always driven from code (`neon_server.storage.metadata.engine.migrate`)."""

from __future__ import annotations

from alembic import context

from neon_server.storage.metadata.models import Base

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
)
with context.begin_transaction():
    context.run_migrations()
