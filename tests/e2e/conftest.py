from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.e2e.docker_swarm import Swarm, build_stack_image, docker_swarm
from tests.e2e.harness import CoveServer, User, running_server
from tests.postgres_server import postgres_server

# In-process component tests that live here for their real sockets, but start no server.
_IN_PROCESS = {"test_router_proxy.py"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test in this directory runs a real `cove server` (the ``e2e`` marker), except
    the in-process router tests."""
    here = Path(__file__).parent
    for item in items:
        path = item.path
        if path.parent == here and path.name not in _IN_PROCESS:
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CoveServer]:
    """One real `cove server` for the session's end-to-end tests (tests use their own apps)."""
    with running_server(tmp_path_factory.mktemp("session")) as srv:
        yield srv


@pytest.fixture
def user(tmp_path: Path, server: CoveServer) -> User:
    """A logged-in developer with an empty HOME."""
    dev = User.logged_in(tmp_path / "home", server)
    return dev


@pytest.fixture(scope="session")
def swarm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Swarm]:
    """A single-node swarm of the tests' own with Cove's stack image (or a skip saying why
    Docker can't run here), shared by the swarm backend's tests."""
    with docker_swarm() as socket:
        yield build_stack_image(socket, tmp_path_factory.mktemp("stack-home"))


@pytest.fixture(scope="module")
def shared_store() -> Iterator[str]:
    """An empty PostgreSQL database for servers of several roles to share."""
    with postgres_server() as admin:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute("CREATE DATABASE cove_shared")
        yield admin.rsplit("/", 1)[0] + "/cove_shared"


@pytest.fixture
def fresh_store(shared_store: str) -> str:
    """Another empty database, on the PostgreSQL server of ``shared_store``."""
    server = shared_store.rsplit("/", 1)[0]
    name = f"cove_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return f"{server}/{name}"
