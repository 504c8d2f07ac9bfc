"""One-off dynos, server side: `POST /apps/{app}/dynos` and the rendezvous listener,
driven by a raw TLS client as Heroku's CLI drives it (secret line, greeting, the dyno's
terminal both ways, exit marker), detached runs in the logs, `ps` and `ps:stop`."""

from __future__ import annotations

import re
import socket
import ssl
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.e2e.harness import CoveServer, User, processes_mentioning, running_server, wait_for

APP = "oneoff"
MARKER = re.compile(rb"\xef\xbf\xbf heroku-command-exit-status: (\d+)\r\n$")


class Rendezvous:
    """A client of the rendezvous listener (Python's ssl, trusting Cove's CA)."""

    def __init__(self, server: CoveServer, attach_url: str) -> None:
        url = urlsplit(attach_url)
        assert url.scheme == "rendezvous" and url.port == server.rendezvous_port
        self.secret = url.path.lstrip("/")
        context = ssl.create_default_context(cafile=server.ca_file)
        raw = socket.create_connection(("127.0.0.1", server.rendezvous_port), timeout=60)
        self.sock = context.wrap_socket(raw, server_hostname=url.hostname)
        self.received = b""
        self.name = ""

    def hello(self, secret: str | None = None, line_end: bytes = b"\r\n") -> bytes:
        """Send the secret line (heroku3 sends it bare: ``line_end=b""``); what the server
        answers first (its greeting, or b"")."""
        self.sock.sendall((secret or self.secret).encode() + line_end)
        return self.recv()

    def recv(self) -> bytes:
        try:
            return self.sock.recv(65536)
        except (ConnectionResetError, ssl.SSLError):
            return b""
        except TimeoutError:
            raise AssertionError(f"nothing more came after {self.received!r}") from None

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def read_until(self, pattern: bytes, timeout: float = 60) -> bytes:
        """Read until ``pattern`` (a regex) matches what came since the last call."""
        start = len(self.received)
        deadline = time.monotonic() + timeout
        while not re.search(pattern, self.received[start:]):
            assert time.monotonic() < deadline, f"no {pattern!r} in {self.received[start:]!r}"
            self.sock.settimeout(max(0.1, deadline - time.monotonic()))
            chunk = self.recv()
            assert chunk, f"closed before {pattern!r}: {self.received[start:]!r}"
            self.received += chunk
        return self.received[start:]

    def read_to_end(self, timeout: float = 60) -> bytes:
        self.sock.settimeout(timeout)
        while chunk := self.recv():
            self.received += chunk
        return self.received

    def exit_status(self, timeout: float = 60) -> tuple[bytes, int]:
        """The output up to the exit marker's line, and the status in it (the marker ends
        the stream, on a line of its own)."""
        data = self.read_to_end(timeout)
        found = MARKER.search(data)
        assert found, f"no exit marker at the end of {data!r}"
        return data[: found.start()], int(found.group(1))

    def close(self) -> None:
        self.sock.close()


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory, server: CoveServer) -> User:
    """A developer with a deployed app with a config var."""
    user = User.logged_in(tmp_path_factory.mktemp("one-off") / "home", server)
    repo = user.new_repo("one-off")
    user.cove("apps:create", APP, cwd=repo)
    user.cove("config:set", "MYVAR=hello-from-config", cwd=repo)
    user.push(repo)
    return user


def run(server: CoveServer, body: dict[str, Any], app: str = APP) -> dict[str, Any]:
    answer = server.api("POST", f"/apps/{app}/dynos", json=body)
    assert answer.status_code == 201, answer.text
    return answer.json()  # type: ignore[no-any-return]


def attach(server: CoveServer, command: str, tty: bool = False, **env: Any) -> Rendezvous:
    dyno = run(server, {"command": command, "attach": True, "force_no_tty": not tty, "env": env})
    client = Rendezvous(server, dyno["attach_url"])
    client.name = dyno["name"]
    assert client.hello() == b"rendezvous\r\n"  # a write of its own
    return client


def listed(server: CoveServer, name: str) -> dict[str, Any] | None:
    dynos = server.api("GET", f"/apps/{APP}/dynos").json()
    return next((d for d in dynos if d["name"] == name), None)


