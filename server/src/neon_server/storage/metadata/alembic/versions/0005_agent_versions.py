"""Agents: every version of an agent spec a project has recorded (runs and traces link to one).

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from neon_server.storage.metadata.models import UtcDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "agent_versions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("project_id", sa.String(40), nullable=False),
        sa.Column("name", sa.String(63), nullable=False),
        sa.Column("version", sa.String(12), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_agent_versions"),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], ondelete="CASCADE",
                                name="fk_agent_versions_project_id_projects"),
        sa.UniqueConstraint("project_id", "name", "version", name="uq_agent_versions_project_id_name_version"),
    )
    op.create_index("ix_agent_versions_project_id_name", "agent_versions", ["project_id", "name"])


def downgrade() -> None:
    op.drop_index("ix_agent_versions_project_id_name", table_name="agent_versions")
    op.drop_table("agent_versions")
