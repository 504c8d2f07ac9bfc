"""A dyno counts as up only when the socket on its $PORT is its own: a hostile dyno that
binds a victim's port first never receives the victim's traffic; the victim fails that
boot, says why, and comes up on a fresh port. Both with per-app users (the listener's uid
tells) and with every app running as Cove's own user (only the dyno's processes tell)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.e2e.gate import Gate
from tests.e2e.harness import CoveServer, User, running_server, wait_for
from tests.e2e.test_unprivileged import unprivileged  # noqa: F401 (a fixture)

TAKEN = "is taken by another process, not this dyno"


class Visitor:
    """Requests an app through the router over and over, keeping its dynos' answers
    (the router's own error pages, while no dyno is up, are not answers)."""

    def __init__(self, server: CoveServer, app: str) -> None:
        self.server, self.app = server, app
        self.answers: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._visit, daemon=True)

    def _visit(self) -> None:
        while not self._stop.is_set():
            try:
                response = self.server.get(self.app)
            except httpx.HTTPError:
                continue
            if response.text in ("victim", "squatter"):
                self.answers.append(response.text)
            else:
                self._stop.wait(0.05)  # an error page (H14/H10): pace the next try

    def __enter__(self) -> Visitor:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def noop_buildpack(root: Path) -> Path:
    bp = root / "noop-buildpack"
    (bp / "bin").mkdir(parents=True)
    for name, body in (("detect", "echo Plain"), ("compile", "true")):
        (bp / "bin" / name).write_text(f"#!/bin/sh\n{body}\n")
        (bp / "bin" / name).chmod(0o755)
    return bp


@dataclass
class Apps:
    server: CoveServer
    user: User
    buildpack: Path

    def deploy(self, template: str, name: str, procfile: str | None = None, **config: str) -> Path:
        repo = self.user.new_repo(template, name)
        if procfile is not None:
            (repo / "Procfile").write_text(procfile)
            self.user.commit_all(repo, "Procfile")
        self.user.cove("apps:create", name, cwd=repo)
        self.user.cove("buildpacks:set", str(self.buildpack), cwd=repo)
        if config:
            self.user.cove("config:set", *(f"{k}={v}" for k, v in config.items()), cwd=repo)
        return repo

    def logs(self, app: str) -> str:
        return self.user.cove("logs", "-a", app).stdout


@pytest.fixture(scope="module", params=["per-app users", "one user"])
def apps(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Apps]:
    if request.param == "one user":  # `cove server` as `nobody`: no per-app users
        server, user = request.getfixturevalue("unprivileged")
        yield Apps(server, user, noop_buildpack(server.home.parent))
        return
    root = tmp_path_factory.mktemp("ports")
    # Squatting needs a shared network namespace: dynos with their own (the default when
    # root) can't bind each other's ports at all (test_network_isolation.py).
    with running_server(root, COVE_NETWORK_ISOLATION="off") as server:
        yield Apps(server, User.logged_in(root / "dev", server), noop_buildpack(root))


def test_a_squatted_port_never_gets_the_victims_traffic(apps: Apps) -> None:
    server, user = apps.server, apps.user
    hostile = apps.deploy("hostile", "squatter", "web: python3 server.py\n")
    user.push(hostile)
    wait_for(lambda: server.get("squatter").text == "ok", 60, what="the squatter serving")

    gate = Gate()
    victim = apps.deploy("port-victim", "victim", GATE_PORT=str(gate.port))
    with ThreadPoolExecutor(1) as pool:
        push = pool.submit(user.push, victim, check=False)
        said, held = gate.next(timeout=300)
        port = int(said)
        gate.close()  # only the first start is held: its restart passes at once
        # The hostile dyno takes the port the victim was given before the victim binds it.
        assert server.get("squatter", "/squat", params={"port": port}).json() == {"ok": True}
        with Visitor(server, "victim") as visitor:
            # Until Cove has judged the port (or, without the check, the squatter answers).
            wait_for(
                lambda: visitor.answers or TAKEN in apps.logs("victim"),
                120,
                what="Cove to look at the victim's port",
            )
            gate.let_go(held)  # the victim's bind now fails: it crashes and restarts
            wait_for(lambda: visitor.answers, 120, what="an answer from a victim dyno")
        push.result(timeout=300)

    assert set(visitor.answers) == {"victim"}
    assert server.get("squatter", "/squatted").json()["requests"] == 0
    logs = apps.logs("victim")
    assert f"Port {port} ($PORT) {TAKEN}: no requests are routed to it" in logs
    assert "heroku[web.1]: Process exited with status 1" in logs
    assert gate.arrived == 2  # the restart got a fresh port, which nobody had taken
