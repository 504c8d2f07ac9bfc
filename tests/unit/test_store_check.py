"""The store file's checks and backups, COVE_HOME's lock, and `cove server --check`'s
findings on homes built by hand."""

from __future__ import annotations

import asyncio
import io
import logging
import os
import sqlite3
import subprocess
import sys
import threading
from contextlib import closing
from pathlib import Path

import pytest
from sqlalchemy.exc import DatabaseError, OperationalError

from cove.home_check import check_home, report
from cove.home_lock import HomeInUse, HomeLock, holder
from cove.secrets_key import open_keyring
from cove.server import store_failure
from cove.settings import Settings
from cove.store import Store
from cove.store.backups import StoreBackups, recovery_steps, restore, taken_at
from cove.store.db import MIGRATIONS, SchemaTooNew, revisions
from cove.store.sqlite import StoreDamaged, copy, sqlite_file, verify


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """A store-like WAL database, closed (so all of it is in the main file)."""
    path = tmp_path / "cove.db"
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE apps (name TEXT)")
        conn.executemany("INSERT INTO apps VALUES (?)", [(f"app-{i}",) for i in range(2000)])
        conn.commit()
    return path


def count(path: Path) -> int:
    with closing(sqlite3.connect(path)) as conn:
        return int(conn.execute("SELECT count(*) FROM apps").fetchone()[0])


def test_sqlite_file_of_urls() -> None:
    assert sqlite_file("sqlite:////srv/cove/cove.db") == Path("/srv/cove/cove.db")
    assert sqlite_file("sqlite://") is None
    assert sqlite_file("postgresql://cove:secret@db/cove") is None


