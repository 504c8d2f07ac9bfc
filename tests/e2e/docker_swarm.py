"""A Docker daemon of the tests' own (Debian's docker.io, its own socket and data directory,
no iptables or bridge changes to the host) in a single-node swarm, and Cove's stack image
built into it. Tests that need it skip, saying why, where Docker can't run."""

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


def _api(socket: str, method: str, path: str, **kwargs: object) -> httpx.Response:
    transport = httpx.HTTPTransport(uds=socket)
    with httpx.Client(transport=transport, base_url="http://docker/v1.41", timeout=30) as c:
        return c.request(method, path, **kwargs)  # type: ignore[arg-type]


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
def docker_swarm() -> Iterator[str]:
    """A running daemon, swarm initialised: its socket path."""
    if os.geteuid() != 0 or shutil.which("dockerd") is None:
        pytest.skip("the swarm backend's tests need root and Docker (apt-get install docker.io)")
    base = Path(tempfile.mkdtemp(prefix="cove-dockerd-"))
    socket = str(base / "docker.sock")
    log = (base / "dockerd.log").open("wb")
    daemon = subprocess.Popen(
        [
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
        # Ports picked at run time: another swarm on this machine (a second test run, a
        # benchmark) must not collide on 2377, 4789 or 7946.
        address = f"127.0.0.1:{free_port()}"
        init = _api(
            socket,
            "POST",
            "/swarm/init",
            json={
                "ListenAddr": address,
                "AdvertiseAddr": address,
                "DataPathPort": _data_path_port(),
            },
        )
        # Docker runs here, so a swarm that won't start is a failure, not a skip.
        assert init.status_code == 200, f"docker swarm init failed: {init.text}"
        yield socket
    finally:
        daemon.terminate()
        try:
            daemon.wait(30)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()
        log.close()
        subprocess.run(["umount", "-R", str(base / "exec")], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


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
