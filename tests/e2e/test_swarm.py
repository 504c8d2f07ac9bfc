"""Dynos on Docker Swarm (COVE_DYNO_BACKEND=swarm): each a service of the stack image whose
slug runner fetches the slug from Cove at a signed URL. Deploys, config changes, scaling,
logs, rollback and crash restarts work as on the local backend."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.docker_swarm import Swarm, docker_api
from tests.e2e.harness import CoveServer, User, running_server, server_env, wait_for
from tests.e2e.test_run_cli import COVE, Terminal, window_size_follows
from tests.e2e.test_zero_downtime import deploys_drop_no_requests


@pytest.fixture
def server(swarm: Swarm, tmp_path: Path) -> Iterator[CoveServer]:
    env = {**swarm.env, "COVE_DYNO_BACKEND": "swarm", "COVE_SWARM_IMAGE": swarm.image}
    with running_server(tmp_path, **env) as srv:
        yield srv


def services(swarm: Swarm) -> list[dict[str, object]]:
    with docker_api(swarm.socket) as client:
        return list(client.get("/services").json())


def dyno_services(swarm: Swarm, server: CoveServer, app: str) -> dict[str, str]:
    """Dyno id -> its service's name, for the app's dynos as Cove lists them."""
    ids = {d["id"] for d in server.api("GET", f"/apps/{app}/dynos").json()}
    found = {}
    for service in services(swarm):
        spec = service["Spec"]  # type: ignore[index]
        dyno = spec["Labels"].get("cove.dyno")  # type: ignore[index]
        if dyno in ids:
            found[dyno] = spec["Name"]  # type: ignore[index]
    return found


def up(server: CoveServer, app: str) -> list[str]:
    return sorted(
        d["name"] for d in server.api("GET", f"/apps/{app}/dynos").json() if d["state"] == "up"
    )


def test_a_deploy_runs_its_dynos_as_swarm_services(
    swarm: Swarm, server: CoveServer, tmp_path: Path
) -> None:
    user = User.logged_in(tmp_path / "dev", server)
    repo = user.new_repo("config-example")
    user.cove("apps:create", "on-swarm", cwd=repo)
    push = user.push(repo)
    assert "Verifying deploy... done." in push.stderr
    assert f"Dynos:       Docker Swarm ({swarm.image}" in server.log_path.read_text()
    assert server.get("on-swarm").text == "The configured secret key is this-is-the-default-key."
    first = dyno_services(swarm, server, "on-swarm")
    assert len(first) == 1

    user.cove("config:set", "SECRET_KEY=swarmed", cwd=repo)
    wait_for(lambda: server.get("on-swarm").text.endswith(" swarmed."), 90, what="new config")
    # The dyno of the old release was replaced, and its service removed.
    wait_for(
        lambda: not set(first) & set(dyno_services(swarm, server, "on-swarm")),
        60,
        what="old service gone",
    )

    user.cove("ps:scale", "web=2", cwd=repo)
    wait_for(lambda: up(server, "on-swarm") == ["web.1", "web.2"], 90, what="two web dynos")
    assert len(dyno_services(swarm, server, "on-swarm")) == 2

    logs = user.cove("logs", "-n", "200", cwd=repo).stdout
    assert "app[web.1]" in logs and "Listening at" in logs

    user.cove("rollback", "v2", cwd=repo)
    wait_for(
        lambda: server.get("on-swarm").text.endswith(" this-is-the-default-key."),
        90,
        what="rollback",
    )


def test_a_crashed_swarm_dyno_is_restarted_by_cove(
    swarm: Swarm, server: CoveServer, tmp_path: Path
) -> None:
    user = User.logged_in(tmp_path / "dev", server)
    repo = user.new_repo("config-example")
    user.cove("apps:create", "crash-swarm", cwd=repo)
    user.push(repo)
    ((dyno, name),) = dyno_services(swarm, server, "crash-swarm").items()
    with docker_api(swarm.socket) as client:
        tasks = client.get("/tasks", params={"filters": json.dumps({"service": [name]})}).json()
        container = tasks[0]["Status"]["ContainerStatus"]["ContainerID"]
        assert (
            client.post(f"/containers/{container}/kill", params={"signal": "KILL"}).status_code
            == 204
        )
    wait_for(
        lambda: (
            (d := dyno_services(swarm, server, "crash-swarm"))
            and dyno not in d
            and up(server, "crash-swarm")
        ),
        90,
        what="a new dyno after the crash",
    )
    logs = user.cove("logs", "-n", "200", cwd=repo).stdout
    assert "Process exited with status 137" in logs
    assert "State changed from up to crashed" in logs
    assert server.get("crash-swarm").status_code == 200


def test_the_release_phase_runs_as_a_one_shot_swarm_task(
    swarm: Swarm, server: CoveServer, tmp_path: Path
) -> None:
    user = User.logged_in(tmp_path / "dev", server)
    repo = user.new_repo("release-phase")
    user.cove("apps:create", "gated-swarm", cwd=repo)
    push = user.push(repo)
    assert re.search(r"release command running in release\.\d{4} with GREETING=None", push.stderr)
    assert "Waiting for release.... done." in push.stderr
    assert server.get("gated-swarm").text == "hello from release phase app"

    # A failing release command leaves the running release as it was.
    user.cove("config:set", "GREETING=bonjour", "RELEASE_EXIT=1", cwd=repo)
    wait_for(
        lambda: server.api("GET", "/apps/gated-swarm/releases").json()[-1]["status"] == "failed",
        90,
        what="the release to fail",
    )
    assert server.get("gated-swarm").text == "hello from release phase app"
    logs = user.cove("logs", "-n", "300", cwd=repo).stdout
    assert re.search(r"heroku\[release\.\d{4}\]: Process exited with status 1", logs)
    # The one-shot services are gone once they have ended.
    wait_for(
        lambda: not any("release" in str(s["Spec"]["Name"]) for s in services(swarm)),  # type: ignore[index]
        30,
        what="release services removed",
    )


def test_cove_run_attaches_to_a_one_off_swarm_task(
    swarm: Swarm, server: CoveServer, tmp_path: Path
) -> None:
    """`cove run` on Swarm: the dyno is a one-shot task whose slug runner calls Cove's
    rendezvous listener back with the command's terminal."""
    user = User.logged_in(tmp_path / "dev", server)
    repo = user.new_repo("one-off")
    user.cove("apps:create", "run-swarm", cwd=repo)
    user.cove("config:set", "GREETING=hello-from-config", cwd=repo)
    user.push(repo)

    # Pipes: arguments, config vars, /app and the exit status; inside the stack image's
    # container (tini is its first process).
    script = "import os; print(os.getcwd(), os.environ['GREETING'], os.environ['DYNO'], "
    script += "open('/proc/1/cmdline').read().split(chr(0))[0]); raise SystemExit(3)"
    result = user.cove("run", "-a", "run-swarm", "--no-tty", "python", "-c", script, check=False)
    assert result.returncode == 3, result.stderr
    assert re.fullmatch(r"/app hello-from-config run\.\d+ /usr/bin/tini\n", result.stdout)
    piped = user.run(*COVE, "run", "-a", "run-swarm", "python", check=False, input="print(6*7)\n")
    assert (piped.returncode, piped.stdout) == (0, "42\n"), piped.stderr

    # A terminal: the window size and a resize, the exit status.
    terminal = Terminal([*COVE, "run", "-a", "run-swarm", "bash"], user.env, rows=30, cols=100)
    try:
        terminal.expect(rb"Running bash on \xe2\xac\xa2 run-swarm\.\.\. up, run\.\d+\r\n")
        terminal.expect(rb"\$ ")
        assert dyno_services(swarm, server, "run-swarm").keys() >= {
            d["id"] for d in server.api("GET", "/apps/run-swarm/dynos").json() if d["type"] == "run"
        }
        window_size_follows(terminal)
        terminal.send(b"exit 7\r")
        assert terminal.wait() == 7, terminal.output.decode(errors="replace")
    finally:
        terminal.close()

    # The one-shot services are gone once their dynos have ended.
    wait_for(
        lambda: not any("-run-swarm-run-" in str(s["Spec"]["Name"]) for s in services(swarm)),  # type: ignore[index]
        30,
        what="one-off services removed",
    )
    # Detached: its output in the logs, from the service's log stream.
    detached = user.cove("run:detached", "-a", "run-swarm", "echo", "detached-$((40+2))")
    name = re.search(r"done, (run\.\d+)", detached.stderr)
    assert name, detached.stderr
    wait_for(
        lambda: f"app[{name.group(1)}]: detached-42" in user.cove("logs", cwd=repo).stdout,
        60,
        what="the detached dyno's output",
    )
    logs = user.cove("logs", "-n", "100", cwd=repo).stdout
    assert re.search(r"heroku\[run\.\d+\]: Process exited with status 7", logs)


