"""Each app's log history survives a restart of `cove server` (stopped, or killed -9), and
`cove logs --tail` goes on through one without printing a line twice."""

from __future__ import annotations

import signal
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from cove.logs.history import read_lines
from cove.ports import free_port
from tests.e2e.harness import CoveServer, User, running_server, wait_for

HISTORY = 1500


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[CoveServer]:
    # A fixed API port, so that the CLI finds the restarted server at the same URL.
    with running_server(tmp_path, COVE_API_PORT=str(free_port())) as srv:
        yield srv


def app_id(server: CoveServer, app: str) -> str:
    return str(server.api("GET", f"/apps/{app}").json()["id"])


def history_file(server: CoveServer, app: str) -> Path:
    return server.home / "logs" / f"{app_id(server, app)}.log"


def on_disk(saved: Path) -> list[str]:
    return read_lines(saved, HISTORY)[0]


def log_lines(user: User, app: str, count: int = HISTORY) -> list[str]:
    return user.cove("logs", "-a", app, "-n", str(count)).stdout.splitlines()


def set_config(user: User, app: str, name: str) -> str:
    """Sets a config var; its audit line (``Set NAME config vars by user ...``) is logged."""
    user.cove("config:set", f"{name}=1", "-a", app)
    return f"Set {name} config vars by user"


def mentioning(lines: list[str], text: str) -> list[str]:
    return [line for line in lines if text in line]


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL])
def test_history_is_back_after_a_restart(
    own_server: CoveServer, tmp_path: Path, how: signal.Signals
) -> None:
    user = User.logged_in(tmp_path / "dev", own_server)
    user.cove("apps:create", "remembers")
    said = [set_config(user, "remembers", f"BEFORE_{n}") for n in range(3)]
    before = log_lines(user, "remembers")
    assert all(mentioning(before, text) for text in said)
    saved = history_file(own_server, "remembers")
    if how == signal.SIGKILL:
        # A crash loses at most what was logged in the last fraction of a second: wait for
        # the last line `cove logs` showed (lines are written in order) to be on disk.
        wait_for(lambda: before[-1] in on_disk(saved), 10, what="the last line on disk")
    own_server.stop(how)  # stopped cleanly, the server writes what is queued first

    own_server.start()
    after = log_lines(user, "remembers")
    assert after[: len(before)] == before
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600  # logs may hold an app's secrets
    assert stat.S_IMODE(saved.parent.stat().st_mode) == 0o700
    # New lines follow the saved ones.
    said_after = set_config(user, "remembers", "AFTER")
    wait_for(lambda: mentioning(log_lines(user, "remembers"), said_after), 10, what="new line")
    assert log_lines(user, "remembers")[: len(before)] == before


def test_a_torn_last_line_is_left_out(own_server: CoveServer, tmp_path: Path) -> None:
    user = User.logged_in(tmp_path / "dev", own_server)
    user.cove("apps:create", "torn")
    set_config(user, "torn", "WHOLE")
    before = log_lines(user, "torn")
    saved = history_file(own_server, "torn")
    own_server.stop()
    with saved.open("ab") as f:
        f.write(b'"2026-01-01T00:00:00.000000+00:00 app[web.1]: half a li')  # a crash mid-write

    own_server.start()
    assert log_lines(user, "torn") == before
    said = set_config(user, "torn", "NEXT")
    wait_for(lambda: said in saved.read_text(), 10, what="the next line on disk")
    own_server.stop()
    own_server.start()
    after = log_lines(user, "torn")
    assert after[: len(before)] == before
    assert mentioning(after, said) and not mentioning(after, "half a li")


def test_a_destroyed_apps_history_is_removed(own_server: CoveServer, tmp_path: Path) -> None:
    user = User.logged_in(tmp_path / "dev", own_server)
    user.cove("apps:create", "doomed")
    said = set_config(user, "doomed", "SECRET_THING")
    saved = history_file(own_server, "doomed")
    wait_for(lambda: said in saved.read_text(), 10, what="the history on disk")
    user.cove("apps:destroy", "-a", "doomed", "--confirm", "doomed")
    wait_for(lambda: not saved.exists(), 10, what="the history file to go")

    # A new app of the same name starts with no history of the old one, after a restart too.
    own_server.stop()
    own_server.start()
    user.cove("apps:create", "doomed")
    assert not mentioning(log_lines(user, "doomed"), "SECRET_THING")
    assert sorted(p.name for p in saved.parent.iterdir()) == [f"{app_id(own_server, 'doomed')}.log"]


def test_a_flooding_app_keeps_the_last_1500_lines_and_a_bounded_file(
    own_server: CoveServer, tmp_path: Path
) -> None:
    user = User.logged_in(tmp_path / "dev", own_server)
    repo = user.new_repo("noisy", "flood")
    user.cove("apps:create", "flood", cwd=repo)
    user.cove("config:set", "FLOOD=1", cwd=repo)
    user.push(repo)
    saved = history_file(own_server, "flood")
    sizes: list[int] = []

    def flooded() -> bool:
        sizes.append(len(saved.read_bytes().splitlines()))
        return sum(size >= HISTORY for size in sizes) >= 20  # trimmed again and again

    wait_for(flooded, 60, interval=0.1, what="the flood in the history")
    assert max(sizes) <= 2 * HISTORY
    user.cove("ps:scale", "web=0", cwd=repo)
    wait_for(
        lambda: not own_server.api("GET", "/apps/flood/dynos").json(), 60, what="web dyno gone"
    )
    before = log_lines(user, "flood")
    assert len(before) == HISTORY

    own_server.stop()
    own_server.start()
    after = log_lines(user, "flood")
    assert len(after) == HISTORY
    # The newest lines of before, then whatever the restart logged.
    last = after.index(before[-1])
    assert after[: last + 1] == before[-(last + 1) :]


class Tail:
    """`cove logs --tail` running in the background, its output collected."""

    def __init__(self, user: User, app: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "cove.cli.main", "logs", "--tail", "-a", app],
            env=user.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def shows(self, text: str) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"cove logs --tail exited {self.proc.returncode}")
        return bool(mentioning(self.lines, text))

    def stop(self) -> str:
        self.proc.terminate()
        _, err = self.proc.communicate(timeout=30)
        self.reader.join(10)
        return err


def test_a_tail_goes_on_through_a_restart_without_repeating_lines(
    own_server: CoveServer, tmp_path: Path
) -> None:
    user = User.logged_in(tmp_path / "dev", own_server)
    user.cove("apps:create", "follower")
    tail = Tail(user, "follower")
    try:
        said = [set_config(user, "follower", "BEFORE")]
        wait_for(lambda: tail.shows(said[0]), 30, what="the tail to show a line")

        own_server.stop()
        own_server.start()
        said += [set_config(user, "follower", f"AFTER_{n}") for n in range(2)]
        wait_for(lambda: tail.shows(said[-1]), 60, what="the tail to show a line after it")
    finally:
        err = tail.stop()
    printed = tail.lines
    assert len(printed) == len(set(printed)), printed  # nothing printed twice
    assert [text for line in printed for text in said if text in line] == said
    assert "reconnecting" in err
