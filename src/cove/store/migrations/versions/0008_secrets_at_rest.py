"""secrets at rest: config vars and add-on credentials encrypted in place

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 21:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op

from cove.store.secrets import (
    PREFIX,
    Keyring,
    SecretsKeyError,
    from_stored,
    to_stored,
)

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, column, kind) encrypted as of this revision (not cove.store.secrets' list, which
# grows with later revisions' tables).
ENCRYPTED_COLUMNS = (
    ("apps", "config", "json"),
    ("releases", "config", "json"),
    ("addons", "resource", "json"),
    ("addons", "url", "text"),
    ("log_drains", "url", "text"),
)


def _keyring() -> Keyring:
    keyring = context.config.attributes.get("keyring")
    if not isinstance(keyring, Keyring):
        raise SecretsKeyError("this migration needs the secrets key: run it with `cove server`")
    return keyring


def _encrypted(raw: object) -> bool:
    return isinstance(raw, str) and PREFIX in raw[: len(PREFIX) + 1]


def upgrade() -> None:
    keyring = _keyring()
    op.create_table(
        "secrets_key_check",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    conn = op.get_bind()
    if conn.dialect.name == "sqlite":  # overwrite the plaintext, don't just free its space
        conn.execute(sa.text("PRAGMA secure_delete = ON"))
    for table, column, kind in ENCRYPTED_COLUMNS:
        rows = conn.execute(sa.text(f"SELECT id, {column} FROM {table}")).all()
        for row_id, raw in rows:
            if raw is None or _encrypted(raw):
                continue
            conn.execute(
                sa.text(f"UPDATE {table} SET {column} = :value WHERE id = :id"),
                {"value": to_stored(keyring, kind, raw), "id": row_id},
            )
    conn.execute(
        sa.text("INSERT INTO secrets_key_check (id, token) VALUES (1, :token)"),
        {"token": keyring.check_token()},
    )


def downgrade() -> None:
    keyring = _keyring()
    conn = op.get_bind()
    for table, column, kind in ENCRYPTED_COLUMNS:
        rows = conn.execute(sa.text(f"SELECT id, {column} FROM {table}")).all()
        for row_id, raw in rows:
            if raw is None:
                continue
            conn.execute(
                sa.text(f"UPDATE {table} SET {column} = :value WHERE id = :id"),
                {"value": from_stored(keyring, kind, raw), "id": row_id},
            )
    op.drop_table("secrets_key_check")
