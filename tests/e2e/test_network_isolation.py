"""Each dyno in its own network namespace (cove.sandbox.netns): a hostile dyno cannot open a
connection to a victim dyno's port, to Cove's API or anything else on the host, nor to the
victim's add-ons; it reaches its own add-on and the outside world, and the router serves
both apps."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pytest

from cove.sandbox.netns import ORPHAN_AGE, DynoNetworks, sweep_orphans
from tests.e2e.harness import CoveServer, User, running_server, wait_for

pytestmark = pytest.mark.skipif(
    DynoNetworks.unavailable() is not None,
    reason=f"dyno networks need root, ip and nft: {DynoNetworks.unavailable()}",
)

# "The outside world": a network namespace of the test's own behind a veth, which dynos
# reach through the host's routing and masquerading, as they would reach the Internet.
OUTSIDE_NS = "cove-test-outside"
OUTSIDE_LINK = "covetestout0"
OUTSIDE_HOST, OUTSIDE_PEER = "198.18.213.1", "198.18.213.2"


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


class Greeter:
    """A TCP listener that says ``hello`` to every connection and counts them."""

    def __init__(self, host: str) -> None:
        self.sock = socket.create_server((host, 0))
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            with conn:
                conn.sendall(b"hello")

    def close(self) -> None:
        self.sock.close()


@pytest.fixture(scope="module")
def outside() -> Iterator[int]:
    """A listener in the "outside world" namespace; yields its port."""
    subprocess.run(["ip", "netns", "del", OUTSIDE_NS], capture_output=True)
    subprocess.run(["ip", "link", "del", OUTSIDE_LINK], capture_output=True)
    _ip("netns", "add", OUTSIDE_NS)
    server = None
    try:
        _ip(
            "link", "add", OUTSIDE_LINK, "type", "veth", "peer", "name", "eth0", "netns", OUTSIDE_NS
        )
        _ip("addr", "add", f"{OUTSIDE_HOST}/30", "dev", OUTSIDE_LINK)
        _ip("link", "set", OUTSIDE_LINK, "up")
        _ip("-n", OUTSIDE_NS, "addr", "add", f"{OUTSIDE_PEER}/30", "dev", "eth0")
        _ip("-n", OUTSIDE_NS, "link", "set", "eth0", "up")
        script = (
            "import socket, sys\n"
            f"s = socket.create_server(('{OUTSIDE_PEER}', 0))\n"
            "print(s.getsockname()[1], flush=True)\n"
            "while True:\n"
            "    c, _ = s.accept()\n"
            "    c.sendall(b'outside')\n"
            "    c.close()\n"
        )
        server = subprocess.Popen(
            ["ip", "netns", "exec", OUTSIDE_NS, sys.executable, "-c", script],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert server.stdout is not None
        yield int(server.stdout.readline())
    finally:
        if server is not None:
            server.kill()
            server.wait()
        subprocess.run(["ip", "link", "del", OUTSIDE_LINK], capture_output=True)
        subprocess.run(["ip", "netns", "del", OUTSIDE_NS], capture_output=True)


@dataclass
class Neighbours:
    server: CoveServer
    user: User
    host_service: Greeter  # something else on the host, listening on every address

    def attack(self, endpoint: str, app: str = "hostile", **query: Any) -> dict[str, Any]:
        response = self.server.get(app, endpoint, params=query)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    def connects(self, host: str, port: int) -> bool:
        result = self.attack("/connect", host=host, port=port)
        return bool(result["ok"])

    def redis_port(self, app: str) -> tuple[str, int]:
        url = self.server.api("GET", f"/apps/{app}/config-vars").json()["REDIS_URL"]
        parts = urlsplit(url)
        assert parts.hostname and parts.port
        return parts.hostname, parts.port


@pytest.fixture(scope="module")
def neighbours(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Neighbours]:
    root = tmp_path_factory.mktemp("netns")
    host_service = Greeter("0.0.0.0")
    try:
        with running_server(root) as server:
            user = User.logged_in(root / "dev", server)
            for name in ("victim", "hostile"):
                repo = user.new_repo("hostile", name)
                user.cove("apps:create", name, cwd=repo)
                user.cove("addons:create", "heroku-redis", "-a", name)
                user.push(repo)
            yield Neighbours(server, user, host_service)
    finally:
        host_service.close()


def test_the_report_says_dynos_have_their_own_network(neighbours: Neighbours) -> None:
    log = neighbours.server.log_path.read_text()
    assert "Isolation in force: network isolation: each dyno in its own network namespace" in log


def test_dynos_have_their_own_addresses_and_the_router_reaches_them(
    neighbours: Neighbours,
) -> None:
    hostile = neighbours.attack("/address")
    victim = neighbours.attack("/address", app="victim")
    assert hostile["address"] != victim["address"]
    assert all(a["address"].startswith("10.213.") for a in (hostile, victim))
    assert neighbours.server.get("victim").text == "ok"
    assert neighbours.server.get("hostile").text == "ok"


def test_a_hostile_dyno_cannot_reach_the_victim_dyno(neighbours: Neighbours) -> None:
    victim = neighbours.attack("/address", app="victim")
    assert not neighbours.connects(victim["address"], victim["port"])
    # Its own loopback is its own: nothing of the victim's (nor of the host's) is there.
    assert not neighbours.connects("127.0.0.1", victim["port"])
    # Binding the victim's port in its own namespace takes nothing from the victim.
    assert neighbours.attack("/squat", port=victim["port"])["ok"]
    assert all(neighbours.server.get("victim").text == "ok" for _ in range(5))
    assert neighbours.attack("/squatted")["requests"] == 0


def test_a_hostile_dyno_cannot_reach_cove_or_the_host(neighbours: Neighbours) -> None:
    server, service = neighbours.server, neighbours.host_service
    api_port, router_port = urlsplit(server.api_url).port, server.info["router_port"]
    assert api_port
    own = neighbours.attack("/address")["address"]
    gateway = own.rsplit(".", 1)[0] + "." + str(int(own.rsplit(".", 1)[1]) - 1)
    host_addresses = ["10.213.255.254", *_host_addresses(), gateway]
    for host in ["127.0.0.1", *host_addresses]:
        assert not neighbours.connects(host, api_port), host
        assert not neighbours.connects(host, router_port), host
        assert not neighbours.connects(host, service.port), host
    assert service.accepted == 0
    # The host itself reaches that service (the attempts above were really refused).
    with socket.create_connection((host_addresses[-1], service.port), timeout=5) as conn:
        assert conn.recv(5) == b"hello"


def test_a_dyno_reaches_its_own_add_on_only(neighbours: Neighbours) -> None:
    host, own_port = neighbours.redis_port("hostile")
    _, victim_port = neighbours.redis_port("victim")
    assert host == "127.0.0.1"  # as the user sees it; the dyno's copy names the add-on address
    environ = neighbours.attack("/read", path="/proc/self/environ")["data"]
    (dyno_url,) = [v for v in environ.split("\0") if v.startswith("REDIS_URL=")]
    assert urlsplit(dyno_url.partition("=")[2]).hostname == "10.213.255.254"
    assert neighbours.connects("10.213.255.254", own_port)
    assert not neighbours.connects("10.213.255.254", victim_port)
    assert not neighbours.connects("127.0.0.1", own_port)


def test_a_dyno_reaches_the_outside_world(neighbours: Neighbours, outside: int) -> None:
    result = neighbours.attack("/connect", host=OUTSIDE_PEER, port=outside)
    assert result == {"ok": True, "said": "outside"}


def test_networks_go_away_with_their_dynos(neighbours: Neighbours) -> None:
    server, user = neighbours.server, neighbours.user

    def mine() -> set[str]:
        """This server's dyno namespaces that exist on the host."""
        records = {record.name for record in (server.home / "networks").iterdir()}
        return records & set(_namespaces())

    before = mine()
    assert len(before) == 2
    user.cove("ps:scale", "web=0", "-a", "hostile")
    wait_for(lambda: len(mine()) == 1, 30, what="hostile's network removed")
    assert mine() < before
    user.cove("ps:scale", "web=1", "-a", "hostile")
    wait_for(lambda: server.get("hostile").text == "ok", 60, what="hostile back")
    assert len(mine()) == 2


