"""Log drain URLs are encrypted at rest; their keyed digest (migration 0011) keeps a URL
unique per app in the database itself and finds a drain by its URL, across key rotation."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from cove.domain.errors import InvalidParams, NotFound
from cove.secrets_key import open_keyring, rotate
from cove.services import drains
from cove.store import App, LogDrain, Store
from cove.store.digests import digest
from cove.store.secrets import Keyring
from tests.unit.test_secrets_at_rest import add_secrets, settings_for

URL = "https://user:drain-pw-5e1b@logs.example.com/ingest"


def new_store(tmp_path: Path, keyring: Keyring | None = None) -> tuple[Store, App]:
    store = Store(f"sqlite:///{tmp_path / 'cove.db'}", keyring or Keyring.generate())
    store.migrate()
    add_secrets(store)
    with store.session() as s:
        return store, s.scalars(select(App)).one()


def test_the_database_refuses_a_second_drain_with_the_same_url(tmp_path: Path) -> None:
    store, app = new_store(tmp_path)
    first, second = store._sessions(), store._sessions()
    try:
        for s in (first, second):  # both checked before either wrote
            assert drains._by_url(s, app.id, URL) is None
        d = digest(store.keyring, URL)
        first.add(LogDrain(app_id=app.id, url=URL, url_digest=d))
        first.commit()
        second.add(LogDrain(app_id=app.id, url=URL, url_digest=d))
        with pytest.raises(IntegrityError):
            second.commit()
    finally:
        first.close()
        second.close()
    assert len(drains.list_for_app(store, app.id)) == 1


def test_a_concurrent_duplicate_add_is_the_already_taken_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, app = new_store(tmp_path)
    drains.create(store, app, URL)
    # As if the other add committed after this one's check: the constraint decides.
    monkeypatch.setattr(drains, "_by_url", lambda session, app_id, url: None)
    with pytest.raises(InvalidParams, match="already been taken"):
        drains.create(store, app, URL)
    assert len(drains.list_for_app(store, app.id)) == 1


def test_remove_by_url_finds_the_drain(tmp_path: Path) -> None:
    store, app = new_store(tmp_path)
    other = drains.create(store, app, "syslog+tls://logs.example.com:6514")
    drain = drains.create(store, app, URL)
    with pytest.raises(NotFound):
        drains.remove(store, app.id, URL + "x")
    assert drains.remove(store, app.id, URL).id == drain.id
    assert [d.id for d in drains.list_for_app(store, app.id)] == [other.id]
    assert drains.remove(store, app.id, other.token).id == other.id


def test_the_same_url_on_another_app_is_allowed(tmp_path: Path) -> None:
    store, app = new_store(tmp_path)
    drains.create(store, app, URL)
    with store.session() as s:
        second = App(name="vault-2", owner_id=app.owner_id, config={})
        s.add(second)
    assert drains.create(store, second, URL).url == URL


def test_rotation_recomputes_digests(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = settings_for(tmp_path / "home", monkeypatch)
    old = open_keyring(settings, create=True)
    store = Store(settings.db_url, old)
    store.migrate()
    add_secrets(store)
    with store.session() as s:
        app = s.scalars(select(App)).one()
    drain = drains.create(store, app, URL)
    store.engine.dispose()
    rotate(settings)
    new = open_keyring(settings, create=False)
    store = Store(settings.db_url, new)  # the old key is no longer in the key file
    assert drains.get(store, app.id, URL).id == drain.id
    with pytest.raises(InvalidParams, match="already been taken"):
        drains.create(store, app, URL)
    assert drains.remove(store, app.id, URL).id == drain.id


def test_a_retired_key_second_in_the_key_file_still_finds_its_digests(tmp_path: Path) -> None:
    # (a backup restored after a rotation, or a rotation interrupted before it committed)
    old = Keyring.generate()
    store, app = new_store(tmp_path, old)
    drain = drains.create(store, app, URL)
    store.engine.dispose()
    store = Store(store.url, Keyring([Keyring.generate().keys[0], *old.keys]))
    assert drains.get(store, app.id, URL).id == drain.id
    with pytest.raises(InvalidParams, match="already been taken"):
        drains.create(store, app, URL)


def test_migration_fills_the_digest_of_existing_drains(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'cove.db'}", Keyring.generate())
    config = store._alembic()
    command.upgrade(config, "0010")
    with store.engine.begin() as conn:  # (raw SQL: the models have 0011's column)
        conn.execute(
            text(
                "INSERT INTO accounts (id, email, name, created_at, updated_at) VALUES "
                "('o1', 'owner@example.com', '', '2026-01-01', '2026-01-01')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO apps (id, name, owner_id, maintenance, config, buildpacks, "
                "restarts, created_at, updated_at) VALUES ('a1', 'vault', 'o1', 0, :c, '[]', "
                "'{}', '2026-01-01', '2026-01-01')"
            ),
            {"c": '"' + store.keyring.encrypt("{}") + '"'},
        )
        conn.execute(
            text(
                "INSERT INTO log_drains (id, app_id, url, token, created_at, updated_at) "
                "VALUES ('d1', 'a1', :u, 'd.1', '2026-01-01', '2026-01-01')"
            ),
            {"u": store.keyring.encrypt(URL)},
        )
    command.upgrade(config, "head")  # 0011 fills the digests; the models need the latest
    assert drains.get(store, "a1", URL).id == "d1"
    with store.session() as s:
        app = s.get(App, "a1")
        assert app is not None
    with pytest.raises(InvalidParams, match="already been taken"):
        drains.create(store, app, URL)
    command.downgrade(config, "0010")
    with store.engine.connect() as conn:
        columns = [r[1] for r in conn.execute(text("PRAGMA table_info(log_drains)"))]
    assert "url_digest" not in columns