def test_an_attached_run_sees_config_vars_and_app_and_reports_its_exit_status(
    dev: User, server: CoveServer
) -> None:
    command = "echo $MYVAR; pwd; ls -1 /app; exit 7"
    dyno = run(server, {"command": command, "attach": True, "force_no_tty": True})
    assert re.fullmatch(r"run\.\d{4}", dyno["name"]) and dyno["type"] == "run"
    assert dyno["state"] == "starting" and dyno["size"] == "Standard-1X"
    assert re.fullmatch(
        rf"rendezvous://127\.0\.0\.1:{server.rendezvous_port}/[\w-]{{43}}", dyno["attach_url"]
    )
    # Nothing runs before the client is there (so none of the output can be lost).
    assert listed(server, dyno["name"])["state"] == "starting"  # type: ignore[index]
    assert not processes_mentioning(dyno["id"])
    client = Rendezvous(server, dyno["attach_url"])
    assert client.hello() == b"rendezvous\r\n"
    output, status = client.exit_status()
    assert status == 7
    assert output == b"hello-from-config\n/app\nProcfile\nnotes.txt\nrequirements.txt\n"
    logs = dev.cove("logs", "-a", APP, "-n", "200").stdout
    name = dyno["name"]
    assert f"app[api]: Starting process with command `{command}` by user admin@" in logs
    for line in (
        f"Starting process with command `{command}`",
        "State changed from starting to up",
        "Process exited with status 7",
        "State changed from up to complete",
    ):
        assert f"heroku[{name}]: {line}" in logs
    assert "hello-from-config" not in logs  # attached output goes to the client only


def test_piped_stdin_reaches_the_command_and_eot_ends_it(server: CoveServer, dev: User) -> None:
    client = attach(server, "cat; echo cat-done")
    client.send(b"line one\nline two\n\x04ignored after EOT")
    output, status = client.exit_status()
    assert (output, status) == (b"line one\nline two\ncat-done\n", 0)
    # The secret is single-use.
    again = Rendezvous(server, f"rendezvous://127.0.0.1:{server.rendezvous_port}/{client.secret}")
    assert again.hello() == b""


def test_a_marker_follows_output_without_a_final_newline(server: CoveServer, dev: User) -> None:
    client = attach(server, "printf no-newline")
    output, status = client.exit_status()
    assert (output, status) == (b"no-newline\r\n", 0)


def test_a_tty_run_is_a_terminal_that_resizes_and_takes_ctrl_c(
    server: CoveServer, dev: User
) -> None:
    client = attach(server, "bash", tty=True, TERM="xterm", COLUMNS=100, LINES=30)
    name = client.name
    client.send(b"tty && echo is-a-$((2+3))-tty; stty size\r")
    seen = client.read_until(rb"is-a-5-tty\r\n30 100\r\n")
    assert b"no job control" not in seen and b"cannot set terminal process group" not in seen

    resized = server.api(
        "POST", f"/apps/{APP}/dynos/{name}/actions/resize", json={"columns": 120, "lines": 50}
    )
    assert (resized.status_code, resized.json()) == (202, {})
    client.send(b"stty size\r")
    client.read_until(rb"[\r\n]50 120\r\n")

    # ^C reaches the foreground program: the sleep ends long before its 300 s. (It is
    # sent once the sleep runs: a ^C while the shell itself is in the foreground is the
    # shell's.)
    client.send(b"sleep 299\r")
    wait_for(lambda: processes_mentioning("sleep\x00299\x00"), 30, what="the sleep to run")
    client.send(b"\x03")
    client.send(b"echo after-$((6*7))\r")
    client.read_until(rb"after-42\r\n", timeout=30)
    client.send(b"exit 7\r")
    _, status = client.exit_status()
    assert status == 7


def test_wrong_secrets_get_nothing(server: CoveServer, dev: User) -> None:
    dyno = run(server, {"command": "true", "attach": True})
    wrong = Rendezvous(server, dyno["attach_url"])
    assert wrong.hello(secret="x" * 43) == b""
    # The right one still works afterwards, also sent bare (as heroku3 does).
    right = Rendezvous(server, dyno["attach_url"])
    assert right.hello(line_end=b"") == b"rendezvous\r\n"
    assert right.exit_status() == (b"", 0)