def test_a_dead_servers_networks_are_swept(neighbours: Neighbours) -> None:
    """A namespace nobody uses any more (its server was killed and never restarted) goes,
    with its veth and its add-on access; live dynos' namespaces stay."""
    live = {record.name for record in (neighbours.server.home / "networks").iterdir()}
    assert live
    name, link = "cove-orphan-e2e", "cove-d16000"
    subprocess.run(["ip", "netns", "del", name], capture_output=True)
    _ip("netns", "add", name)
    _ip("link", "add", link, "type", "veth", "peer", "name", "eth0", "netns", name)
    _ip("-n", name, "addr", "add", "10.213.250.2/30", "dev", "eth0")
    add = ["nft", "add", "element", "inet", "cove", "addon_access", "{ 10.213.250.2 . 6399 }"]
    subprocess.run(add, check=True)

    swept = sweep_orphans(now=time.time() + ORPHAN_AGE + 1)
    assert name in swept
    assert name not in _namespaces() and live <= set(_namespaces())  # this server's dynos
    links = subprocess.run(["ip", "-br", "link"], capture_output=True, text=True).stdout
    assert link not in links
    elements = subprocess.run(
        ["nft", "list", "set", "inet", "cove", "addon_access"], capture_output=True, text=True
    ).stdout
    assert "10.213.250.2" not in elements
    assert neighbours.server.get("victim").text == "ok"


def _namespaces() -> list[str]:
    text = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    names = [line.split()[0] for line in text.splitlines()]
    return [name for name in names if name.startswith("cove-") and name != OUTSIDE_NS]


def _host_addresses() -> list[str]:
    """The host's IPv4 addresses other than loopback and the dyno pool."""
    text = subprocess.run(["ip", "-4", "-o", "addr"], capture_output=True, text=True).stdout
    found = []
    for line in text.splitlines():
        address = line.split()[3].split("/")[0]
        if not address.startswith(("127.", "10.213.")):
            found.append(address)
    return found
