"""A Docker daemon of the tests' own (Debian's docker.io, its own socket and data directory,
no iptables or bridge changes to the host) in a single-node swarm, and Cove's stack image
built into it; or two daemons, the second in a network namespace of its own, as a two-node
swarm. Tests that need it skip, saying why, where Docker can't run."""

from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from cove.ports import free_port


@dataclass
class Swarm:
    socket: str
    image: str
    env: dict[str, str]  # what `cove server` and `cove stack:build` need to use it


@contextmanager
def docker_api(socket: str, timeout: float = 30) -> Iterator[httpx.Client]:
    """A client of the Engine API of the daemon at ``socket``."""
    transport = httpx.HTTPTransport(uds=socket)
    with httpx.Client(transport=transport, base_url="http://docker/v1.41", timeout=timeout) as c:
        yield c


def _api(
    socket: str, method: str, path: str, timeout: float = 30, **kwargs: object
) -> httpx.Response:
    with docker_api(socket, timeout) as client:
        return client.request(method, path, **kwargs)  # type: ignore[arg-type]


def _data_path_port() -> int:
    """A free UDP port for the swarm's VXLAN traffic, in the range Docker accepts
    (1024-49151: the kernel's own picks for free ports often lie above it)."""
    for port in random.sample(range(20000, 49152), 200):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            try:
                probe.bind(("0.0.0.0", port))
            except OSError:
                continue
        return port
    raise AssertionError("no free UDP port between 20000 and 49151 for the swarm")


