"""Servers in roles with dynos on Docker Swarm: an API server builds; a router + manager
server runs the dynos as swarm services whose runners fetch slugs from the API server; a
standby manager takes over when it dies, replacing the services it left."""

from __future__ import annotations

import re
import shutil
import signal
from pathlib import Path

from tests.e2e.docker_swarm import Swarm
from tests.e2e.harness import CoveServer, User, wait_for
from tests.e2e.test_roles import role_server, up_dynos
from tests.e2e.test_swarm import dyno_services, services


def _same_ca(api: CoveServer, root: Path) -> None:
    """Servers of one Cove share its CA: the runners trust the API's certificate."""
    (root / "cove-home" / "tls").mkdir(parents=True)
    for name in ("ca.pem", "ca-key.pem"):
        shutil.copy2(api.home / "tls" / name, root / "cove-home" / "tls" / name)


def test_servers_in_roles_run_dynos_on_swarm(
    swarm: Swarm, shared_store: str, tmp_path: Path
) -> None:
    servers: list[CoveServer] = []
    try:
        # (The API server builds with the interpreters the stack image has, and starts
        # `cove run`'s dynos on the swarm.)
        api = role_server(
            tmp_path / "api",
            "api",
            COVE_DATABASE_URL=shared_store,
            COVE_DYNO_BACKEND="swarm",
            COVE_SWARM_IMAGE=swarm.image,
            **swarm.env,
        )
        servers.append(api)
        managers = {
            **swarm.env,
            "COVE_DATABASE_URL": shared_store,
            "COVE_SECRETS_KEY_FILE": str(api.home / "secrets.key"),
            "COVE_DYNO_BACKEND": "swarm",
            "COVE_SWARM_IMAGE": swarm.image,
            "COVE_SWARM_API_URL": api.api_url,
        }
        for name in ("edge", "standby"):
            _same_ca(api, tmp_path / name)
        edge = role_server(tmp_path / "edge", "router,manager", **managers)
        servers.append(edge)
        standby = role_server(tmp_path / "standby", "router,manager", **managers)
        servers.append(standby)

        user = User.logged_in(tmp_path / "dev", api)
        repo = user.new_repo("release-phase", "split-swarm")
        user.cove("apps:create", "split-swarm", cwd=repo)
        push = user.push(repo).stderr
        assert re.search(r"release command running in release\.\d+ with GREETING=None", push)
        assert "Verifying deploy... done." in push
        assert edge.get("split-swarm").text == "hello from release phase app"

        user.cove("ps:scale", "web=4", cwd=repo)
        wait_for(lambda: len(up_dynos(api, "split-swarm")) == 4, 120, what="four web dynos")
        before = dyno_services(swarm, api, "split-swarm")
        assert len(before) == 4
        logs = user.cove("logs", "-n", "300", cwd=repo).stdout
        assert "app[web.4]" in logs and "Listening at" in logs

        # The edge dies with its services running: the standby takes the lease, removes
        # them and starts the formation again.
        edge.stop(signal.SIGKILL)
        wait_for(
            lambda: (
                len(after := dyno_services(swarm, api, "split-swarm")) == 4
                and not set(before.values()) & set(after.values())
                and len(up_dynos(api, "split-swarm")) == 4
            ),
            120,
            what="the formation started again by the standby",
        )
        remaining = {str(s["Spec"]["Name"]) for s in services(swarm)}  # type: ignore[index]
        assert not set(before.values()) & remaining  # the dead manager's services are gone
        assert standby.get("split-swarm").text == "hello from release phase app"

        # A one-off dyno of the API server, on the swarm, attached through its rendezvous.
        run = user.cove("run", "--no-tty", "echo $DYNO; exit 5", cwd=repo, check=False)
        assert run.returncode == 5, run.stderr
        assert re.fullmatch(r"run\.\d+\n", run.stdout)
    finally:
        for server in reversed(servers):
            server.stop()
