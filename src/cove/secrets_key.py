"""The secrets key of a COVE_HOME: made at the first start, checked against the store at
every start (and by `cove server --check`), rotated by `cove server --rotate-secrets-key`.
See docs/security.md."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from cryptography.fernet import Fernet
from sqlalchemy.exc import OperationalError, ProgrammingError

from cove.settings import Settings
from cove.store.db import Store
from cove.store.digests import digest
from cove.store.models import Base
from cove.store.secrets import (
    EncryptedJSON,
    EncryptedText,
    Keyring,
    SecretsKeyError,
    from_stored,
    to_stored,
)
from cove.store.sqlite import sqlite_file

HELP = (
    "The store's config vars and add-on credentials are encrypted with the key in that "
    "file. Put back the key file this store was encrypted with (from where you backed it "
    "up; after restoring a backup taken before a key rotation, add the retired key as a "
    "second line). See docs/security.md, section Secrets at rest."
)


def store_check(store: Store) -> str | None:
    """The store's key check token; None if it has none yet (new, or not yet migrated)."""
    db = sqlite_file(store.url)
    if db is not None and not db.exists():
        return None  # (connecting would make an empty file)
    try:
        with store.engine.connect() as conn:
            return conn.execute(
                sa.text("SELECT token FROM secrets_key_check WHERE id = 1")
            ).scalar()
    except (OperationalError, ProgrammingError) as exc:
        if store.postgres and not isinstance(exc, ProgrammingError):
            raise  # PostgreSQL can't be reached: that says nothing about the store
        return None  # no such table: a new store, or one from before secrets at rest


def open_keyring(settings: Settings, *, create: bool) -> Keyring:
    """The key for this COVE_HOME's store, verified against it. With ``create``, the
    default key file is made (0600) when the store has no secrets yet."""
    path = settings.secrets_key_path
    store = Store(settings.db_url)
    try:
        check = store_check(store)
    finally:
        store.engine.dispose()
    if not path.exists() and create and check is None and not settings.secrets_key_file:
        keyring = Keyring.generate()
        keyring.write(path)
        return Keyring.from_file(path)
    if not path.exists() and check is not None:
        raise SecretsKeyError(
            f"the secrets key file {path} is missing, but the store's secrets were "
            "encrypted with it"
        )
    keyring = Keyring.from_file(path)
    if check is not None:
        keyring.verify(check)
    return keyring


def encrypted_columns() -> list[tuple[str, str, str]]:
    """(table, column, "json" | "text") of every encrypted column of today's models."""
    found = []
    for table in Base.metadata.sorted_tables:
        for column in table.columns:
            if isinstance(column.type, EncryptedJSON):
                found.append((table.name, column.name, "json"))
            elif isinstance(column.type, EncryptedText):
                found.append((table.name, column.name, "text"))
    return found


def rotate(settings: Settings) -> Path:
    """Encrypt every secret with a new key; the old key is kept beside the key file (the
    store backups taken before now need it), whose path is returned. The caller holds
    COVE_HOME's lock. Crash-safe: the key file lists the new key first and the old ones
    after it until every value is encrypted again, so each value always has its key."""
    path = settings.secrets_key_path
    old = open_keyring(settings, create=False)
    store = Store(settings.db_url)
    try:
        if store_check(store) is None:
            raise SecretsKeyError(
                "the store has no encrypted secrets yet: start `cove server` once"
            )
    finally:
        store.engine.dispose()
    retired = path.with_name(f"{path.name}.retired-{datetime.now(UTC):%Y%m%dT%H%M%SZ}")
    old.write(retired)
    both = Keyring([Fernet.generate_key(), *old.keys], source=old.source)
    both.write(path)
    store = Store(settings.db_url, both)
    try:
        with store.engine.begin() as conn:
            for table, column, kind in encrypted_columns():
                rows = conn.execute(sa.text(f"SELECT id, {column} FROM {table}")).all()
                for row_id, raw in rows:
                    if raw is not None:
                        conn.execute(
                            sa.text(f"UPDATE {table} SET {column} = :v WHERE id = :id"),
                            {
                                "v": to_stored(both, kind, from_stored(both, kind, raw)),
                                "id": row_id,
                            },
                        )
            # Keyed digests (cove.store.digests) follow the key that encrypts.
            for row_id, raw in conn.execute(sa.text("SELECT id, url FROM log_drains")).all():
                conn.execute(
                    sa.text("UPDATE log_drains SET url_digest = :d WHERE id = :id"),
                    {"d": digest(both, from_stored(both, "text", raw)), "id": row_id},
                )
            conn.execute(
                sa.text("UPDATE secrets_key_check SET token = :t WHERE id = 1"),
                {"t": both.check_token()},
            )
    finally:
        store.engine.dispose()
    Keyring(both.keys[:1], source=old.source).write(path)
    os.chmod(path, 0o600)
    return retired
