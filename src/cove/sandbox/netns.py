"""Each dyno in its own network namespace, reachable only through the router.

A dyno gets a veth pair: ``cove-d<N>`` on the host with ``10.213.N.1/30`` (from the pool,
``COVE_DYNO_NETWORK``), ``eth0`` in the namespace with ``…N.2`` and a default route through
the host side. The router, in the host's namespace, connects to ``…N.2:$PORT``. One
nftables table, ``inet cove``, shared by every Cove server on the host, decides the rest:

- from a dyno to the host (*input*): replies, and TCP to the add-on address
  (``…255.254``, on the host's loopback interface) on the ports of the app's own
  add-ons (the ``addon_access`` set of address . port); nothing else: not the API, the
  router's ports, another app's Redis, or anything on the host's own addresses;
- to a dyno from anywhere but the host (*forward*): replies only, so dynos never reach
  each other;
- from a dyno out (*forward*, *postrouting*): allowed and masqueraded (package downloads,
  external APIs and databases).

The data path stays in the kernel. Which pool index is free is decided by the kernel
itself: interface names are unique on the host, so creating ``cove-d<N>`` either succeeds
or says it exists (another dyno, maybe another Cove server's, has that index). Each network
this server made is recorded under ``COVE_HOME/networks`` and swept at the next start.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import logging
import os
import shutil
import subprocess
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

log = logging.getLogger(__name__)

TABLE = "cove"
LINK_PREFIX = "cove-d"  # host sides of the dynos' veths (15 characters at most)
# The add-on address is on the host's loopback interface (not a dummy one: container
# kernels often lack the module); the input rules keep strangers from reaching it.
ADDON_LINK = "lo"
NETNS_DIR = Path("/run/netns")  # where `ip netns` keeps named namespaces
MTU = 65535  # loopback's: bulk transfers at loopback speed (docs/decisions.md)
TIMEOUT = 10.0  # for each ip/nft call


class NetworkError(RuntimeError):
    pass


@dataclass(frozen=True)
class Pool:
    """The dyno address pool: a /30 per dyno, the last /30 kept for the add-on address."""

    network: ipaddress.IPv4Network

    @classmethod
    def parse(cls, text: str) -> Pool:
        try:
            network = ipaddress.IPv4Network(text.strip())
        except ValueError as exc:
            raise ValueError(f"COVE_DYNO_NETWORK: {text!r} is not an IPv4 network: {exc}") from None
        if network.prefixlen > 28:
            raise ValueError(f"COVE_DYNO_NETWORK: {text!r} is too small (a /28 at least)")
        return cls(network)

    @property
    def size(self) -> int:
        """How many dynos the pool holds at once."""
        return self.network.num_addresses // 4 - 1

    @property
    def addon_address(self) -> ipaddress.IPv4Address:
        return self.network.broadcast_address - 1

    def subnet(self, index: int) -> tuple[ipaddress.IPv4Address, ipaddress.IPv4Address]:
        """(host side, dyno side) of the /30 number ``index``."""
        if not 0 <= index < self.size:
            raise IndexError(index)
        base = self.network.network_address + 4 * index
        return base + 1, base + 2


def ruleset(pool: Pool) -> str:
    """The ``inet cove`` table, for ``nft -f``: one atomic transaction that makes the table
    if missing and replaces its rules, keeping ``addon_access``'s elements (other Cove
    servers on this host may have dynos running)."""
    dynos = f'"{LINK_PREFIX}*"'
    chains = {
        "input": (
            "type filter hook input priority filter; policy accept;",
            [
                f"iifname {dynos} ct state established,related accept",
                f"iifname {dynos} ip daddr {pool.addon_address} "
                "ip saddr . tcp dport @addon_access accept",
                # Refused at once (a reset, an ICMP error) rather than left to time out.
                f"iifname {dynos} meta l4proto tcp reject with tcp reset",
                f"iifname {dynos} reject",
                f'ip daddr {pool.addon_address} iifname != {{ "lo", {dynos} }} drop',
            ],
        ),
        "forward": (
            "type filter hook forward priority filter; policy accept;",
            [
                f"oifname {dynos} ct state established,related accept",
                f"oifname {dynos} meta l4proto tcp reject with tcp reset",
                f"oifname {dynos} reject",
                f"iifname {dynos} accept",
            ],
        ),
        "postrouting": (
            "type nat hook postrouting priority srcnat; policy accept;",
            [f"ip saddr {pool.network} oifname != {dynos} masquerade"],
        ),
    }
    lines = [
        f"add table inet {TABLE}",
        f"add set inet {TABLE} addon_access {{ type ipv4_addr . inet_service; }}",
    ]
    for name, (kind, rules) in chains.items():
        lines.append(f"add chain inet {TABLE} {name} {{ {kind} }}")
        lines.append(f"flush chain inet {TABLE} {name}")
        lines += [f"add rule inet {TABLE} {name} {rule}" for rule in rules]
    return "\n".join(lines) + "\n"


def elements(address: ipaddress.IPv4Address, ports: Iterable[int]) -> str:
    """``addon_access`` elements: ``address`` may open TCP connections to these ports."""
    return ", ".join(f"{address} . {port}" for port in sorted(set(ports)))


@dataclass(frozen=True)
class DynoNetwork:
    """One dyno's namespace and addresses."""

    name: str  # the namespace, under /run/netns
    index: int
    host_address: ipaddress.IPv4Address
    address: ipaddress.IPv4Address  # the dyno's: where the router connects
    addon_ports: tuple[int, ...]

    @property
    def path(self) -> Path:
        return NETNS_DIR / self.name

    @property
    def link(self) -> str:
        return f"{LINK_PREFIX}{self.index}"


