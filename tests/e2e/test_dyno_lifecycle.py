"""Crashes, back-off, ps:stop, daily cycling and no orphaned processes."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import CoveServer, User, processes_mentioning, running_server, wait_for


def dynos(server: CoveServer, app: str) -> list[dict[str, str]]:
    return server.api("GET", f"/apps/{app}/dynos").json()  # type: ignore[no-any-return]


def test_crashing_dyno_restarts_then_backs_off(user: User, server: CoveServer) -> None:
    bystander = user.new_repo("crashy", "bystander")
    user.cove("apps:create", "bystander", cwd=bystander)
    user.cove("config:set", "TEXT=still here", cwd=bystander)
    user.push(bystander)

    repo = user.new_repo("crashy")
    user.cove("apps:create", "crashy", cwd=repo)
    user.cove("config:set", "CRASH=1", cwd=repo)
    user.push(repo)

    def logs() -> str:
        return user.cove("logs", "-n", "1500", "-d", "web.1", cwd=repo).stdout

    # First crash: restarted immediately; second: Heroku's 20 min cool-off (scaled).
    wait_for(lambda: "restarting in 6 s" in logs(), 60, what="the crash cool-off")
    text = logs()
    before_cooloff = text[: text.index("restarting in 6 s")]
    assert before_cooloff.count("Starting process with command `python server.py`") == 2
    assert before_cooloff.count("Process exited with status 3") == 2
    assert "app[web.1]: crashing on purpose" in text
    assert "State changed from starting to crashed" in text
    assert [d["state"] for d in dynos(server, "crashy")] == ["crashed"]
    assert "web.1: crashed" in user.cove("ps", cwd=repo).stdout
    assert server.get("crashy").status_code == 503
    router = user.cove("logs", "-n", "1500", "-d", "router", cwd=repo).stdout
    assert 'at=error code=H10 desc="App crashed"' in router
    # After the cool-off it is tried again, and the next cool-off is Heroku's 40 min (scaled).
    wait_for(lambda: "restarting in 12 s" in logs(), 60, what="the second cool-off")

    # Other apps and the server are unaffected.
    assert server.get("bystander").text == "still here"
    # A new release resets the back-off and starts the dyno at once.
    user.cove("config:set", "CRASH=0", "TEXT=recovered", cwd=repo)
    wait_for(lambda: server.get("crashy").text == "recovered", 60, what="the app to recover")


def test_ps_stop_and_no_orphans_after_destroy(user: User, server: CoveServer) -> None:
    marker = f"cove-{uuid.uuid4()}"
    daemon = f"{marker}-daemon"  # only the daemon's own command line has this
    repo = user.new_repo("crashy", "daemonic")
    user.cove("apps:create", "daemonic", cwd=repo)
    user.cove("config:set", f"DAEMON={marker}", cwd=repo)
    user.push(repo)
    wait_for(lambda: processes_mentioning(daemon), 30, what="the daemon to start")

    old = dynos(server, "daemonic")[0]["id"]
    user.cove("ps:stop", "web.1", cwd=repo)
    # The stopped formation dyno is replaced by a new one, and its daemon died with it.
    wait_for(
        lambda: [(d["id"] != old, d["state"]) for d in dynos(server, "daemonic")] == [(True, "up")],
        60,
        what="web.1 stopped and started again",
    )
    wait_for(lambda: len(processes_mentioning(daemon)) == 1, 30, what="one daemon (new dyno's)")
    assert server.get("daemonic").text == "ok"

    user.cove("apps:destroy", "-a", "daemonic", "--confirm", "daemonic", cwd=repo)
    wait_for(lambda: not processes_mentioning(daemon), 30, what="the daemon to exit")
    wait_for(lambda: not processes_mentioning(marker), 30, what="every process of the app to exit")


@pytest.fixture
def cycling_server(tmp_path: Path) -> Iterator[CoveServer]:
    cycle = {"COVE_DYNO_CYCLE_SECONDS": "2", "COVE_DYNO_CYCLE_JITTER_SECONDS": "1"}
    with running_server(tmp_path, **cycle) as srv:
        yield srv


def test_daily_cycling_replaces_dynos(cycling_server: CoveServer, tmp_path: Path) -> None:
    user = User.logged_in(tmp_path / "dev", cycling_server)
    repo = user.new_repo("crashy", "cycled")
    user.cove("apps:create", "cycled", cwd=repo)
    user.push(repo)
    seen: set[str] = set()

    def cycled_twice() -> bool:
        seen.update(d["id"] for d in dynos(cycling_server, "cycled"))
        return len(seen) >= 3

    wait_for(cycled_twice, 60, interval=0.1, what="web.1 to be cycled twice")
    logs = user.cove("logs", "-n", "1500", cwd=repo).stdout
    assert len(re.findall(r"heroku\[web\.1\]: Cycling", logs)) >= 2
    assert cycling_server.get("cycled").text == "ok"


@pytest.fixture
def strict_server(tmp_path: Path) -> Iterator[CoveServer]:
    with running_server(tmp_path, COVE_BOOT_TIMEOUT="3", COVE_STOP_GRACE="2") as srv:
        yield srv


def test_boot_timeout_keeps_old_release_and_exit_timeout_kills(
    strict_server: CoveServer, tmp_path: Path
) -> None:
    user = User.logged_in(tmp_path / "dev", strict_server)
    repo = user.new_repo("crashy", "slowboot")
    user.cove("apps:create", "slowboot", cwd=repo)
    user.cove("config:set", "TEXT=old", "IGNORE_TERM=1", cwd=repo)
    user.push(repo)

    # R12: a dyno ignoring SIGTERM is killed after the grace period.
    user.cove("ps:restart", cwd=repo)

    def logs() -> str:
        return user.cove("logs", "-n", "1500", cwd=repo).stdout

    wait_for(lambda: "Error R12 (Exit timeout)" in logs(), 30, what="R12")
    text = logs()
    assert text.index("Stopping all processes with SIGTERM") < text.index("Error R12")
    assert "Stopping all processes with SIGKILL" in text
    assert "Process exited with status 137" in text

    # R10: a release whose web process never binds $PORT does not replace the running one.
    user.cove("config:set", "NO_BIND=1", "TEXT=new", cwd=repo)
    wait_for(lambda: "Error R10 (Boot timeout)" in logs(), 30, what="R10")
    assert strict_server.get("slowboot").text == "old"
    states = {d["release"]["version"]: d["state"] for d in dynos(strict_server, "slowboot")}
    assert "up" in states.values()  # the previous release's dyno is still up
