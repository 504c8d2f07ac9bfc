"""Stopping or killing `cove server` loses nothing, and every formation comes back."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import CoveServer, User, processes_mentioning, running_server, wait_for


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[CoveServer]:
    with running_server(tmp_path) as srv:
        yield srv


def up_dynos(server: CoveServer, app: str) -> int:
    return sum(d["state"] == "up" for d in server.api("GET", f"/apps/{app}/dynos").json())


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL])
def test_restart_keeps_apps_releases_config_and_formation(
    own_server: CoveServer, tmp_path: Path, how: signal.Signals
) -> None:
    user = User.logged_in(tmp_path / "dev", own_server)
    repo = user.new_repo("config-example")
    user.cove("apps:create", "survivor", cwd=repo)
    user.push(repo)
    user.cove("config:set", "SECRET_KEY=kept", cwd=repo)
    user.cove("ps:scale", "web=2", cwd=repo)
    wait_for(
        lambda: up_dynos(own_server, "survivor") == 2,
        60,
        what="two web dynos",
    )
    releases = own_server.api("GET", "/apps/survivor/releases").json()
    dyno_ids = [d["id"] for d in own_server.api("GET", "/apps/survivor/dynos").json()]
    assert processes_mentioning(*dyno_ids)

    own_server.stop(how)
    # Dynos die with the server (they must not outlive it as orphans).
    wait_for(lambda: not processes_mentioning(*dyno_ids), 30, what="dyno processes to exit")
    own_server.start()

    assert own_server.api("GET", "/apps/survivor/releases").json() == releases
    assert own_server.api("GET", "/apps/survivor/config-vars").json() == {"SECRET_KEY": "kept"}
    wait_for(
        lambda: up_dynos(own_server, "survivor") == 2,
        60,
        what="formation back up after restart",
    )
    assert own_server.get("survivor").text == "The configured secret key is kept."