def _run(argv: list[str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, input=stdin, capture_output=True, text=True, timeout=TIMEOUT, check=False
    )


def _check(argv: list[str], stdin: str = "") -> None:
    result = _run(argv, stdin)
    if result.returncode != 0:
        raise NetworkError(f"{' '.join(argv[:3])}: {result.stderr.strip()[-500:]}")


class DynoNetworks:
    """Makes and removes dyno networks on this host (root only: see ``unavailable``)."""

    def __init__(self, pool: Pool, state_dir: Path) -> None:
        self.pool = pool
        self.state_dir = state_dir
        self._taken: set[int] = set()  # indexes this server holds
        self._next = 0

    @property
    def addon_address(self) -> str:
        return str(self.pool.addon_address)

    @staticmethod
    def unavailable() -> str | None:
        """Why dyno networks can't be made on this host, or None."""
        if os.geteuid() != 0:
            return "Cove is not running as root"
        missing = [tool for tool in ("ip", "nft", "nsenter") if shutil.which(tool) is None]
        if missing:
            return f"{', '.join(missing)} not installed (Debian: iproute2, nftables, util-linux)"
        return None

    def setup(self) -> None:
        """The shared table (made once per host), the add-on address, forwarding for
        egress, and a sweep of the networks a previous run of this server left."""
        _check(["nft", "-f", "-"], ruleset(self.pool))
        address = f"{self.pool.addon_address}/32"
        if address not in _run(["ip", "-o", "addr", "show", "dev", ADDON_LINK]).stdout:
            _check(["ip", "addr", "add", address, "dev", ADDON_LINK])
        Path("/proc/sys/net/ipv4/ip_forward").write_text("1\n")
        self.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        for record in self.state_dir.iterdir():
            with contextlib.suppress(Exception):
                self.remove(self._load(record))
            record.unlink(missing_ok=True)
        with contextlib.suppress(Exception):
            sweep_orphans()

    def create(self, dyno_id: str, addon_ports: Iterable[int] = ()) -> DynoNetwork:
        name = f"cove-{dyno_id}"
        _check(["ip", "netns", "add", name])
        try:
            index = self._claim_link(name)
            host, dyno = self.pool.subnet(index)
            network = DynoNetwork(name, index, host, dyno, tuple(sorted(set(addon_ports))))
            self._record(network)
            _check(
                ["ip", "-batch", "-"],
                f"addr add {host}/30 dev {network.link}\nlink set {network.link} up\n",
            )
            _check(
                ["ip", "-n", name, "-batch", "-"],
                f"addr add {dyno}/30 dev eth0\nlink set eth0 up\nlink set lo up\n"
                f"route add default via {host}\n",
            )
            if network.addon_ports:
                items = elements(dyno, network.addon_ports)
                _check(["nft", "add", "element", "inet", TABLE, "addon_access", f"{{ {items} }}"])
        except BaseException:
            with contextlib.suppress(Exception):
                self.remove(self._load(self.state_dir / name))
            _run(["ip", "netns", "del", name])
            (self.state_dir / name).unlink(missing_ok=True)
            raise
        return network

    def _claim_link(self, name: str) -> int:
        """A free pool index, taken by creating its veth (the peer goes into ``name``)."""
        for _ in range(self.pool.size):
            index, self._next = self._next, (self._next + 1) % self.pool.size
            if index in self._taken:
                continue
            link = f"{LINK_PREFIX}{index}"
            peer = ["peer", "name", "eth0", "mtu", str(MTU), "netns", name]
            result = _run(["ip", "link", "add", link, "mtu", str(MTU), "type", "veth", *peer])
            if result.returncode == 0:
                self._taken.add(index)
                return index
            if "exists" not in result.stderr:
                raise NetworkError(f"ip link add: {result.stderr.strip()[-500:]}")
        raise NetworkError(f"no free dyno address in {self.pool.network}")

    def remove(self, network: DynoNetwork) -> None:
        """Undo ``create`` (each step whatever the others do)."""
        if network.addon_ports:
            items = elements(network.address, network.addon_ports)
            _run(["nft", "delete", "element", "inet", TABLE, "addon_access", f"{{ {items} }}"])
        _run(["ip", "link", "del", network.link])
        _run(["ip", "netns", "del", network.name])
        self._taken.discard(network.index)
        (self.state_dir / network.name).unlink(missing_ok=True)

    def _record(self, network: DynoNetwork) -> None:
        record = {"index": network.index, "ports": list(network.addon_ports)}
        (self.state_dir / network.name).write_text(json.dumps(record))

    def _load(self, path: Path) -> DynoNetwork:
        record = json.loads(path.read_text())
        host, dyno = self.pool.subnet(int(record["index"]))
        ports = tuple(int(p) for p in record["ports"])
        return DynoNetwork(path.name, int(record["index"]), host, dyno, ports)


ORPHAN_AGE = 300.0  # seconds: older than any dyno start, so never one being set up


def sweep_orphans(now: float | None = None) -> list[str]:
    """Remove dyno namespaces that no process uses any more and that are older than
    ``ORPHAN_AGE``: left by a Cove server that was killed and never started again on its
    COVE_HOME (which sweeps its own). Their veths go with them (a veth dies with its
    peer); their ``addon_access`` elements are deleted by address. Returns their names."""
    now = time.time() if now is None else now
    swept = []
    for path in NETNS_DIR.glob("cove-*"):
        try:
            if now - path.lstat().st_mtime < ORPHAN_AGE:
                continue
        except OSError:
            continue
        if _run(["ip", "netns", "pids", path.name]).stdout.strip():
            continue
        shown = _run(["ip", "-n", path.name, "-4", "-o", "addr", "show", "dev", "eth0"]).stdout
        addresses = {word.split("/")[0] for word in shown.split() if word.count(".") == 3}
        _forget_elements(addresses)
        if _run(["ip", "netns", "del", path.name]).returncode == 0:
            swept.append(path.name)
    if swept:
        log.info("removed %d dyno networks left by a server that died", len(swept))
    return swept


def _forget_elements(addresses: set[str]) -> None:
    if not addresses:
        return
    listing = _run(["nft", "-j", "list", "set", "inet", TABLE, "addon_access"]).stdout
    with contextlib.suppress(ValueError, KeyError, TypeError):
        for item in json.loads(listing)["nftables"]:
            for element in item.get("set", {}).get("elem", []):
                address, port = element["concat"]
                if address in addresses:
                    items = f"{{ {address} . {int(port)} }}"
                    _run(["nft", "delete", "element", "inet", TABLE, "addon_access", items])


def dyno_config(config: Mapping[str, str], ports: Iterable[int], address: str) -> dict[str, str]:
    """``config`` as a namespaced dyno sees it: add-on URLs that name this host's loopback
    (``127.0.0.1:<port>`` for a port in ``ports``) name the add-on address instead, as the
    dyno's own loopback is its alone."""
    wanted = set(ports)
    out = dict(config)
    for key, value in config.items():
        if "://" not in value:
            continue
        with contextlib.suppress(ValueError):
            parts = urlsplit(value)
            if parts.hostname in ("127.0.0.1", "localhost") and parts.port in wanted:
                netloc = parts.netloc.rpartition("@")
                host = f"{address}:{parts.port}"
                out[key] = urlunsplit(parts._replace(netloc=f"{netloc[0]}{netloc[1]}{host}"))
    return out
