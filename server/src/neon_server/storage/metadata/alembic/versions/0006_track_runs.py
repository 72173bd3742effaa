"""Track: training runs' identity (caller id, short id number, fork parent); their data is in the analytics store.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from neon_server.storage.metadata.models import UtcDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "track_runs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("project_id", sa.String(40), nullable=False),
        sa.Column("run_id", sa.String(730), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("experiment_name", sa.String(730), nullable=False),
        sa.Column("family", sa.String(730), nullable=False),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("fork_parent_run_id", sa.String(730), nullable=False),
        sa.Column("fork_step", sa.Float(), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_track_runs"),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], ondelete="CASCADE",
                                name="fk_track_runs_project_id_projects"),
        sa.UniqueConstraint("project_id", "run_id", name="uq_track_runs_project_id_run_id"),
        sa.UniqueConstraint("project_id", "number", name="uq_track_runs_project_id_number"),
    )


def downgrade() -> None:
    op.drop_table("track_runs")
