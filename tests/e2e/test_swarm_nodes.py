"""Dynos on two Swarm nodes: a second Docker daemon in a network namespace of its own joins
the swarm as a worker. Dynos go to the nodes that have the stack image (a node label: Cove
sets it on its own node, the operator on the others after loading the image); the router
reaches dynos at their node's address; dynos on the other node are stopped through Swarm."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from cove.ports import free_port
from cove.swarm.backend import LABEL_STACK, stack_id
from tests.e2e.docker_swarm import (
    Swarm,
    copy_image,
    docker_api,
    dockerd,
    init_swarm,
    join_swarm,
    network_namespace,
)
from tests.e2e.harness import CoveServer, User, running_server, wait_for


@pytest.fixture(scope="module")
def two_nodes(swarm: Swarm) -> Iterator[tuple[Swarm, str, str]]:
    """A swarm of this host's daemon and one in a network namespace, both with the stack
    image (copied from the session's swarm): the swarm, the second node's id and the
    address this host has for it."""
    with (
        network_namespace() as (netns, host_address, node_address),
        dockerd() as manager,
        dockerd(netns) as worker,
    ):
        init_swarm(manager, host_address)
        worker_node = join_swarm(manager, worker, node_address)
        copy_image(swarm.socket, manager, swarm.image)
        copy_image(swarm.socket, worker, swarm.image)
        yield (
            Swarm(manager, swarm.image, {**swarm.env, "COVE_DOCKER_SOCKET": manager}),
            worker_node,
            host_address,
        )


def dynos_by_node(swarm: Swarm, server: CoveServer, app: str) -> dict[str, str]:
    """Each of the app's dynos that is up (its name) -> the node its task runs on."""
    up = {
        d["id"]: d["name"]
        for d in server.api("GET", f"/apps/{app}/dynos").json()
        if d["state"] == "up"
    }
    found = {}
    with docker_api(swarm.socket) as docker:
        for task in docker.get(
            "/tasks", params={"filters": json.dumps({"desired-state": ["running"]})}
        ).json():
            dyno = task["Spec"]["ContainerSpec"]["Labels"].get("cove.dyno")
            if dyno in up and task["Status"]["State"] == "running":
                found[up[dyno]] = task["NodeID"]
    return found


def test_dynos_run_and_are_routed_to_on_a_second_node(
    two_nodes: tuple[Swarm, str, str], tmp_path: Path
) -> None:
    swarm, worker, host_address = two_nodes
    # The API listens on every address: users reach it on loopback, the second node at this
    # host's address on their link, which Cove's certificate then covers too.
    port = free_port()
    env = {
        **swarm.env,
        "COVE_DYNO_BACKEND": "swarm",
        "COVE_SWARM_IMAGE": swarm.image,
        "COVE_API_HOST": "0.0.0.0",
        "COVE_API_PORT": str(port),
        "COVE_PUBLIC_API_URL": f"https://127.0.0.1:{port}",
        "COVE_SWARM_API_URL": f"https://{host_address}:{port}",
    }
    with running_server(tmp_path, **env) as server:
        user = User.logged_in(tmp_path / "dev", server)
        repo = user.new_repo("config-example")
        user.cove("apps:create", "two-nodes", cwd=repo)
        assert "Verifying deploy... done." in user.push(repo).stderr
        user.cove("ps:scale", "web=2", cwd=repo)

        # Only Cove's own node is labelled with the stack image: both dynos run there.
        wait_for(lambda: len(dynos_by_node(swarm, server, "two-nodes")) == 2, 90, what="web=2")
        assert worker not in dynos_by_node(swarm, server, "two-nodes").values()

        # The operator's step for a new node, once the image is loaded there: the label.
        with docker_api(swarm.socket) as docker:
            image = docker.get(f"/images/{swarm.image}/json").json()
            node = docker.get(f"/nodes/{worker}").json()
            spec = {**node["Spec"], "Labels": {LABEL_STACK: stack_id(image)}}
            version = node["Version"]["Index"]
            labelled = docker.post(f"/nodes/{worker}/update?version={version}", json=spec)
            assert labelled.status_code == 200, labelled.text

        user.cove("ps:scale", "web=4", cwd=repo)
        wait_for(lambda: len(dynos_by_node(swarm, server, "two-nodes")) == 4, 90, what="web=4")
        placed = dynos_by_node(swarm, server, "two-nodes")
        remote = sorted(name for name, node in placed.items() if node == worker)
        assert remote, f"no dyno on the second node: {placed}"

        # The router reaches the dynos of the other node at that node's address.
        for _ in range(40):
            assert server.get("two-nodes").status_code == 200

        def routed() -> set[str]:
            logs = user.cove("logs", "-n", "400", "-d", "router", cwd=repo).stdout
            return set(re.findall(r"dyno=(web\.\d+) .*status=200", logs))

        wait_for(lambda: set(remote) <= routed(), 30, what=f"requests served by {remote}")

        # Scaled down, the other node's dynos are stopped through Swarm.
        user.cove("ps:scale", "web=1", cwd=repo)
        wait_for(
            lambda: list(dynos_by_node(swarm, server, "two-nodes")) == ["web.1"],
            90,
            what="web=1",
        )
        with docker_api(swarm.socket) as docker:
            wait_for(
                lambda: (
                    not [
                        t
                        for t in docker.get("/tasks").json()
                        if t["NodeID"] == worker and t["Status"]["State"] == "running"
                    ]
                ),
                60,
                what="no task left on the second node",
            )
        logs = user.cove("logs", "-n", "400", cwd=repo).stdout
        for name in remote:
            if name != "web.1":
                assert f"app[{name}]" in logs or f"heroku[{name}]" in logs
                assert re.search(rf"heroku\[{re.escape(name)}\]: Stopping all processes", logs)
        assert server.get("two-nodes").status_code == 200

        # `cove run` with its dyno on the second node: it calls Cove back from there. (Swarm
        # puts a new service on the node with fewer tasks; web.1 may hold either.)
        with docker_api(swarm.socket) as docker:
            address = docker.get(f"/nodes/{worker}").json()["Status"]["Addr"]
        # (The address it reaches this host from: its node's, on the host network.)
        source = "import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
        source += f"s.connect(('{host_address}', 9)); print(s.getsockname()[0]); exit(4)"
        seen = []
        for _ in range(3):
            run = user.cove("run", "--no-tty", "python", "-c", source, cwd=repo, check=False)
            assert run.returncode == 4, run.stderr
            seen.append(run.stdout.strip())
            if seen[-1] == address:
                break
        assert seen[-1] == address, f"no one-off dyno ran on {address}: {seen}"
