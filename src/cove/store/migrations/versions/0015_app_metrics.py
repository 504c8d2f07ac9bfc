"""app metrics (the dashboard's Metrics tab: per app and minute, kept a day)

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 23:55:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "app_metrics",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("app_id", sa.String(length=36), nullable=False),
        sa.Column("minute", sa.Integer(), nullable=False),
        sa.Column("statuses", sa.JSON(), nullable=False),
        sa.Column("latency", sa.JSON(), nullable=False),
        sa.Column("errors", sa.JSON(), nullable=False),
        sa.Column("memory", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["app_id"], ["apps.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_app_metrics_app_minute", "app_metrics", ["app_id", "minute"])
    op.create_index("ix_app_metrics_minute", "app_metrics", ["minute"])


def downgrade() -> None:
    op.drop_index("ix_app_metrics_minute", table_name="app_metrics")
    op.drop_index("ix_app_metrics_app_minute", table_name="app_metrics")
    op.drop_table("app_metrics")
