"""ACM: apps.acm, domains.acm_status_reason, sni_endpoints.acm

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 23:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("apps") as batch:
        batch.add_column(sa.Column("acm", sa.Boolean(), nullable=False, server_default=sa.false()))
    with op.batch_alter_table("domains") as batch:
        batch.add_column(sa.Column("acm_status_reason", sa.Text(), nullable=True))
    with op.batch_alter_table("sni_endpoints") as batch:
        batch.add_column(sa.Column("acm", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("sni_endpoints") as batch:
        batch.drop_column("acm")
    with op.batch_alter_table("domains") as batch:
        batch.drop_column("acm_status_reason")
    with op.batch_alter_table("apps") as batch:
        batch.drop_column("acm")
