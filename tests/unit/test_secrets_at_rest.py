"""Secrets at rest: the encrypted column types, the key file, the migration that encrypts
a store in place (and its downgrade), key rotation and `cove server --check`."""

from __future__ import annotations

import io
import json
import os
import stat
from pathlib import Path

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from cryptography.fernet import Fernet
from sqlalchemy import select, text

from cove.domain.errors import InvalidParams, NotFound
from cove.home_check import check_home, report
from cove.secrets_key import encrypted_columns, open_keyring, rotate
from cove.services import drains
from cove.settings import Settings
from cove.store import AddOn, App, Release, Store
from cove.store.secrets import Keyring, SecretsKeyError
from tests.unit.accounts import add_account

MARKER = "s3cret-marker-7d1f0a"
PASSWORD = "addon-pw-91c2e4"


def store_bytes(db: Path) -> bytes:
    """Everything on disk for the store: the file and its write-ahead log."""
    wal = db.with_name(db.name + "-wal")
    return db.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


def add_secrets(store: Store) -> str:
    owner = add_account(store, "owner@example.com")
    with store.session() as s:
        app = App(name="vault", owner_id=owner, config={"API_KEY": MARKER})
        s.add(app)
        s.flush()
        s.add(Release(app_id=app.id, version=1, description="x", user_id=owner, config=app.config))
        s.add(
            AddOn(
                name="postgresql-x-1",
                app_id=app.id,
                service="heroku-postgresql",
                plan="mini",
                resource={"password": PASSWORD},
                url=f"postgres://u:{PASSWORD}@127.0.0.1:5432/d",
            )
        )
        return app.id


def read_secrets(store: Store) -> tuple[dict[str, str], dict[str, str], dict[str, str], str]:
    with store.session() as s:
        app = s.scalars(select(App)).one()
        release = s.scalars(select(Release)).one()
        addon = s.scalars(select(AddOn)).one()
        return app.config, release.config, addon.resource, addon.url


def test_secret_columns_round_trip_and_are_not_plain_on_disk(tmp_path: Path) -> None:
    db = tmp_path / "cove.db"
    store = Store(f"sqlite:///{db}", Keyring.generate())
    store.migrate()
    add_secrets(store)
    config, release_config, resource, url = read_secrets(store)
    assert config == release_config == {"API_KEY": MARKER}
    assert resource == {"password": PASSWORD}
    assert PASSWORD in url
    raw = store_bytes(db)
    assert MARKER.encode() not in raw and PASSWORD.encode() not in raw
    assert b"API_KEY" not in raw  # names are secret too: the whole value is encrypted


