"""The store on PostgreSQL (COVE_DATABASE_URL=postgresql://...): the URL forms, events that
become visible in id order whatever the commit order, and watchers in other processes woken
by NOTIFY rather than a timer."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
from sqlalchemy import event, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from cove.ports import free_port
from cove.secrets_key import store_check
from cove.services import apps, config
from cove.store import Release, Store
from cove.store import db as store_db
from cove.store.db import engine_url
from tests.unit.accounts import add_account
from tests.unit.conftest import postgres_store


@pytest.fixture
def pg(postgres_template: str) -> Iterator[Store]:
    yield from postgres_store(postgres_template)


def _wait(condition: object, what: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgres://u:p@db:5432/cove", "postgresql+psycopg://u:p@db:5432/cove"),
        ("postgresql://u@db/cove", "postgresql+psycopg://u@db/cove"),
        ("postgresql+psycopg://u@db/cove", "postgresql+psycopg://u@db/cove"),
        ("sqlite:////var/lib/cove/cove.db", "sqlite:////var/lib/cove/cove.db"),
    ],
)
def test_store_urls_as_heroku_and_libpq_write_them(url: str, expected: str) -> None:
    assert engine_url(url) == expected


def test_events_become_visible_in_id_order_whatever_the_commit_order(pg: Store) -> None:
    """A writer whose event got id N and is still committing holds back a later writer's
    event N+1: a reader that has seen N+1 must never find N afterwards."""
    inserted, release = threading.Event(), threading.Event()

    def hold_after_flush(session: Session, _context: object) -> None:
        if session.info.get("hold"):
            inserted.set()
            release.wait(10)

    event.listen(Session, "after_flush", hold_after_flush)
    try:

        def slow_writer() -> None:
            with pg.session() as s:
                s.info["hold"] = True
                pg.emit(s, "first", None)

        def fast_writer() -> None:
            with pg.session() as s:
                pg.emit(s, "second", None)

        slow = threading.Thread(target=slow_writer)
        slow.start()
        assert inserted.wait(10)
        fast = threading.Thread(target=fast_writer)
        fast.start()
        with psycopg.connect(pg.url) as conn:  # the fast writer waits on the events lock
            _wait(
                lambda: (
                    conn.execute(
                        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
                    ).fetchone()
                    == (1,)
                ),
                "the second writer to wait for the events lock",
            )
        assert pg.events_after(0) == []  # nothing out of order is visible meanwhile
        release.set()
        slow.join(10)
        fast.join(10)
        assert [e.kind for e in pg.events_after(0)] == ["first", "second"]
    finally:
        release.set()
        event.remove(Session, "after_flush", hold_after_flush)


def test_another_processs_commit_wakes_watchers_by_notify(
    pg: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two Store objects stand for two `cove server` processes: the watcher's own process
    never commits, and its timer is an hour, so only a NOTIFY can wake it."""
    monkeypatch.setattr(store_db, "WATCH_FALLBACK_SECONDS", 3600.0)
    other = Store(pg.url)
    try:

        async def scenario() -> list[str]:
            seen: list[str] = []

            async def watch() -> None:
                async for ev in pg.watch(0):
                    seen.append(ev.kind)
                    if ev.kind == "app.created":
                        return

            watcher = asyncio.create_task(watch())
            await asyncio.sleep(0)  # (let the watcher read the empty log and wait)
            for _ in range(200):  # until its listener is connected
                listening = await asyncio.to_thread(_listeners, pg.url)
                if listening:
                    break
                await asyncio.sleep(0.02)
            with other.session() as s:
                other.emit(s, "app.created", None, name="elsewhere")
            await asyncio.wait_for(watcher, 10)
            return seen

        assert asyncio.run(scenario()) == ["app.created"]
    finally:
        other.close()


def _listeners(url: str) -> bool:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'LISTEN %'"
        ).fetchone()
    return bool(row and row[0])


def test_a_new_store_on_postgresql_has_no_key_check(postgres_template: str) -> None:
    """Before its first migration a PostgreSQL store has no tables: a new store, which gets
    a new secrets key (not an error)."""
    admin = postgres_template
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute("CREATE DATABASE cove_empty")
    store = Store(admin.rsplit("/", 1)[0] + "/cove_empty")
    try:
        assert store_check(store) is None
    finally:
        store.close()
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute("DROP DATABASE cove_empty WITH (FORCE)")


def test_servers_starting_together_migrate_a_new_store_in_turn(postgres_template: str) -> None:
    """Servers of several roles may start at once on a new store: one migrates, the others
    wait and find it done (without the lock, two would create the same tables)."""
    admin = postgres_template
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute("CREATE DATABASE cove_together")
    stores = [Store(admin.rsplit("/", 1)[0] + "/cove_together") for _ in range(4)]
    try:
        with ThreadPoolExecutor(len(stores)) as pool:
            for done in [pool.submit(store.migrate) for store in stores]:
                done.result(timeout=120)  # (without the lock: a deadlock)
        current, head = stores[0].migration_state()
        assert current == head
    finally:
        for store in stores:
            store.close()
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute("DROP DATABASE cove_together WITH (FORCE)")


def test_an_unreachable_postgresql_is_an_error_not_a_new_store() -> None:
    store = Store(f"postgresql://cove:secret-password@127.0.0.1:{free_port()}/cove")
    try:
        with pytest.raises(OperationalError) as caught:
            store_check(store)
        assert "secret-password" not in str(caught.value.orig)
    finally:
        store.close()


def test_concurrent_changes_to_one_app_are_neither_lost_nor_numbered_twice(pg: Store) -> None:
    """Config vars set at once from many threads (as from several API processes): every
    change is kept and each makes its own release version."""
    owner = add_account(pg, "owner@example.com")
    app = apps.create(pg, owner, "busy-app")
    keys = [f"KEY_{i}" for i in range(16)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda k: config.update(pg, "busy-app", {k: "1"}, owner), keys))
    assert set(keys) <= set(apps.get(pg, "busy-app").config)
    with pg.session() as s:
        versions = sorted(s.scalars(select(Release.version).where(Release.app_id == app.id)))
    assert versions == list(range(1, len(keys) + 2))
