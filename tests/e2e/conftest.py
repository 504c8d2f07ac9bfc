from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import CoveServer, User, server_env


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CoveServer]:
    """One real `cove server` for the session's end-to-end tests (tests use their own apps)."""
    home = tmp_path_factory.mktemp("cove-home")
    srv = CoveServer(home, home.parent / "server.log", server_env(home))
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def user(tmp_path: Path, server: CoveServer) -> User:
    """A logged-in developer with an empty HOME."""
    home = tmp_path / "home"
    home.mkdir()
    dev = User(home, server)
    dev.cove("login", "--token", server.admin_token)
    return dev