def test_a_wrong_key_is_a_clear_error_that_shows_no_secret(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cove.db'}"
    store = Store(url, Keyring.generate())
    store.migrate()
    add_secrets(store)
    other = Store(url, Keyring.generate())
    with pytest.raises(SecretsKeyError, match="not the key they were encrypted with") as err:
        read_secrets(other)
    assert MARKER not in str(err.value)


def test_key_files(tmp_path: Path) -> None:
    with pytest.raises(SecretsKeyError, match="does not exist"):
        Keyring.from_file(tmp_path / "none.key")
    garbage = tmp_path / "garbage.key"
    garbage.write_text("not-a-key-but-maybe-a-secret\n")
    with pytest.raises(SecretsKeyError, match="not a key file") as err:
        Keyring.from_file(garbage)
    assert "not-a-key" not in str(err.value)
    empty = tmp_path / "empty.key"
    empty.write_text("\n")
    with pytest.raises(SecretsKeyError, match="holds no key"):
        Keyring.from_file(empty)
    # Several keys: the first encrypts, every one decrypts.
    old, new = Keyring.generate(), Keyring.generate()
    both = Keyring([*new.keys, *old.keys])
    assert both.decrypt(old.encrypt("a")) == "a"
    assert new.decrypt(both.encrypt("b")) == "b"


def settings_for(home: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.delenv("COVE_DATABASE_URL", raising=False)
    home.mkdir()
    return Settings(home=home)


def test_first_start_makes_a_private_key_and_later_starts_check_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_for(tmp_path / "home", monkeypatch)
    keyring = open_keyring(settings, create=True)
    key = settings.secrets_key_path
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    store = Store(settings.db_url, keyring)
    store.migrate()
    add_secrets(store)
    store.engine.dispose()
    assert read_secrets(Store(settings.db_url, open_keyring(settings, create=True)))[0] == {
        "API_KEY": MARKER
    }
    # A wrong key is refused before any secret is read.
    saved = key.read_bytes()
    Keyring.generate().write(key)
    with pytest.raises(SecretsKeyError, match="not the key they were encrypted with"):
        open_keyring(settings, create=True)
    # A missing key is never made again over a store that has secrets.
    key.unlink()
    with pytest.raises(SecretsKeyError, match="is missing"):
        open_keyring(settings, create=True)
    assert not key.exists()
    out = io.StringIO()
    assert not report(check_home(settings), out)
    assert "Secrets key: the secrets key file" in out.getvalue()
    key.write_bytes(saved)
    key.chmod(0o644)
    out = io.StringIO()
    report(check_home(settings), out)
    assert "holds secrets but other users can read it" in out.getvalue()
    assert "decrypts the store's secrets" in out.getvalue()


def test_an_operator_key_file_is_never_made(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_for(tmp_path / "home", monkeypatch)
    operator = Settings(home=settings.home, secrets_key_file=str(tmp_path / "op.key"))
    with pytest.raises(SecretsKeyError, match="does not exist"):
        open_keyring(operator, create=True)
    (tmp_path / "op.key").write_bytes(Fernet.generate_key() + b"\n")
    open_keyring(operator, create=True)
    assert not settings.secrets_key_path.exists()


def test_migration_encrypts_in_place_and_downgrade_decrypts(tmp_path: Path) -> None:
    db = tmp_path / "cove.db"
    store = Store(f"sqlite:///{db}", Keyring.generate())
    config = store._alembic()
    script = ScriptDirectory.from_config(config)
    ours = next(r for r in script.walk_revisions() if r.doc.startswith("secrets at rest"))
    assert isinstance(ours.down_revision, str)
    before = ours.down_revision
    command.upgrade(config, before)
    owner = "o1"
    with store.engine.begin() as conn:  # rows as a store before encryption holds them
        conn.execute(  # (raw SQL: the models may have columns of later revisions)
            text(
                "INSERT INTO accounts (id, email, name, created_at, updated_at) VALUES "
                "(:o, 'owner@example.com', '', '2026-01-01', '2026-01-01')"
            ),
            {"o": owner},
        )
        conn.execute(
            text(
                "INSERT INTO apps (id, name, owner_id, maintenance, config, buildpacks, "
                "restarts, created_at, updated_at) VALUES ('a1', 'vault', :o, 0, :c, '[]', "
                "'{}', '2026-01-01', '2026-01-01')"
            ),
            {"o": owner, "c": f'{{"API_KEY": "{MARKER}"}}'},
        )
        conn.execute(
            text(
                "INSERT INTO log_drains (id, app_id, url, token, created_at, updated_at) "
                "VALUES ('d1', 'a1', :u, 'd.1', '2026-01-01', '2026-01-01')"
            ),
            {"u": f"https://u:{PASSWORD}@logs.example.com/"},
        )
    command.upgrade(config, ours.revision)
    with store.engine.begin() as conn:
        conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
        stored = conn.execute(text("SELECT config FROM apps")).scalar()
    assert MARKER.encode() not in store_bytes(db) and PASSWORD.encode() not in store_bytes(db)
    assert json.loads(store.keyring.decrypt(json.loads(stored))) == {"API_KEY": MARKER}
    command.downgrade(config, before)
    with store.engine.begin() as conn:
        raw = conn.execute(text("SELECT config FROM apps")).scalar()
    assert raw == f'{{"API_KEY": "{MARKER}"}}'


def test_rotation_encrypts_with_a_new_key_and_keeps_the_old_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_for(tmp_path / "home", monkeypatch)
    old = open_keyring(settings, create=True)
    store = Store(settings.db_url, old)
    store.migrate()
    add_secrets(store)
    store.engine.dispose()
    retired = rotate(settings)
    assert Keyring.from_file(retired).keys == old.keys
    assert stat.S_IMODE(settings.secrets_key_path.stat().st_mode) == 0o600
    new = open_keyring(settings, create=False)
    assert new.keys != old.keys and len(new.keys) == 1
    assert read_secrets(Store(settings.db_url, new))[3].endswith("@127.0.0.1:5432/d")
    with pytest.raises(SecretsKeyError):
        read_secrets(Store(settings.db_url, old))
    assert not list(settings.home.glob("*.new")) and os.path.exists(retired)


def test_log_drain_urls_are_encrypted_and_still_found_by_url(tmp_path: Path) -> None:
    db = tmp_path / "cove.db"
    store = Store(f"sqlite:///{db}", Keyring.generate())
    store.migrate()
    add_secrets(store)
    with store.session() as s:
        app = s.scalars(select(App)).one()
    url = f"https://user:{PASSWORD}@logs.example.com/ingest"
    drain = drains.create(store, app, url)
    assert PASSWORD.encode() not in store_bytes(db)
    with pytest.raises(InvalidParams, match="already been taken"):
        drains.create(store, app, url)
    assert drains.get(store, app.id, url).id == drain.id
    assert drains.get(store, app.id, drain.token).url == url
    with pytest.raises(NotFound):
        drains.get(store, app.id, url + "x")


def test_rotation_covers_every_encrypted_column() -> None:
    found = set(encrypted_columns())
    assert {
        ("apps", "config", "json"),
        ("releases", "config", "json"),
        ("addons", "resource", "json"),
        ("addons", "url", "text"),
        ("log_drains", "url", "text"),
        ("sni_endpoints", "private_key", "text"),
    } <= found
