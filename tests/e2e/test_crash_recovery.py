"""`kill -9` of `cove server` at the worst moments, then a restart: add-ons exist fully or
not at all (nothing orphaned on PostgreSQL or on disk), the deploy branch names the live
release's commit, and no build directory or unreleased slug is left behind.

The moments are hit with the test-only ``COVE_TEST_PAUSE`` (cove.testpoints): the server
stops at a named point and says so with a file, and the test kills it there."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from cove.addons.postgres import find_bin_dir
from tests.e2e.harness import CoveServer, User, server_env, wait_for


@pytest.fixture
def server(tmp_path: Path) -> Iterator[CoveServer]:
    home = tmp_path / "cove-home"
    srv = CoveServer(home, tmp_path / "server.log", server_env(home))
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


def kill_at(server: CoveServer, point: str, action: subprocess.Popen[str]) -> None:
    """Wait until the server is paused at ``point`` (reached by ``action``, a CLI or git
    command running in the background), SIGKILL it there, and let ``action`` fail."""
    marker = server.home / f"paused-{point}"
    wait_for(marker.exists, 300, what=f"the server to reach {point}")
    server.stop(signal.SIGKILL)
    action.communicate(timeout=60)
    assert action.returncode != 0
    marker.unlink()


def restart(server: CoveServer, pause: str | None = None) -> None:
    server.env.pop("COVE_TEST_PAUSE", None)
    if pause:
        server.env["COVE_TEST_PAUSE"] = pause
    server.stop()
    server.start()


def background(user: User, *args: str, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        args, cwd=cwd, env=user.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def cove_cli(*args: str) -> tuple[str, ...]:
    return (sys.executable, "-m", "cove.cli.main", *args)


def psql(server: CoveServer, query: str) -> list[str]:
    """A query on Cove's PostgreSQL cluster, as its admin (password in the environment)."""
    root = server.home / "addons" / "postgres"
    port = (root / "port").read_text().strip()
    connect = ["-h", "127.0.0.1", "-p", port, "-U", "cove_admin", "-d", "postgres"]
    result = subprocess.run(
        [str(find_bin_dir() / "psql"), "-XAt", *connect, "-c", query],
        env={**os.environ, "PGPASSWORD": (root / "admin-password").read_text().strip()},
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.split()


def cove_databases(server: CoveServer) -> list[str]:
    return psql(server, "SELECT datname FROM pg_database WHERE NOT datistemplate ORDER BY 1")


def cove_roles(server: CoveServer) -> list[str]:
    return psql(server, "SELECT rolname FROM pg_roles WHERE rolname !~ '^pg_' ORDER BY 1")


def redis_dirs(server: CoveServer) -> list[str]:
    root = server.home / "addons" / "redis"
    return sorted(p.name for p in root.iterdir()) if root.is_dir() else []


def test_kill_during_addons_create_leaves_nothing_half_made(
    server: CoveServer, tmp_path: Path
) -> None:
    user = User.logged_in(tmp_path / "dev", server)
    repo = user.new_repo("crashy", "addy")
    user.cove("apps:create", "addy", cwd=repo)
    user.cove("addons:create", "heroku-postgresql", "--name", "kept-db", cwd=repo)
    databases, roles = cove_databases(server), cove_roles(server)
    assert len(databases) == 2 and len(roles) == 2  # postgres + kept-db's; cove_admin + its

    for service, orphan in (
        ("heroku-postgresql", lambda: len(cove_databases(server)) == 3),
        ("heroku-redis", lambda: len(redis_dirs(server)) == 1),
    ):
        restart(server, pause="addon-provisioned")
        create = background(user, *cove_cli("addons:create", service, "-a", "addy"), cwd=repo)
        wait_for(lambda: (server.home / "paused-addon-provisioned").exists(), 120)
        assert orphan()  # the database and role (the Redis data) exist, the add-on isn't done
        kill_at(server, "addon-provisioned", create)

    restart(server)
    assert cove_databases(server) == databases
    assert cove_roles(server) == roles
    assert redis_dirs(server) == []
    addons = server.api("GET", "/apps/addy/addons").json()
    assert [a["name"] for a in addons] == ["kept-db"]
    config = server.api("GET", "/apps/addy/config-vars").json()
    assert sorted(config) == ["DATABASE_URL"]

    # The next addons:create works, fully.
    user.cove("addons:create", "heroku-redis", "-a", "addy", cwd=repo)
    assert "REDIS_URL" in server.api("GET", "/apps/addy/config-vars").json()
    assert len(redis_dirs(server)) == 1


def git_ref(user: User, repo: Path, ref: str = "main") -> str:
    out = user.git("ls-remote", "cove", f"refs/heads/{ref}", cwd=repo).stdout.split()
    return out[0] if out else ""


def follow_new_port(user: User, server: CoveServer, repo: Path, app: str) -> None:
    """The API's port is picked at each start: point the git remote at it again (as a user
    would: `cove git:remote` also tells git to trust Cove's CA for the new address)."""
    user.cove("git:remote", "-a", app, cwd=repo)
    assert git_url(user, repo) == f"{server.api_url}/{app}.git"


def git_url(user: User, repo: Path) -> str:
    return user.git("remote", "get-url", "cove", cwd=repo).stdout.strip()


def leftovers(server: CoveServer) -> list[Path]:
    home = server.home
    return [
        *(p for p in (home / "builds").iterdir() if p.is_dir()),
        *(p for p in (home / "slugs").iterdir() if p.name.startswith(".")),
        *(home / "sources").iterdir(),
    ]


def test_kill_during_the_dyno_swap_keeps_the_deploy_branch_on_the_live_commit(
    server: CoveServer, tmp_path: Path
) -> None:
    user = User.logged_in(tmp_path / "dev", server)
    repo = user.new_repo("crashy", "swapper")
    user.cove("apps:create", "swapper", cwd=repo)
    user.push(repo)
    first = user.git("rev-parse", "HEAD", cwd=repo).stdout.strip()

    # A rewritten commit, force-pushed: its release goes live, then the server dies while
    # the push waits for the new dyno (git has not moved main yet).
    (repo / "VERSION").write_text("2\n")
    user.git("add", "VERSION", cwd=repo)
    user.git("commit", "-q", "--amend", "-m", "Second version", cwd=repo)
    second = user.git("rev-parse", "HEAD", cwd=repo).stdout.strip()
    restart(server, pause="release-created")
    follow_new_port(user, server, repo, "swapper")
    push = background(user, "git", "push", "-f", "cove", "main", cwd=repo)
    kill_at(server, "release-created", push)

    restart(server)
    follow_new_port(user, server, repo, "swapper")
    live = server.api("GET", "/apps/swapper/releases").json()[-1]
    assert live["description"] == f"Deploy {second[:8]}"
    assert git_ref(user, repo) == second != first
    assert leftovers(server) == []

    # The next push builds on the live commit: a plain (fast-forward) push is accepted.
    (repo / "VERSION").write_text("3\n")
    user.commit_all(repo, "Third version")
    third = user.git("rev-parse", "HEAD", cwd=repo).stdout.strip()
    pushed = user.push(repo)
    assert "Verifying deploy... done." in pushed.stderr
    assert git_ref(user, repo) == third
    live = server.api("GET", "/apps/swapper/releases").json()[-1]
    assert live["description"] == f"Deploy {third[:8]}"


def test_kill_after_the_slug_is_written_leaves_no_build_or_slug_behind(
    server: CoveServer, tmp_path: Path
) -> None:
    user = User.logged_in(tmp_path / "dev", server)
    repo = user.new_repo("crashy", "sluggish")
    user.cove("apps:create", "sluggish", cwd=repo)
    restart(server, pause="slug-written")
    follow_new_port(user, server, repo, "sluggish")
    push = background(user, "git", "push", "cove", "main", cwd=repo)
    marker = server.home / "paused-slug-written"
    wait_for(marker.exists, 300, what="the slug to be written")
    slugs = sorted(p.name for p in (server.home / "slugs").iterdir())
    assert slugs and (server.home / "builds").iterdir()
    kill_at(server, "slug-written", push)

    restart(server)
    assert leftovers(server) == []
    assert list((server.home / "slugs").iterdir()) == []  # written, never released
    with sqlite3.connect(server.home / "cove.db") as db:  # no API lists builds
        builds = db.execute("SELECT status, failure_message FROM builds").fetchall()
    assert builds == [
        ("failed", "The build was interrupted: cove server stopped while it ran. Push again.")
    ]
    # The app deploys normally afterwards.
    follow_new_port(user, server, repo, "sluggish")
    assert "Verifying deploy... done." in user.push(repo).stderr
