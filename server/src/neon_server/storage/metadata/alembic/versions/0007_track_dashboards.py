"""Track: saved views of the runs table, versioned dashboards and reports with share links.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from neon_server.storage.metadata.models import UtcDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def _project(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["project_id"], ["projects.id"], ondelete="CASCADE",
                                   name=f"fk_{table}_project_id_projects")


def upgrade() -> None:
    op.create_table(
        "track_views",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("project_id", sa.String(40), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("state", sa.JSON(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_track_views"),
        _project("track_views"),
        sa.UniqueConstraint("project_id", "name", name="uq_track_views_project_id_name"),
    )
    op.create_table(
        "track_dashboards",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("project_id", sa.String(40), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("latest_version", sa.Integer(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_track_dashboards"),
        _project("track_dashboards"),
        sa.UniqueConstraint("project_id", "name", name="uq_track_dashboards_project_id_name"),
    )
    op.create_table(
        "track_dashboard_versions",
        sa.Column("dashboard_id", sa.String(40), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("author", sa.String(200), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("dashboard_id", "version", name="pk_track_dashboard_versions"),
        sa.ForeignKeyConstraint(["dashboard_id"], ["track_dashboards.id"], ondelete="CASCADE",
                                name="fk_track_dashboard_versions_dashboard_id_track_dashboards"),
    )
    op.create_table(
        "track_reports",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("project_id", sa.String(40), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("runs", sa.JSON(), nullable=False),
        sa.Column("groups", sa.JSON(), nullable=False),
        sa.Column("share_token_hash", sa.String(64), nullable=True),
        sa.Column("shared_at", UtcDateTime(), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_track_reports"),
        _project("track_reports"),
        sa.UniqueConstraint("share_token_hash", name="uq_track_reports_share_token_hash"),
    )
    op.create_index("ix_track_reports_project_id", "track_reports", ["project_id"])


def downgrade() -> None:
    op.drop_index("ix_track_reports_project_id", table_name="track_reports")
    op.drop_table("track_reports")
    op.drop_table("track_dashboard_versions")
    op.drop_table("track_dashboards")
    op.drop_table("track_views")
