"""Running a real `cove server` and the `cove` CLI for end-to-end tests."""

from __future__ import annotations

import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx

ROOT = Path(__file__).resolve().parents[2]
APPS = Path(__file__).parent / "apps"
T = TypeVar("T")


def wait_for(
    condition: Callable[[], T], timeout: float = 60, interval: float = 0.05, what: str = ""
) -> T:
    """Poll ``condition`` until it returns something truthy, or fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = condition()
        except (httpx.HTTPError, OSError) as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or condition}: {last!r}")


@dataclass
class CoveServer:
    home: Path
    log_path: Path
    env: dict[str, str]
    proc: subprocess.Popen[bytes] | None = None
    info: dict[str, Any] = field(default_factory=dict)
    # How to run `cove server` (e.g. prefixed with setpriv to run it as another user).
    command: list[str] = field(default_factory=lambda: [sys.executable, "-m", "cove.server"])

    def start(self) -> None:
        state = self.home / "server.json"
        state.unlink(missing_ok=True)
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            self.command,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

        def ready() -> dict[str, Any] | None:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"cove server exited: {self.log_path.read_text()}")
            return json.loads(state.read_text()) if state.is_file() else None

        self.info = wait_for(ready, 60, what="cove server to start")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    @property
    def api_url(self) -> str:
        return str(self.info["api_url"])

    @property
    def router_url(self) -> str:
        return f"http://127.0.0.1:{self.info['router_port']}"

    @property
    def router_https_url(self) -> str:
        return f"https://127.0.0.1:{self.info['router_https_port']}"

    @property
    def rendezvous_port(self) -> int:
        """Where `cove run` attaches to one-off dynos (TLS, like the API)."""
        return int(self.info["rendezvous_port"])

    @property
    def ca_file(self) -> Path:
        """Cove's CA certificate (its TLS is on by default)."""
        return Path(self.info["ca_file"])

    @property
    def verify(self) -> ssl.SSLContext | bool:
        """What an HTTP client verifies the API's certificate with."""
        ca = self.info.get("ca_file")
        return ssl.create_default_context(cafile=ca) if ca else True

    @property
    def admin_token(self) -> str:
        return (self.home / "admin-token").read_text().strip()

    def app_host(self, app: str) -> str:
        return f"{app}.{self.info['domain']}"

    def get(self, app: str, path: str = "/", **kwargs: Any) -> httpx.Response:
        """An HTTP request to an app through Cove's router."""
        headers = {"Host": self.app_host(app), **kwargs.pop("headers", {})}
        return httpx.get(self.router_url + path, headers=headers, timeout=30, **kwargs)

    def api(
        self, method: str, path: str, token: str | None = None, **kwargs: Any
    ) -> httpx.Response:
        headers = {
            "Authorization": f"Bearer {token or self.admin_token}",
            "Accept": "application/vnd.heroku+json; version=3",
            **kwargs.pop("headers", {}),
        }
        kwargs.setdefault("verify", self.verify)
        return httpx.request(method, self.api_url + path, headers=headers, timeout=30, **kwargs)


@dataclass
class User:
    """A developer's machine: its own HOME (netrc, git config) and a work directory."""

    home: Path
    server: CoveServer

    @classmethod
    def logged_in(cls, home: Path, server: CoveServer) -> User:
        """A developer with an empty HOME at ``home``, logged in as the admin."""
        home.mkdir(parents=True, exist_ok=True)
        user = cls(home, server)
        user.cove("login", "--token", server.admin_token)
        return user

    @property
    def env(self) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("COVE_", "GIT_")) and k not in ("HOME",)
        }
        env.update(
            HOME=str(self.home),
            COVE_API_URL=self.server.api_url,
            # A developer on the server's machine: the CLI finds Cove's CA in COVE_HOME.
            COVE_HOME=str(self.server.home),
            GIT_TERMINAL_PROMPT="0",
            GIT_AUTHOR_NAME="Dev",
            GIT_AUTHOR_EMAIL="dev@example.com",
            GIT_COMMITTER_NAME="Dev",
            GIT_COMMITTER_EMAIL="dev@example.com",
        )
        return env

    def run(
        self,
        *args: str,
        cwd: Path | None = None,
        check: bool = True,
        env: dict[str, str] | None = None,
        input: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            args,
            cwd=cwd or self.home,
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=600,
            input=input,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"{' '.join(args)} exited {result.returncode}\n"
                f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
            )
        return result

    def cove(
        self, *args: str, cwd: Path | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        return self.run(sys.executable, "-m", "cove.cli.main", *args, cwd=cwd, check=check)

    def git(self, *args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run("git", *args, cwd=cwd, check=check)

    def new_repo(self, template: str, name: str | None = None) -> Path:
        """Copy a test app from tests/e2e/apps into a fresh git repository."""
        repo = self.home / (name or template)
        shutil.copytree(APPS / template, repo)
        self.git("init", "-q", "-b", "main", cwd=repo)
        self.git("add", "-A", cwd=repo)
        self.git("commit", "-q", "-m", "Initial commit", cwd=repo)
        return repo

    def commit_all(self, repo: Path, message: str) -> None:
        self.git("add", "-A", cwd=repo)
        self.git("commit", "-q", "-m", message, cwd=repo)

    def push(
        self, repo: Path, *refspec: str, check: bool = True, remote: str = "cove"
    ) -> subprocess.CompletedProcess[str]:
        return self.git("push", remote, *(refspec or ("main",)), cwd=repo, check=check)


def processes_mentioning(*markers: str) -> list[int]:
    """Pids whose command line contains any of ``markers`` (e.g. dyno ids: each dyno's
    sandbox is started with ``--hostname <dyno id>``)."""
    found = []
    wanted = [m.encode() for m in markers]
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes()
            except OSError:
                continue
            if any(m in cmdline for m in wanted):
                found.append(int(proc.name))
    return found


@contextmanager
def running_server(
    root: Path, command: list[str] | None = None, **env: str
) -> Iterator[CoveServer]:
    """A real `cove server` with its COVE_HOME under ``root`` (extra COVE_* settings in
    ``env``; ``command`` to run it otherwise than as this Python), stopped afterwards."""
    home = root / "cove-home"
    server = CoveServer(home, root / "server.log", server_env(home) | env)
    if command is not None:
        server.command = command
    server.start()
    try:
        yield server
    finally:
        server.stop()


def server_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COVE_")}
    env.update(
        COVE_HOME=str(home),
        COVE_API_PORT="0",
        COVE_ROUTER_PORT="0",
        COVE_ROUTER_HTTPS_PORT="0",
        COVE_RENDEZVOUS_PORT="0",
        COVE_STOP_GRACE="5",
        # Heroku's crash cool-off (20, 40, ... minutes) scaled to seconds.
        COVE_CRASH_BACKOFF_SCALE="0.005",
        # No Python downloads from the network (tests/e2e/python_mirror.py serves them).
        COVE_PYTHON_DOWNLOADS="never",
        # No real CA: an app given ACM in a test (the API fuzz's) gets "can't be reached";
        # tests/e2e/test_acm.py points its server at Pebble.
        COVE_ACME_DIRECTORY_URL="https://127.0.0.1:9/directory",
        PYTHONUNBUFFERED="1",
    )
    return env
