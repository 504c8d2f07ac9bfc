"""Bad days for the operator: a second server on the same COVE_HOME, a damaged store
(backups, `cove server --check`, `--backup`, `--restore`), and an app pushed without any
web process."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

from cove.builder.slug import SUFFIX as SLUG_SUFFIX
from tests.e2e.harness import CoveServer, User, running_server, wait_for
from tests.e2e.test_buildpacks import static_site, write_buildpack

# A generous bound: a refused start checks the lock and the store, nothing else.
REFUSAL_TIMEOUT = 120


def cove_server(server: CoveServer, *args: str) -> subprocess.CompletedProcess[str]:
    """`cove server ARGS` run by the operator on the server's COVE_HOME."""
    return subprocess.run(
        [sys.executable, "-m", "cove.cli.main", "server", *args],
        env=server.env,
        capture_output=True,
        text=True,
        timeout=REFUSAL_TIMEOUT,
    )


def start_refused(server: CoveServer) -> subprocess.CompletedProcess[str]:
    """Start another `cove server` on the same COVE_HOME; it must give up by itself."""
    result = subprocess.run(
        server.command,
        env=server.env,
        capture_output=True,
        text=True,
        timeout=REFUSAL_TIMEOUT,
    )
    assert result.returncode != 0, result
    assert "Traceback" not in result.stderr + result.stdout
    return result


def dynos(server: CoveServer, app: str) -> list[tuple[str, str]]:
    return sorted((d["id"], d["state"]) for d in server.api("GET", f"/apps/{app}/dynos").json())


def deploy_web_app(user: User, server: CoveServer, app: str) -> Path:
    repo = user.new_repo("crashy", app)
    user.cove("apps:create", app, cwd=repo)
    user.cove("config:set", f"TEXT=hello from {app}", cwd=repo)
    user.push(repo)
    wait_for(lambda: server.get(app).status_code == 200, 60, what=f"{app} to serve")
    return repo


