from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from cove.store import Store
from tests.postgres_server import postgres_server

# The ``store`` fixture is SQLite, or a PostgreSQL store (a fresh database each, cloned
# from a migrated template): in modules that set ``BOTH_STORES = True``, tests run on each;
# COVE_TEST_STORE=postgresql puts every test on PostgreSQL (a whole-suite check by hand).
ON_POSTGRES = os.environ.get("COVE_TEST_STORE", "sqlite") == "postgresql"
_databases = itertools.count(1)


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    """(A running PostgreSQL server's URL, with a migrated ``cove_template`` database.)"""
    with postgres_server() as admin_url:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute("CREATE DATABASE cove_template")
        template = Store(admin_url.rsplit("/", 1)[0] + "/cove_template")
        template.migrate()
        template.close()  # a template must have no connections to be copied
        yield admin_url


def postgres_store(admin_url: str) -> Iterator[Store]:
    name = f"cove_test_{os.getpid()}_{next(_databases)}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name} TEMPLATE cove_template")
    store = Store(admin_url.rsplit("/", 1)[0] + f"/{name}")
    try:
        yield store
    finally:
        store.close()
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE {name} WITH (FORCE)")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "store" in metafunc.fixturenames and getattr(metafunc.module, "BOTH_STORES", False):
        metafunc.parametrize("store_kind", ["sqlite", "postgresql"], indirect=True)


@pytest.fixture
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(getattr(request, "param", "postgresql" if ON_POSTGRES else "sqlite"))


@pytest.fixture
def store(tmp_path: Path, request: pytest.FixtureRequest, store_kind: str) -> Iterator[Store]:
    """A migrated, empty store (SQLite in the test's directory, or PostgreSQL: above)."""
    if store_kind == "postgresql":
        yield from postgres_store(request.getfixturevalue("postgres_template"))
        return
    s = Store(f"sqlite:///{tmp_path / 'cove.db'}")
    s.migrate()
    yield s