def test_verify_finds_truncated_overwritten_and_emptied_files(db: Path) -> None:
    verify(db, thorough=True)
    good = db.read_bytes()
    db.write_bytes(good[: len(good) // 3])
    with pytest.raises(StoreDamaged, match="malformed"):
        verify(db)
    db.write_bytes(b"\x00garbage" * 100 + good[800:])
    with pytest.raises(StoreDamaged, match="not a database"):
        verify(db)
    db.write_bytes(b"")
    verify(db)  # a new store, as far as SQLite can tell
    with pytest.raises(StoreDamaged, match="empty"):
        verify(db, expect_data=True)


def test_copy_is_consistent_private_and_self_contained(db: Path, tmp_path: Path) -> None:
    stop = threading.Event()

    def write() -> None:  # a writer busy during the copy, as the server would be
        with closing(sqlite3.connect(db)) as conn:
            while not stop.is_set():
                conn.execute("INSERT INTO apps VALUES ('more')")
                conn.commit()

    writer = threading.Thread(target=write)
    writer.start()
    try:
        copy(db, tmp_path / "backup.db")
    finally:
        stop.set()
        writer.join()
    backup = tmp_path / "backup.db"
    verify(backup, thorough=True)
    assert count(backup) >= 2000
    assert backup.stat().st_mode & 0o777 == 0o600
    assert not backup.with_name("backup.db-wal").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_copy_of_a_damaged_store_leaves_nothing(db: Path, tmp_path: Path) -> None:
    db.write_bytes(db.read_bytes()[:5000])
    with pytest.raises(StoreDamaged) as damaged:
        copy(db, tmp_path / "backup.db")
    assert damaged.value.path == db
    assert not (tmp_path / "backup.db").exists()
    assert not (tmp_path / ".backup.db.tmp").exists()


def test_backups_keep_the_newest(db: Path, tmp_path: Path) -> None:
    backups = StoreBackups(tmp_path / "backups", keep=3)
    own = tmp_path / "backups" / "operator-notes.db"
    taken = [backups.take(db) for _ in range(5)]
    own.write_text("not Cove's")
    assert backups.newest_first() == taken[:1:-1]
    assert own.exists()  # only cove-<time>.db files are pruned
    assert (tmp_path / "backups").stat().st_mode & 0o777 == 0o700
    assert taken_at(taken[-1]).endswith(" UTC")


def test_backups_while_running_stay_bounded(
    db: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    backups = StoreBackups(tmp_path / "backups", keep=2)
    caplog.set_level(logging.INFO, "cove.store")

    def taken() -> int:
        return sum("Store backed up" in r.getMessage() for r in caplog.records)

    async def scenario() -> None:
        task = asyncio.create_task(backups.run(db, 0.01))
        deadline = asyncio.get_running_loop().time() + 30
        while taken() < 4:
            assert asyncio.get_running_loop().time() < deadline, "no periodic backups"
            await asyncio.sleep(0.01)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(scenario())
    assert len(backups.newest_first()) == 2
    assert all(count(b) == 2000 for b in backups.newest_first())


def test_restore_moves_the_damaged_store_aside(db: Path, tmp_path: Path) -> None:
    backup = StoreBackups(tmp_path / "backups", keep=3).take(db)
    db.write_bytes(db.read_bytes()[:5000])
    aside = restore(db, backup)
    assert count(db) == 2000
    assert (aside / "cove.db").stat().st_size == 5000


def test_restore_refuses_a_damaged_backup(db: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.db"
    bad.write_bytes(db.read_bytes()[:5000])
    with pytest.raises(StoreDamaged):
        restore(db, bad)
    assert count(db) == 2000


def test_recovery_steps_name_the_backups_or_the_salvage(db: Path, tmp_path: Path) -> None:
    backups = StoreBackups(tmp_path / "backups", keep=3)
    damage = StoreDamaged(db, "database disk image is malformed")
    steps = recovery_steps(damage, backups)
    assert "There are no backups" in steps and ".recover" in steps
    newest = backups.take(db)
    steps = recovery_steps(damage, backups)
    assert f"Backups of the store are in {tmp_path / 'backups'}" in steps
    assert f"cove server --restore {newest}" in steps


def test_home_lock_is_exclusive_and_names_its_holder(tmp_path: Path) -> None:
    home = tmp_path / "home"
    lock = HomeLock.acquire(home)
    try:
        assert holder(home) is not None
        with pytest.raises(HomeInUse) as refused:
            HomeLock.acquire(home)  # another open file: flock refuses, even in-process
        assert refused.value.pid == int((home / "server.lock").read_text())
        assert f"(pid {refused.value.pid})" in str(refused.value)
    finally:
        lock.release()
    assert holder(home) is None
    # A lock file left by a dead server (any content) doesn't block.
    (home / "server.lock").write_text("999999999\n")
    HomeLock.acquire(home).release()


def test_schema_from_a_newer_cove_is_refused(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'cove.db'}")
    store.migrate()
    with store.session() as s:
        s.connection().exec_driver_sql("UPDATE alembic_version SET version_num = '9999'")
    with pytest.raises(SchemaTooNew, match="9999"):
        store.migrate()


def test_migration_files_are_named_after_their_revisions_in_order() -> None:
    """What lets a server see its store is up to date without loading Alembic."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    script = ScriptDirectory.from_config(config)
    chain = [(r.revision, r.down_revision, Path(r.path).name) for r in script.walk_revisions()]
    chain.reverse()  # (oldest first)
    known = revisions()
    assert [revision for revision, _, _ in chain] == known
    assert script.get_current_head() == known[-1]
    for i, (revision, down, file) in enumerate(chain):
        assert file.startswith(f"{revision}_")
        assert down == (known[i - 1] if i else None)


def test_a_store_at_the_latest_revision_starts_without_alembic(tmp_path: Path) -> None:
    """A server's usual start: `import cove.server`, the schema check, nothing to migrate.
    Alembic (and mako, pygments) stay unloaded, like the ACME client and httpx's own CLI."""
    url = f"sqlite:///{tmp_path / 'cove.db'}"
    Store(url).migrate()
    source = (
        "import sys; from cove.store import Store; import cove.server; "
        f"s = Store({url!r}); s.migrate(); state = s.migration_state(); "
        "print(state[0] == state[1]); "
        "print(sorted(m for m in ('alembic', 'mako', 'pygments', 'acme', 'httpx._main') "
        "if sys.modules.get(m)))"
    )
    done = subprocess.run([sys.executable, "-c", source], capture_output=True, text=True)
    assert done.stdout.splitlines() == ["True", "[]"], done.stderr


def home_settings(home: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """A COVE_HOME laid out as `cove server` lays it out (it runs with umask 077)."""
    monkeypatch.delenv("COVE_DATABASE_URL", raising=False)
    settings = Settings(home=home)
    umask = os.umask(0o077)
    try:
        settings.ensure_dirs()
    finally:
        os.umask(umask)
    return settings


def test_check_on_a_healthy_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = home_settings(tmp_path / "home", monkeypatch)
    store = Store(settings.db_url, open_keyring(settings, create=True))
    store.migrate()
    store.engine.dispose()
    (settings.home / "admin-token").write_text("token\n")
    (settings.home / "admin-token").chmod(0o600)
    (settings.home / "cove.db").chmod(0o600)
    out = io.StringIO()
    assert report(check_home(settings), out), out.getvalue()
    assert "integrity check passed" in out.getvalue()
    assert "No store backups" in out.getvalue()  # a warning, not a failure


def test_check_finds_exposed_secrets_and_a_missing_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = home_settings(tmp_path / "home", monkeypatch)
    (settings.home / "admin-token").write_text("token\n")
    (settings.home / "admin-token").chmod(0o644)
    settings.home.chmod(0o777)
    out = io.StringIO()
    assert not report(check_home(settings), out)
    text = out.getvalue()
    assert "admin-token holds secrets but other users can read it" in text
    assert "is writable by other users" in text
    assert "is missing, but this COVE_HOME has been used" in text
    assert text.endswith("3 problems found.\n")


def test_store_failure_after_start_tells_damage_from_a_locked_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = home_settings(tmp_path / "home", monkeypatch)
    damaged = DatabaseError(
        "SELECT 1", {}, sqlite3.DatabaseError("database disk image is malformed")
    )
    message = store_failure(damaged, settings)
    assert message.startswith(f"the store {settings.home / 'cove.db'} is damaged: database disk")
    assert "SELECT" not in message and "cove server --restore" in message
    locked = OperationalError("SELECT 1", {}, sqlite3.OperationalError("database is locked"))
    assert store_failure(locked, settings) == "the store could not be used: database is locked"
