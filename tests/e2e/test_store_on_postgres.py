"""`cove server` with its store on PostgreSQL (COVE_DATABASE_URL): deploys, config vars,
releases and rollback, formation, a crash of the server that loses nothing, and the store's
password never printed."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.e2e.harness import CoveServer, User, running_server, wait_for
from tests.postgres_server import postgres_server

PASSWORD = "store-password-never-shown"


@pytest.fixture(scope="module")
def store_url() -> Iterator[str]:
    """An empty database ``cove`` owned by role ``cove``, on a server of the test's own."""
    with postgres_server() as admin:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"CREATE ROLE cove LOGIN PASSWORD '{PASSWORD}'")
            conn.execute("CREATE DATABASE cove OWNER cove")
        host = admin.split("@", 1)[1].rsplit("/", 1)[0]
        yield f"postgres://cove:{PASSWORD}@{host}/cove"


def up_dynos(server: CoveServer, app: str) -> int:
    return sum(d["state"] == "up" for d in server.api("GET", f"/apps/{app}/dynos").json())


def test_a_server_on_a_postgresql_store_deploys_and_survives_a_crash(
    store_url: str, tmp_path: Path
) -> None:
    with running_server(tmp_path, COVE_DATABASE_URL=store_url) as server:
        assert not (server.home / "cove.db").exists()  # no SQLite store beside it
        user = User.logged_in(tmp_path / "dev", server)
        repo = user.new_repo("config-example")
        user.cove("apps:create", "pg-backed", cwd=repo)
        user.push(repo)
        user.cove("config:set", "SECRET_KEY=first", cwd=repo)
        user.cove("config:set", "SECRET_KEY=second", cwd=repo)
        wait_for(lambda: server.get("pg-backed").text.endswith(" second."), 60, what="v4")
        user.cove("rollback", "v3", cwd=repo)
        wait_for(lambda: server.get("pg-backed").text.endswith(" first."), 60, what="rollback")
        user.cove("ps:scale", "web=2", cwd=repo)
        wait_for(lambda: up_dynos(server, "pg-backed") == 2, 60, what="two web dynos")
        releases = server.api("GET", "/apps/pg-backed/releases").json()
        assert [r["version"] for r in releases] == [1, 2, 3, 4, 5]

        server.stop(signal.SIGKILL)
        server.start()
        assert server.api("GET", "/apps/pg-backed/releases").json() == releases
        config = server.api("GET", "/apps/pg-backed/config-vars").json()
        assert config == {"SECRET_KEY": "first"}
        wait_for(lambda: up_dynos(server, "pg-backed") == 2, 60, what="formation after restart")
        assert server.get("pg-backed").text == "The configured secret key is first."
        output = server.log_path.read_text()

    # The rows are PostgreSQL's, and config vars are encrypted there as in SQLite.
    with psycopg.connect(store_url.replace("postgres://", "postgresql://")) as conn:
        rows = conn.execute("SELECT name, config FROM apps").fetchall()
    assert [name for name, _ in rows] == ["pg-backed"]
    assert "first" not in str(rows[0][1])
    assert PASSWORD not in output
