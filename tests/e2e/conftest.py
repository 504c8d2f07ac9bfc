from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import CoveServer, User, running_server


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