def test_a_detached_run_logs_its_output_and_ps_lists_it_until_it_ends(
    server: CoveServer, dev: User
) -> None:
    dyno = run(server, {"command": "echo detached-$((3*4)); sleep 300"})
    name = dyno["name"]
    assert dyno["attach_url"] is None
    wait_for(
        lambda: f"app[{name}]: detached-12" in dev.cove("logs", "-a", APP, "-n", "200").stdout,
        60,
        what="the detached run's output in the logs",
    )
    ps = dev.cove("ps", "-a", APP).stdout
    # Heroku's one-off block: name, size, state, since when (the age), command.
    assert re.search(
        rf"^{re.escape(name)} \(Standard-1X\): up \S+ \S+ \S+ \(~ \d+[smh] ago\): "
        rf"echo detached-\$\(\(3\*4\)\); sleep 300$",
        ps,
        re.M,
    ), ps
    assert listed(server, name)["command"] == "echo detached-$((3*4)); sleep 300"  # type: ignore[index]
    assert processes_mentioning(dyno["id"])
    dev.cove("ps:stop", name, "-a", APP)
    wait_for(lambda: listed(server, name) is None, 30, what="the stopped run to leave ps")
    wait_for(lambda: not processes_mentioning(dyno["id"]), 30, what="its processes to end")
    assert name not in dev.cove("ps", "-a", APP).stdout
    logs = dev.cove("logs", "-a", APP, "-n", "200").stdout
    assert f"heroku[{name}]: Stopping all processes with SIGTERM" in logs
    assert f"heroku[{name}]: State changed from up to complete" in logs


def test_ps_stop_run_stops_every_one_off_dyno(server: CoveServer, dev: User) -> None:
    dynos = [run(server, {"command": "sleep 300"}) for _ in range(2)]
    for dyno in dynos:
        wait_for(lambda d=dyno: (listed(server, d["name"]) or {}).get("state") == "up", 60)
    dev.cove("ps:stop", "run", "-a", APP)
    for dyno in dynos:
        wait_for(lambda d=dyno: listed(server, d["name"]) is None, 30, what="runs stopped")
        wait_for(lambda d=dyno: not processes_mentioning(d["id"]), 30, what="processes gone")
    # The web dyno was left alone.
    assert listed(server, "web.1") is not None


@pytest.mark.parametrize("tty", [False, True])
def test_a_client_that_disconnects_takes_its_dyno_down(
    server: CoveServer, dev: User, tty: bool
) -> None:
    # A process tree: a background child beside the foreground one.
    child, parent = (f"sleep\x00{3000 + n}\x00" for n in ((11, 12) if tty else (21, 22)))
    command = f"sleep {3011 if tty else 3021} & sleep {3012 if tty else 3022}"
    dyno = run(server, {"command": command, "attach": True, "force_no_tty": not tty})
    client = Rendezvous(server, dyno["attach_url"])
    assert client.hello() == b"rendezvous\r\n"
    wait_for(lambda: (listed(server, dyno["name"]) or {}).get("state") == "up", 60)
    wait_for(lambda: processes_mentioning(child) and processes_mentioning(parent), 30)
    client.close()
    wait_for(lambda: listed(server, dyno["name"]) is None, 30, what="the run to leave ps")
    wait_for(
        lambda: not processes_mentioning(dyno["id"], child, parent), 30, what="its processes to end"
    )


