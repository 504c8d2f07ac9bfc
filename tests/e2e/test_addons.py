"""Add-ons backed by real PostgreSQL and Redis: the seeds' Flask + SQLAlchemy pattern with
`release: flask db upgrade`, a Redis-fed worker, backups, isolation and destruction."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.e2e.harness import CoveServer, User, running_server, wait_for


@pytest.fixture(scope="module")
def addon_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CoveServer]:
    with running_server(tmp_path_factory.mktemp("addons")) as srv:
        yield srv


@pytest.fixture(scope="module")
def dev(addon_server: CoveServer, tmp_path_factory: pytest.TempPathFactory) -> User:
    return User.logged_in(tmp_path_factory.mktemp("dev"), addon_server)


@pytest.fixture(scope="module")
def notes(dev: User, addon_server: CoveServer) -> Path:
    """The notes app, deployed with a Postgres and a Redis add-on (as the seeds do)."""
    repo = dev.new_repo("notes")
    dev.cove("apps:create", "notes", cwd=repo)
    created = dev.cove("addons:create", "heroku-postgresql", cwd=repo)
    assert "DATABASE_URL" in created.stdout
    dev.cove("addons:create", "heroku-redis:mini", cwd=repo)
    push = dev.push(repo)
    assert "Running upgrade  -> 0001" in push.stderr  # flask db upgrade in the release phase
    assert "Waiting for release.... done." in push.stderr
    return repo


def post(server: CoveServer, app: str, path: str, **form: str) -> httpx.Response:
    return httpx.post(
        server.router_url + path, data=form, headers={"Host": server.app_host(app)}, timeout=30
    )


def notes_text(server: CoveServer) -> str:
    return server.get("notes", "/notes").text


def test_data_survives_redeploy_rollback_and_server_restart(
    dev: User, addon_server: CoveServer, notes: Path
) -> None:
    config = addon_server.api("GET", "/apps/notes/config-vars").json()
    assert config["DATABASE_URL"].startswith("postgres://")
    assert config["REDIS_URL"].startswith("redis://")
    assert post(addon_server, "notes", "/notes", text="first note").status_code == 201
    assert notes_text(addon_server) == "first note\n"
    assert dev.cove("redis:cli", "-c", "SET kept-key kept-value", cwd=notes).stdout.strip() == "OK"
    before = addon_server.api("GET", "/apps/notes/releases").json()[-1]["version"]

    (notes / "worker.py").write_text((notes / "worker.py").read_text() + "\n# changed\n")
    dev.commit_all(notes, "redeploy")
    dev.push(notes)
    assert notes_text(addon_server) == "first note\n"

    dev.cove("releases:rollback", f"v{before}", cwd=notes)
    wait_for(
        lambda: addon_server.api("GET", "/apps/notes/releases").json()[-1]["current"],
        60,
        what="the rollback to go live",
    )
    assert notes_text(addon_server) == "first note\n"

    addon_server.stop()
    addon_server.start()
    wait_for(lambda: notes_text(addon_server) == "first note\n", 60, what="data after restart")
    got = dev.cove("redis:cli", "-a", "notes", "-c", "GET kept-key").stdout  # new port
    assert got.strip() == "kept-value"
    info = dev.cove("pg:info", "-a", "notes").stdout  # new port: the git remote is stale
    assert "DATABASE_URL" in info and "Tables:" in info
    assert re.search(r"PG Version: +\d+\.\d+", info), info  # the server's own (15 or 16)


def test_worker_reads_jobs_from_redis(dev: User, addon_server: CoveServer, notes: Path) -> None:
    dev.cove("ps:scale", "worker=1", "-a", "notes")
    job = post(addon_server, "notes", "/jobs", word="hello").text
    wait_for(
        lambda: addon_server.get("notes", f"/jobs/{job}").text == "HELLO",
        60,
        what="the worker to process the job",
    )
    assert "redis_version" in dev.cove("redis:info", "-a", "notes").stdout


def test_backup_reset_restore(dev: User, addon_server: CoveServer, notes: Path) -> None:
    post(addon_server, "notes", "/notes", text="backed up")
    expected = notes_text(addon_server)
    assert "backed up" in expected
    dev.cove("pg:backups:capture", "-a", "notes")
    assert "b001" in dev.cove("pg:backups", "-a", "notes").stdout

    dev.cove("pg:reset", "--confirm", "notes", "-a", "notes")
    assert addon_server.get("notes", "/notes").status_code == 500  # no table any more
    dev.cove("pg:backups:restore", "--confirm", "notes", "-a", "notes")
    # The app's pooled connections died with the reset; it reconnects on the next requests.
    wait_for(lambda: notes_text(addon_server) == expected, 30, what="the restored notes")

    dump = dev.home / "latest.dump"
    dev.cove("pg:backups:download", "-o", str(dump), "-a", "notes")
    assert dump.read_bytes()[:5] == b"PGDMP"  # a pg_dump custom-format archive


def test_databases_are_isolated_and_destroy_removes_data(
    dev: User, addon_server: CoveServer, notes: Path
) -> None:
    dev.cove("apps:create", "other")
    dev.cove("addons:create", "cove-postgresql", "-a", "other")
    mine = urlsplit(addon_server.api("GET", "/apps/notes/config-vars").json()["DATABASE_URL"])
    theirs_url = addon_server.api("GET", "/apps/other/config-vars").json()["DATABASE_URL"]
    theirs = urlsplit(theirs_url)
    crossed = (
        f"postgresql://{theirs.username}:{theirs.password}@{mine.hostname}:{mine.port}{mine.path}"
    )
    denied = subprocess.run(["psql", crossed, "-c", "select 1"], capture_output=True, text=True)
    assert denied.returncode != 0 and "permission denied" in denied.stderr

    dev.cove("pg:copy", "notes::DATABASE_URL", "DATABASE_URL", "--confirm", "other", "-a", "other")

    def notes_in(url: str) -> str:
        query = [
            "psql",
            url.replace("postgres://", "postgresql://", 1),
            "-tAc",
            "select string_agg(text, ',' order by id) from note",
        ]
        return subprocess.run(query, capture_output=True, text=True, check=True).stdout.strip()

    source = addon_server.api("GET", "/apps/notes/config-vars").json()["DATABASE_URL"]
    assert "first note" in notes_in(source)
    assert notes_in(theirs_url) == notes_in(source)

    refused = dev.cove(
        "addons:destroy", "DATABASE_URL", "-a", "other", "--confirm", "wrong", check=False
    )
    assert refused.returncode != 0
    name = addon_server.api("GET", "/apps/other/addons").json()[0]["name"]
    dev.cove("addons:destroy", name, "-a", "other", "--confirm", "other")
    assert "DATABASE_URL" not in addon_server.api("GET", "/apps/other/config-vars").json()
    gone = subprocess.run(
        ["psql", theirs_url.replace("postgres://", "postgresql://"), "-c", "select 1"],
        capture_output=True,
        text=True,
    )
    assert gone.returncode != 0
    releases = addon_server.api("GET", "/apps/other/releases").json()
    assert releases[-1]["description"].startswith("Detach DATABASE")


def test_bad_plans_and_missing_addons(dev: User, addon_server: CoveServer, notes: Path) -> None:
    bad = dev.cove("addons:create", "heroku-postgresql:gigantic", "-a", "notes", check=False)
    assert bad.returncode != 0 and "essential-0" in bad.stderr
    unknown = dev.cove("addons:create", "no-such-service", "-a", "notes", check=False)
    assert unknown.returncode != 0 and "heroku-postgresql" in unknown.stderr
    missing = dev.cove("addons:info", "postgresql-none-00000", "-a", "notes", check=False)
    assert missing.returncode != 0 and "Couldn't find" in missing.stderr
    response = addon_server.api("POST", "/apps/notes/addons", json={"plan": "heroku-redis:huge"})
    assert response.status_code == 422 and response.json()["id"] == "invalid_params"


def test_destroying_the_app_destroys_its_addons(dev: User, addon_server: CoveServer) -> None:
    dev.cove("apps:create", "doomed")
    dev.cove("addons:create", "heroku-redis", "-a", "doomed")
    url = addon_server.api("GET", "/apps/doomed/config-vars").json()["REDIS_URL"]
    port = str(urlsplit(url).port)
    alive = subprocess.run(["redis-cli", "-p", port, "ping"], capture_output=True, text=True)
    assert "NOAUTH" in alive.stdout + alive.stderr  # up, and wants its password
    dev.cove("apps:destroy", "-a", "doomed", "--confirm", "doomed")
    # Destroying is synchronous: the add-on and its server are already gone.
    assert all(a["app"]["name"] != "doomed" for a in addon_server.api("GET", "/addons").json())
    ping = subprocess.run(["redis-cli", "-p", port, "ping"], capture_output=True, text=True)
    assert ping.returncode != 0 or "Connection refused" in ping.stdout + ping.stderr


def test_second_database_attach_detach_psql_and_credentials(
    dev: User, addon_server: CoveServer, notes: Path
) -> None:
    dev.cove("apps:create", "second")
    dev.cove("addons:create", "heroku-postgresql", "-a", "second")
    out = dev.cove("addons:create", "heroku-postgresql:essential-1", "-a", "second").stdout
    color = re.search(r"HEROKU_POSTGRESQL_([A-Z]+)_URL", out)
    assert color, out
    config = addon_server.api("GET", "/apps/second/config-vars").json()
    assert config["DATABASE_URL"] != config[f"HEROKU_POSTGRESQL_{color.group(1)}_URL"]

    psql = dev.cove("pg:psql", "-a", "second", "-c", "select 40 + 2 as answer")
    assert "42" in psql.stdout
    creds = dev.cove("pg:credentials", "-a", "second").stdout
    assert config["DATABASE_URL"].split("@")[0].split(":")[-1] in creds  # the password

    # The redis add-on of notes, attached to "second" too (the cove-redis alias works too).
    redis_name = next(
        a["name"]
        for a in addon_server.api("GET", "/apps/notes/addons").json()
        if a["addon_service"]["name"] == "heroku-redis"
    )
    dev.cove("addons:attach", redis_name, "-a", "second", "--as", "CACHE")
    shared = addon_server.api("GET", "/apps/second/config-vars").json()["CACHE_URL"]
    assert shared == addon_server.api("GET", "/apps/notes/config-vars").json()["REDIS_URL"]
    dev.cove("addons:detach", "CACHE", "-a", "second")
    assert "CACHE_URL" not in addon_server.api("GET", "/apps/second/config-vars").json()
    alias = dev.cove("addons:create", "cove-redis", "-a", "second")
    assert "REDIS_URL" in alias.stdout