def apps_in(db: Path) -> set[str]:
    with closing(sqlite3.connect(db)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        return {name for (name,) in conn.execute("SELECT name FROM apps")}


# -- one server per COVE_HOME ------------------------------------------------------------
def test_second_server_on_the_same_home_is_refused(tmp_path: Path) -> None:
    with running_server(tmp_path) as first:
        user = User.logged_in(tmp_path / "dev", first)
        deploy_web_app(user, first, "only-once")
        before = dynos(first, "only-once")
        assert first.proc is not None
        first_pid = first.proc.pid

        second = start_refused(first)
        assert f"another cove server (pid {first_pid}) is already running" in second.stderr
        assert str(first.home) in second.stderr

        # The first server noticed nothing: same dynos, still serving (not H10), still
        # the one announced in server.json.
        assert first.get("only-once").status_code == 200
        assert first.get("only-once").text == "hello from only-once"
        assert dynos(first, "only-once") == before
        assert f'"pid": {first_pid}' in (first.home / "server.json").read_text()

        # A server killed outright leaves its lock file behind; it doesn't block the next.
        first.stop(signal.SIGKILL)
        assert (first.home / "server.lock").read_text().strip() == str(first_pid)
        first.start()
        assert first.proc is not None
        assert (first.home / "server.lock").read_text().strip() == str(first.proc.pid)
        wait_for(lambda: first.get("only-once").status_code == 200, 60, what="app back up")


# -- a damaged store -----------------------------------------------------------------------
def truncate(db: Path) -> None:
    with db.open("r+b") as f:
        f.truncate(db.stat().st_size // 3)


def scribble(db: Path) -> None:
    with db.open("r+b") as f:
        f.write(os.urandom(512))


def empty(db: Path) -> None:
    db.write_bytes(b"")


DAMAGE: dict[str, tuple[Callable[[Path], None], str]] = {
    # SQLite says "database disk image is malformed" or "malformed database schema (...)",
    # depending on which pages the cut fell in.
    "truncated": (truncate, "malformed"),
    "overwritten": (scribble, "file is not a database"),
    "emptied": (empty, "the file is empty"),
}


def test_damaged_store_backups_check_and_restore(tmp_path: Path) -> None:
    with running_server(tmp_path) as server:
        home = server.home
        db = home / "cove.db"
        user = User.logged_in(tmp_path / "dev", server)
        deploy_web_app(user, server, "keeper")

        # A backup taken while the server runs is a whole, valid store with the app in it.
        manual = tmp_path / "manual-backup.db"
        taken = cove_server(server, "--backup", str(manual))
        assert taken.returncode == 0, taken
        assert apps_in(manual) == {"keeper"}
        assert manual.stat().st_mode & 0o077 == 0  # it holds config vars

        healthy = cove_server(server, "--check")
        assert healthy.returncode == 0, healthy
        assert "No problems found." in healthy.stdout
        assert "integrity check passed" in healthy.stdout
        assert "A cove server is running here" in healthy.stdout

        # Every start backs the store up into COVE_HOME/backups.
        server.stop()
        server.start()
        backups = sorted((home / "backups").glob("cove-*.db"))
        assert len(backups) == 1 and apps_in(backups[0]) == {"keeper"}
        server.stop()

        good = db.read_bytes()
        for name, (damage, reason) in DAMAGE.items():
            db.write_bytes(good)
            damage(db)
            refused = start_refused(server)
            message = refused.stderr
            assert f"the store {db} is damaged: " in message and reason in message, name
            assert f"Backups of the store are in {home / 'backups'}" in message, name
            assert f"cove server --restore {backups[0]}" in message, name
            assert not (home / "server.json").exists()

            check = cove_server(server, "--check")
            assert check.returncode == 1, (name, check)
            assert f"FAIL  {db} is damaged: " in check.stdout and reason in check.stdout, name
            assert "Traceback" not in check.stdout + check.stderr
        # A store written by a newer Cove is refused too, before any backup or migration.
        db.write_bytes(good)
        with closing(sqlite3.connect(db)) as conn:
            conn.execute("UPDATE alembic_version SET version_num = '9999'")
            conn.commit()
        refused = start_refused(server)
        assert "schema is at revision 9999" in refused.stderr
        assert "written by a newer Cove" in refused.stderr
        # Refused starts took no backups: the good one is still the newest.
        assert sorted((home / "backups").glob("cove-*.db")) == backups

        restored = cove_server(server, "--restore", str(backups[0]))
        assert restored.returncode == 0, restored
        assert cove_server(server, "--check").returncode == 0
        server.start()
        wait_for(lambda: server.get("keeper").status_code == 200, 60, what="keeper back up")
        assert server.get("keeper").text == "hello from keeper"

        # --check also finds releases whose slug is gone from disk.
        # (The archive: the slugs directory also holds unpacked trees and their layer
        # manifests, which a release doesn't need.)
        slug = next((home / "slugs").glob(f"*{SLUG_SUFFIX}"))
        slug.rename(tmp_path / slug.name)
        try:
            check = cove_server(server, "--check")
            assert check.returncode == 1
            assert "releases use a slug that is missing" in check.stdout
            assert "keeper v3" in check.stdout  # v1 created, v2 config, v3 deploy
        finally:
            (tmp_path / slug.name).rename(slug)


def test_restore_refused_while_the_server_runs(tmp_path: Path) -> None:
    with running_server(tmp_path) as server:
        backup = tmp_path / "backup.db"
        assert cove_server(server, "--backup", str(backup)).returncode == 0
        refused = cove_server(server, "--restore", str(backup))
        assert refused.returncode == 1
        assert "Not restored: another cove server" in refused.stderr
        assert "Stop it first." in refused.stderr


# -- an app without a web process -----------------------------------------------------------
def test_push_without_procfile_warns_how_to_add_a_web_process(
    user: User, server: CoveServer, tmp_path: Path
) -> None:
    repo = user.new_repo("no-procfile")
    user.cove("apps:create", "no-web-yet", cwd=repo)
    push = user.push(repo)
    assert "remote:  !     Warning: No web process type is defined" in push.stderr
    assert "remote:  !     This app has no Procfile, and the buildpack gives no default" in (
        push.stderr
    )
    assert "remote:  !         web: gunicorn app:app" in push.stderr
    assert server.get("no-web-yet").status_code == 503  # H14

    # Following the advice fixes it, and the warning goes away.
    (repo / "Procfile").write_text("web: python web.py\n")
    user.commit_all(repo, "Declare the web process")
    push = user.push(repo)
    assert "No web process type is defined" not in push.stderr
    wait_for(lambda: server.get("no-web-yet").status_code == 200, 60, what="web process")

    # A buildpack's default web process is enough: no Procfile, no warning.
    static = static_site(user, "default-web", write_buildpack(tmp_path))
    push = user.push(static)
    assert "Default types for buildpack -> web" in push.stderr
    assert "No web process type is defined" not in push.stderr