def test_api_errors(server: CoveServer, dev: User) -> None:
    def error(path: str, body: Any) -> tuple[int, str, str]:
        answer = server.api("POST", path, json=body)
        return answer.status_code, answer.json()["id"], answer.json()["message"]

    server.api("POST", "/apps", json={"name": "oneoff-empty"})
    assert error("/apps/oneoff-empty/dynos", {"command": "bash"}) == (
        422,
        "invalid_params",
        "oneoff-empty has no release to run yet: deploy with git push first",
    )
    assert error("/apps/no-such-app/dynos", {"command": "bash"})[:2] == (404, "not_found")
    dynos = f"/apps/{APP}/dynos"
    assert error(dynos, {"command": ""}) == (422, "invalid_params", "command is required.")
    assert error(dynos, {"command": "  "})[:2] == (422, "invalid_params")
    assert error(dynos, {})[:2] == (422, "invalid_params")
    size = error(dynos, {"command": "true", "size": "huge-9x"})
    assert size[:2] == (422, "invalid_params") and "Invalid dyno size 'huge-9x'" in size[2]
    assert error(dynos, {"command": "true", "env": {"1BAD": "x"}})[:2] == (422, "invalid_params")
    assert error(dynos, {"command": "true", "env": {"OK": None}})[:2] == (422, "invalid_params")
    assert error(dynos, {"command": "true", "attach": "yes"})[:2] == (422, "invalid_params")
    assert error(dynos, {"command": "true", "type": "web"})[:2] == (422, "invalid_params")
    assert error(dynos, {"command": "true", "time_to_live": -1})[:2] == (422, "invalid_params")
    resize = f"/apps/{APP}/dynos/run.1234/actions/resize"
    assert error(resize, {"columns": 80, "lines": 24}) == (
        404,
        "not_found",
        "No attached terminal for the dyno run.1234.",
    )
    assert error(resize, {"columns": 0, "lines": 24})[:2] == (422, "invalid_params")
    assert error(resize, {"columns": 80})[:2] == (422, "invalid_params")
    # A detached (pipe) dyno has no terminal to resize.
    piped = run(server, {"command": "sleep 300", "attach": True, "force_no_tty": True})
    client = Rendezvous(server, piped["attach_url"])
    assert client.hello() == b"rendezvous\r\n"
    wait_for(lambda: (listed(server, piped["name"]) or {}).get("state") == "up", 60)
    path = f"/apps/{APP}/dynos/{piped['name']}/actions/resize"
    assert error(path, {"columns": 80, "lines": 24})[:2] == (404, "not_found")
    client.close()
    stopped = server.api("POST", f"/apps/{APP}/dynos/run.1/actions/stop")
    assert stopped.status_code == 404


def test_time_to_live_stops_a_run(server: CoveServer, dev: User) -> None:
    dyno = run(server, {"command": "sleep 300", "time_to_live": 1})
    wait_for(lambda: listed(server, dyno["name"]) is None, 60, what="the run's time to live")
    logs = dev.cove("logs", "-a", APP, "-n", "300").stdout
    assert f"heroku[{dyno['name']}]: Process exited with status 143" in logs


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[CoveServer]:
    with running_server(tmp_path, COVE_RUN_ATTACH_TIMEOUT="1") as srv:
        yield srv


def test_an_unclaimed_secret_expires_and_a_restart_forgets_one_off_dynos(
    own_server: CoveServer, tmp_path: Path
) -> None:
    server = own_server
    user = User.logged_in(tmp_path / "home", server)
    repo = user.new_repo("one-off")
    user.cove("apps:create", APP, cwd=repo)
    user.push(repo)

    waiting = run(server, {"command": "true", "attach": True})
    wait_for(lambda: listed(server, waiting["name"]) is None, 30, what="the secret to expire")
    client = Rendezvous(server, waiting["attach_url"])
    assert client.hello() == b""
    logs = user.cove("logs", "-a", APP, "-n", "200").stdout
    assert f"heroku[{waiting['name']}]: Error R13 (Attach error)" in logs

    detached = run(server, {"command": "sleep 300"})
    wait_for(lambda: (listed(server, detached["name"]) or {}).get("state") == "up", 60)
    server.stop()
    assert not processes_mentioning(detached["id"])
    server.start()
    wait_for(lambda: listed(server, "web.1") is not None, 60, what="the web dyno back")
    assert [d["name"] for d in server.api("GET", f"/apps/{APP}/dynos").json()] == ["web.1"]
    assert not processes_mentioning(detached["id"])

    # Destroying the app stops its one-off dynos.
    doomed = run(server, {"command": "sleep 300"})
    wait_for(lambda: processes_mentioning(doomed["id"]), 60, what="the run to start")
    user.cove("apps:destroy", "-a", APP, "--confirm", APP)
    wait_for(lambda: not processes_mentioning(doomed["id"]), 30, what="its processes to end")
