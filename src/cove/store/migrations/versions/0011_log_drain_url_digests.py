"""log drains: a keyed digest of the (encrypted) URL, unique per app

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 21:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op

from cove.store.digests import digest
from cove.store.secrets import Keyring, SecretsKeyError, from_stored

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# SQLite's unique constraints are unnamed: batch mode names them by this to drop one.
NAMING = {"uq": "uq_%(table_name)s_%(column_0_N_name)s"}
# PostgreSQL named the one 0004 made itself.
POSTGRES_NAME = "log_drains_app_id_url_key"


def _keyring() -> Keyring:
    keyring = context.config.attributes.get("keyring")
    if not isinstance(keyring, Keyring):
        raise SecretsKeyError("this migration needs the secrets key: run it with `cove server`")
    return keyring


def upgrade() -> None:
    keyring = _keyring()
    with op.batch_alter_table("log_drains") as batch:
        batch.add_column(sa.Column("url_digest", sa.String(length=64), nullable=True))
    conn = op.get_bind()
    for row_id, raw in conn.execute(sa.text("SELECT id, url FROM log_drains")).all():
        conn.execute(
            sa.text("UPDATE log_drains SET url_digest = :d WHERE id = :id"),
            {"d": digest(keyring, from_stored(keyring, "text", raw)), "id": row_id},
        )
    with op.batch_alter_table("log_drains", naming_convention=NAMING) as batch:
        batch.alter_column("url_digest", existing_type=sa.String(length=64), nullable=False)
        postgres = conn.dialect.name == "postgresql"
        batch.drop_constraint(
            POSTGRES_NAME if postgres else "uq_log_drains_app_id_url", type_="unique"
        )
        batch.create_unique_constraint("uq_log_drains_app_id_url_digest", ["app_id", "url_digest"])


def downgrade() -> None:
    with op.batch_alter_table("log_drains", naming_convention=NAMING) as batch:
        batch.drop_constraint("uq_log_drains_app_id_url_digest", type_="unique")
        batch.drop_column("url_digest")
        batch.create_unique_constraint("uq_log_drains_app_id_url", ["app_id", "url"])
