"""`COVE_POSTGRES_ADMIN_URL`: Postgres add-ons on the operator's own server instead of a
cluster Cove runs itself."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest

from tests.e2e.harness import User, running_server
from tests.postgres_server import postgres_server


@pytest.fixture(scope="module")
def operator_postgres() -> Iterator[str]:
    """A PostgreSQL server of the operator's, outside COVE_HOME: its admin URL."""
    with postgres_server() as url:
        yield url


def test_addons_are_provisioned_on_the_operators_server(
    operator_postgres: str, tmp_path: Path
) -> None:
    with running_server(tmp_path, COVE_POSTGRES_ADMIN_URL=operator_postgres) as server:
        user = User.logged_in(tmp_path / "dev", server)
        user.cove("apps:create", "external-db")
        user.cove("addons:create", "heroku-postgresql", "-a", "external-db")
        url = server.api("GET", "/apps/external-db/config-vars").json()["DATABASE_URL"]
        assert urlsplit(url).port == urlsplit(operator_postgres).port
        with psycopg.connect(url) as conn:  # the app's own credentials work there
            conn.execute("CREATE TABLE notes (body text)")
            conn.execute("INSERT INTO notes VALUES ('kept')")
        database = urlsplit(url).path.lstrip("/")
        with psycopg.connect(operator_postgres) as admin:
            names = [r[0] for r in admin.execute("SELECT datname FROM pg_database").fetchall()]
        assert database in names
        # Cove never started a cluster of its own.
        assert not (server.home / "addons" / "postgres").exists()

        user.cove("addons:destroy", "DATABASE_URL", "-a", "external-db", "--confirm", "external-db")
        with psycopg.connect(operator_postgres) as admin:
            names = [r[0] for r in admin.execute("SELECT datname FROM pg_database").fetchall()]
        assert database not in names
