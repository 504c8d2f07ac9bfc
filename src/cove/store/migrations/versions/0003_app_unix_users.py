"""each app gets its own Unix user id

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21 12:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FIRST_UID = 200000  # cove.services.apps.FIRST_APP_UID at the time of this migration


def upgrade() -> None:
    with op.batch_alter_table("apps") as batch:
        batch.add_column(sa.Column("uid", sa.Integer(), nullable=True))
        batch.create_unique_constraint("uq_apps_uid", ["uid"])
    apps = sa.table("apps", sa.column("id", sa.String), sa.column("uid", sa.Integer))
    conn = op.get_bind()
    ids = [row.id for row in conn.execute(sa.select(apps.c.id).order_by(apps.c.id))]
    for offset, app_id in enumerate(ids):
        conn.execute(apps.update().where(apps.c.id == app_id).values(uid=FIRST_UID + offset))


def downgrade() -> None:
    with op.batch_alter_table("apps") as batch:
        batch.drop_constraint("uq_apps_uid", type_="unique")
        batch.drop_column("uid")
