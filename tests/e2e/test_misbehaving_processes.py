"""Processes that misbehave get one consistent story. A web process that daemonizes
(`gunicorn --daemon`, `cmd & exit 0`) or exits right after start is `crashed` in the API
and `cove ps`, the router answers H10, and the logs say why (with what it printed before
it detached). While a dyno is replaced, the dynos API lists each name once."""

from __future__ import annotations

import re
import threading
from typing import Any

import httpx
import pytest

from tests.e2e.harness import CoveServer, User, processes_mentioning, wait_for

HINT = "a dyno's command must stay in the foreground"


def _deploy(user: User, template: str, app: str, procfile: str) -> str:
    repo = user.new_repo(template, app)
    (repo / "Procfile").write_text(f"web: {procfile}\n")
    user.git("add", "-A", cwd=repo)
    user.git("commit", "-q", "--allow-empty", "-m", "Procfile", cwd=repo)
    user.cove("apps:create", app, cwd=repo)
    return user.push(repo).stderr


def _logs(user: User, app: str) -> str:
    return user.cove("logs", "-n", "1500", "-a", app).stdout


def _crashed_with_h10(server: CoveServer, user: User, app: str) -> None:
    """The API, `cove ps` and the router agree: the web dyno is crashed."""
    dynos = server.api("GET", f"/apps/{app}/dynos").json()
    assert [(d["name"], d["state"]) for d in dynos] == [("web.1", "crashed")]
    assert "web.1: crashed" in user.cove("ps", "-a", app).stdout
    assert server.get(app).status_code == 503
    wait_for(lambda: 'code=H10 desc="App crashed"' in _logs(user, app), 30, what="H10 in the logs")


def _crash_lines(user: User, app: str) -> list[str]:
    """web.1's log lines up to its first crash, once it is there."""
    text = wait_for(
        lambda: (t := _logs(user, app)) and "State changed from starting to crashed" in t and t,
        60,
        what="the crash in the logs",
    )
    lines = [line for line in text.splitlines() if "[web.1]: " in line]
    end = next(i for i, line in enumerate(lines) if "starting to crashed" in line)
    return lines[: end + 1]


def test_a_daemonizing_web_process_is_crashed_and_the_logs_say_why(
    user: User, server: CoveServer
) -> None:
    push = _deploy(user, "daemonizing", "daemonizing", "python server.py --daemon")
    assert "Verifying deploy... failed: the web process crashed at start" in push
    lines = _crash_lines(user, "daemonizing")
    # What it printed before it detached, then Heroku's lines, and why.
    booted = next(i for i, line in enumerate(lines) if "app[web.1]: booting on port" in line)
    detached, exited, hint, crashed = lines[booted + 1 :]
    assert detached.endswith("app[web.1]: detaching: the server goes on in the background")
    assert exited.endswith("heroku[web.1]: Process exited with status 0")
    # (the daemon, and its parent if it hadn't exited yet)
    assert re.search(
        r"heroku\[web\.1\]: The command exited while \d+ process(es)? it started", hint
    )
    assert HINT in hint
    assert crashed.endswith("heroku[web.1]: State changed from starting to crashed")
    _crashed_with_h10(server, user, "daemonizing")


@pytest.mark.parametrize(
    ("template", "app", "command"),
    [
        ("daemonizing", "backgrounded", "python server.py & exit 0"),
        ("flask-hello", "gunicorn-daemon", "gunicorn --daemon app:app"),
    ],
    ids=["sent-to-the-background", "gunicorn-daemon"],
)
def test_a_web_process_left_running_in_the_background_is_crashed(
    user: User, server: CoveServer, template: str, app: str, command: str
) -> None:
    _deploy(user, template, app, command)
    lines = _crash_lines(user, app)
    assert "heroku[web.1]: Process exited with status 0" in lines[-3]
    assert HINT in lines[-2]
    _crashed_with_h10(server, user, app)


def test_a_web_process_that_exits_at_once_is_crashed_without_the_hint(
    user: User, server: CoveServer
) -> None:
    _deploy(user, "daemonizing", "quitter", "echo done here")
    lines = _crash_lines(user, "quitter")
    assert lines[-3].endswith("app[web.1]: done here")
    assert lines[-2].endswith("heroku[web.1]: Process exited with status 0")
    assert HINT not in "\n".join(lines)
    _crashed_with_h10(server, user, "quitter")


def test_dynos_api_lists_each_name_once_while_a_dyno_is_replaced(
    user: User, server: CoveServer
) -> None:
    """Heroku's clients act on dyno names (heroku3 restarts every listed dyno): a name is
    listed once, as the dyno that serves under it, so the list agrees with the router.
    The old dyno ignores SIGTERM, so it lingers (stopping) for the whole grace period."""
    repo = user.new_repo("crashy", "replaced")
    user.cove("apps:create", "replaced", cwd=repo)
    user.cove("config:set", "IGNORE_TERM=1", cwd=repo)
    user.push(repo)
    url = f"{server.api_url}/apps/replaced/dynos"
    headers = {"Authorization": f"Bearer {server.admin_token}"}
    before = wait_for(
        lambda: [
            d
            for d in httpx.get(url, headers=headers, verify=server.verify).json()
            if d["state"] == "up"
        ],
        60,
        what="web.1 up",
    )
    old_id = before[0]["id"]
    polls: list[list[dict[str, Any]]] = []
    done = threading.Event()

    def poll() -> None:
        with httpx.Client(headers=headers, timeout=30, verify=server.verify) as client:
            while not done.is_set():
                polls.append(client.get(url).json())

    poller = threading.Thread(target=poll)
    poller.start()
    try:
        user.cove("ps:restart", cwd=repo)
        logs = wait_for(
            lambda: (t := _logs(user, "replaced")).count("Error R12 (Exit timeout)") and t,
            60,
            what="the old dyno's end",
        )
        assert "State changed from up to down" in logs
        wait_for(lambda: not processes_mentioning(old_id), 30, what="the old sandbox to go")
        seen = len(polls)
        wait_for(lambda: len(polls) > seen + 2, 30, what="a few polls after the old one went")
    finally:
        done.set()
        poller.join()

    ids = []
    for listed in polls:
        names = [d["name"] for d in listed]
        assert names == ["web.1"], listed  # never twice, never missing
        assert listed[0]["state"] == "up", listed  # the one that serves
        if not ids or ids[-1] != listed[0]["id"]:
            ids.append(listed[0]["id"])
    assert ids[0] == old_id and len(ids) == 2  # the old one, then its successor, once