@contextmanager
def dockerd(netns: str | None = None) -> Iterator[str]:
    """A running Docker daemon (in network namespace ``netns``: a second node on this
    machine); its socket path."""
    if os.geteuid() != 0 or shutil.which("dockerd") is None:
        pytest.skip("the swarm backend's tests need root and Docker (apt-get install docker.io)")
    base = Path(tempfile.mkdtemp(prefix="cove-dockerd-"))
    socket = str(base / "docker.sock")
    log = (base / "dockerd.log").open("wb")
    # nsenter rather than `ip netns exec`, which mounts a /sys without the cgroups.
    enter = ["nsenter", f"--net=/run/netns/{netns}"] if netns else []
    daemon = subprocess.Popen(
        [
            *enter,
            "dockerd",
            f"--data-root={base / 'data'}",
            f"--exec-root={base / 'exec'}",
            f"--pidfile={base / 'dockerd.pid'}",
            f"--host=unix://{socket}",
            "--iptables=false",
            "--bridge=none",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if _api(socket, "GET", "/info").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if daemon.poll() is not None or time.monotonic() > deadline:
                pytest.skip(f"dockerd did not start: {(base / 'dockerd.log').read_text()[-800:]}")
            time.sleep(0.1)
        yield socket
    finally:
        died = daemon.poll()  # before its time: say so, with its last words, below
        daemon.terminate()
        try:
            daemon.wait(30)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()
        log.close()
        last_words = (base / "dockerd.log").read_text(errors="replace")[-4000:]
        subprocess.run(["umount", "-R", str(base / "exec")], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)
    if died is not None:
        pytest.fail(f"dockerd{' in ' + netns if netns else ''} exited ({died}): {last_words}")


def init_swarm(socket: str, address: str) -> None:
    """``docker swarm init``, listening at ``address`` on a port picked at run time: another
    swarm on this machine (a second test run, a benchmark) must not collide on 2377, 4789
    or 7946."""
    listen = f"{address}:{free_port()}"
    init = _api(
        socket,
        "POST",
        "/swarm/init",
        json={"ListenAddr": listen, "AdvertiseAddr": listen, "DataPathPort": _data_path_port()},
    )
    # Docker runs here, so a swarm that won't start is a failure, not a skip.
    assert init.status_code == 200, f"docker swarm init failed: {init.text}"


@contextmanager
def docker_swarm() -> Iterator[str]:
    """A running daemon, swarm initialised: its socket path."""
    with dockerd() as socket:
        init_swarm(socket, "127.0.0.1")
        yield socket


@contextmanager
def network_namespace() -> Iterator[tuple[str, str, str]]:
    """A network namespace joined to this host by a veth pair: (its name, the host's
    address on the pair, the namespace's address)."""
    taken = subprocess.run(["ip", "-4", "addr"], capture_output=True, text=True).stdout
    subnet = next(n for n in random.sample(range(1, 255), 60) if f"10.213.{n}." not in taken)
    name, host, inside = f"cove-node-{subnet}", f"10.213.{subnet}.1", f"10.213.{subnet}.2"
    outer, inner = f"cvn{subnet}a", f"cvn{subnet}b"
    ns = ["ip", "netns", "exec", name, "ip"]
    steps = [
        ["ip", "netns", "add", name],
        ["ip", "link", "add", outer, "type", "veth", "peer", "name", inner],
        ["ip", "link", "set", inner, "netns", name],
        ["ip", "addr", "add", f"{host}/30", "dev", outer],
        ["ip", "link", "set", outer, "up"],
        [*ns, "addr", "add", f"{inside}/30", "dev", inner],
        [*ns, "link", "set", inner, "up"],
        [*ns, "link", "set", "lo", "up"],
    ]
    try:
        for step in steps:
            done = subprocess.run(step, capture_output=True, text=True)
            if done.returncode != 0:
                pytest.skip(f"no second network namespace here: {done.stderr.strip()}")
        yield name, host, inside
    finally:
        subprocess.run(["ip", "link", "del", outer], capture_output=True)
        subprocess.run(["ip", "netns", "del", name], capture_output=True)


def join_swarm(manager: str, worker: str, worker_address: str) -> str:
    """``docker swarm join`` of the daemon at ``worker`` as a worker of ``manager``'s swarm;
    the new node's id."""
    info = _api(manager, "GET", "/swarm").json()
    remote = _api(manager, "GET", "/info").json()["Swarm"]["RemoteManagers"][0]["Addr"]
    listen = f"{worker_address}:{free_port()}"
    join = _api(
        worker,
        "POST",
        "/swarm/join",
        json={
            "ListenAddr": listen,
            "AdvertiseAddr": listen,
            "RemoteAddrs": [remote],
            "JoinToken": info["JoinTokens"]["Worker"],
        },
    )
    assert join.status_code == 200, f"docker swarm join failed: {join.text}"
    return str(_api(worker, "GET", "/info").json()["Swarm"]["NodeID"])


def copy_image(source: str, target: str, image: str) -> None:
    """``docker save | docker load``: how an image reaches a node without a registry."""
    with docker_api(source, timeout=300) as c, c.stream("GET", f"/images/{image}/get") as saved:
        assert saved.status_code == 200, saved.read()
        loaded = _api(target, "POST", "/images/load", content=saved.iter_raw(), timeout=300)
    assert loaded.status_code == 200, loaded.text


def build_stack_image(socket: str, home: Path) -> Swarm:
    """`cove stack:build` into the daemon: debootstrap (half a minute, from the Debian
    archive), or the root filesystem tarball COVE_TEST_ROOTFS names (quicker by hand)."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("COVE_")},
        "COVE_HOME": str(home),
        "COVE_DOCKER_SOCKET": socket,
        # The stack is Debian's python3, which the image has as a package of its own.
        "COVE_PYTHON_DIRS": "/usr/bin",
        "COVE_PYTHON_DOWNLOADS": "never",
    }
    argv = [sys.executable, "-m", "cove.cli.main", "stack:build"]
    if os.environ.get("COVE_TEST_ROOTFS"):
        argv += ["--rootfs", os.environ["COVE_TEST_ROOTFS"]]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    image = done.stdout.strip().splitlines()[-1].split()[1]
    return Swarm(socket, image, {k: env[k] for k in ("COVE_DOCKER_SOCKET", "COVE_PYTHON_DIRS")})
