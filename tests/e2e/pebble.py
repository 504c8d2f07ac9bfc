"""Pebble, Let's Encrypt's small test ACME server (Debian's ``pebble`` package), for the
ACM tests: its directory over HTTPS with a certificate from a CA of the test's own, its
DNS lookups sent to ``pebble-challtestsrv`` (same package) answering every A query with
127.0.0.1, and its http-01 validation sent to Cove's router's HTTP port. Challenges are
really validated (no PEBBLE_VA_ALWAYS_VALID)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import ssl
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from cove import tls
from cove.ports import free_port
from tests.e2e.harness import wait_for
from tests.e2e.system_packages import apt_install


def ensure_installed() -> str | None:
    """Install Debian's pebble when missing; None when it is there, else why not."""
    if shutil.which("pebble") and shutil.which("pebble-challtestsrv"):
        return None
    problem = apt_install("pebble")
    if problem is not None:
        return problem
    if not (shutil.which("pebble") and shutil.which("pebble-challtestsrv")):
        return "the pebble package has no pebble or pebble-challtestsrv"
    return None


@dataclass
class PebbleSetup:
    """What Cove is configured with before Pebble runs (Pebble needs the router's port,
    known once the server is up): the directory's port and the CA of its certificate."""

    work: Path
    api_port: int
    ca_file: Path
    cert: Path
    key: Path

    @property
    def directory_url(self) -> str:
        return f"https://127.0.0.1:{self.api_port}/dir"


def prepare(work: Path) -> PebbleSetup:
    work.mkdir(parents=True, exist_ok=True)
    files = tls.TlsFiles(work / "tls")
    ca = tls.ensure_ca(files)
    cert, key = work / "pebble.pem", work / "pebble-key.pem"
    tls.issue(ca, ["localhost", "127.0.0.1"], cert, key)
    return PebbleSetup(work, free_port(), files.ca_cert, cert, key)


@dataclass
class Pebble:
    setup: PebbleSetup
    management_url: str

    def root_ca(self) -> str:
        """The root Pebble signs certificates under (made anew at each start)."""
        url = f"{self.management_url}/roots/0"
        verify = ssl.create_default_context(cafile=str(self.setup.ca_file))
        answer = httpx.get(url, verify=verify, timeout=10)
        answer.raise_for_status()
        return answer.text


def _listening(proc: subprocess.Popen[bytes], log: Path, port: int, what: str) -> bool:
    if proc.poll() is not None:
        raise AssertionError(f"{what} exited: {log.read_text()}")
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _stop(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextmanager
def running_pebble(setup: PebbleSetup, http_port: int) -> Iterator[Pebble]:
    """Pebble validating http-01 challenges at ``http_port`` on 127.0.0.1."""
    work = setup.work
    dns_port, mgmt_port, challtest_mgmt = (free_port() for _ in range(3))
    config = {
        "pebble": {
            "listenAddress": f"127.0.0.1:{setup.api_port}",
            "managementListenAddress": f"127.0.0.1:{mgmt_port}",
            "certificate": str(setup.cert),
            "privateKey": str(setup.key),
            "httpPort": http_port,
            "tlsPort": free_port(),  # (tls-alpn-01: Cove doesn't take it)
            "ocspResponderURL": "",
            "externalAccountBindingRequired": False,
        }
    }
    (work / "pebble-config.json").write_text(json.dumps(config))
    dns_log, pebble_log = work / "challtestsrv.log", work / "pebble.log"
    # Every name resolves to 127.0.0.1 (no AAAA records: the router listens on IPv4).
    dns = subprocess.Popen(
        [
            "pebble-challtestsrv",
            "-dns01",
            f"127.0.0.1:{dns_port}",
            "-http01",
            "",
            "-https01",
            "",
            "-tlsalpn01",
            "",
            "-management",
            f"127.0.0.1:{challtest_mgmt}",
            "-defaultIPv4",
            "127.0.0.1",
            "-defaultIPv6",
            "",
        ],
        stdout=dns_log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    env = {
        **os.environ,
        "PEBBLE_VA_NOSLEEP": "1",  # validate at once
        "PEBBLE_WFE_NONCEREJECT": "0",  # no random badNonce answers
        "PEBBLE_AUTHZREUSE": "0",  # every order is validated through the router
    }
    pebble: subprocess.Popen[bytes] | None = None
    try:
        wait_for(
            lambda: _listening(dns, dns_log, challtest_mgmt, "pebble-challtestsrv"),
            30,
            what="pebble-challtestsrv to listen",
        )
        config_file = str(work / "pebble-config.json")
        pebble = subprocess.Popen(
            ["pebble", "-config", config_file, "-dnsserver", f"127.0.0.1:{dns_port}"],
            env=env,
            stdout=pebble_log.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        started = pebble
        wait_for(
            lambda: _listening(started, pebble_log, setup.api_port, "pebble"),
            30,
            what="pebble to listen",
        )
        yield Pebble(setup, f"https://127.0.0.1:{mgmt_port}")
    finally:
        _stop(pebble)
        _stop(dns)
