"""Create the note table."""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None


def upgrade():
    op.create_table(
        "note",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("text", sa.String(length=200), nullable=False),
    )


def downgrade():
    op.drop_table("note")