def test_deploys_drop_no_requests_on_the_swarm_backend(server: CoveServer, tmp_path: Path) -> None:
    """Zero downtime holds with dynos on Swarm: the new dyno is up before the old one
    stops, under load, across a deploy, a config change and a rollback."""
    deploys_drop_no_requests(User.logged_in(tmp_path / "dev", server), server)


@pytest.mark.parametrize(
    ("env", "said"),
    [
        ({"COVE_DYNO_BACKEND": "kubernetes"}, "COVE_DYNO_BACKEND must be local or swarm"),
        (
            {"COVE_DYNO_BACKEND": "swarm", "COVE_DOCKER_SOCKET": "/nonexistent/docker.sock"},
            "COVE_DYNO_BACKEND=swarm: Docker at /nonexistent/docker.sock",
        ),
    ],
)
def test_a_backend_that_cannot_run_dynos_stops_the_server_saying_why(
    tmp_path: Path, env: dict[str, str], said: str
) -> None:
    home = tmp_path / "home"
    done = subprocess.run(
        [sys.executable, "-m", "cove.server"],
        env=server_env(home) | env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert said in done.stderr
    assert "Traceback" not in done.stderr


def test_a_swarm_without_the_stack_image_stops_the_server_saying_how_to_build_it(
    swarm: Swarm, tmp_path: Path
) -> None:
    env = {**swarm.env, "COVE_DYNO_BACKEND": "swarm", "COVE_SWARM_IMAGE": "cove-stack:missing"}
    done = subprocess.run(
        [sys.executable, "-m", "cove.server"],
        env=server_env(tmp_path / "home") | env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert "cove-stack:missing is not on this node" in done.stderr
    assert "cove stack:build" in done.stderr
