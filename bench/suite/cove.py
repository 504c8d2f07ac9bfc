"""Driving a real Cove: a `cove server` in a throwaway COVE_HOME and a logged-in developer,
through the end-to-end tests' harness (tests/e2e/harness.py)."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
from tests.e2e.harness import APPS, CoveServer, User, server_env, wait_for

from bench.suite.tools import BENCH, children, free_port, stop_process, wait_port

FLASK_HELLO = APPS / "flask-hello"  # the seed app: Flask + gunicorn, "Hello World!"
DJANGO_WHITENOISE = BENCH / "apps" / "django-whitenoise"

# Where each app keeps the text its / route returns (a warm deploy edits it).
TEXT_FILE = {FLASK_HELLO: "app.py", DJANGO_WHITENOISE: "hello/urls.py"}
FIRST_TEXT = {FLASK_HELLO: "Hello World!", DJANGO_WHITENOISE: "Hello from Django!"}


class Cove:
    """``with Cove() as cove:`` a running server, a developer logged in to it, and
    helpers to deploy the bench apps and look at what is running."""

    def __init__(self, env: dict[str, str] | None = None) -> None:
        """``env``: COVE_* settings for the server beyond the harness's."""
        self._tmp = tempfile.TemporaryDirectory(prefix="cove-bench-")
        self.root = Path(self._tmp.name)
        self.home = self.root / "cove"
        self._router: httpx.Client | None = None
        self.server = CoveServer(
            self.home, self.root / "server.log", server_env(self.home) | (env or {})
        )
        (self.root / "dev").mkdir()
        self.user = User(self.root / "dev", self.server)

    def __enter__(self) -> Cove:
        self.server.start()
        self.user.cove("login", "--token", self.server.admin_token)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._router is not None:
            self._router.close()
        try:
            self.server.stop()
        finally:
            self._tmp.cleanup()

    @property
    def pid(self) -> int:
        assert self.server.proc is not None
        return self.server.proc.pid

    # --- apps ---------------------------------------------------------------------------

    def new_app(self, source: Path, name: str) -> Path:
        """A git repository holding a copy of ``source``, with a Cove app ``name``."""
        repo = self.user.home / name
        shutil.copytree(source, repo)
        self.user.git("init", "-q", "-b", "main", cwd=repo)
        self.user.commit_all(repo, "Initial commit")
        self.user.cove("apps:create", name, cwd=repo)
        return repo

    def serving(self, app: str, text: str) -> bool:
        # One client for every check: creating one (its TLS context) takes tens of ms, which
        # would count towards the deploy. No keep-alive, so each check is a fresh request.
        # The router's URL is read at each check: a restarted server has another port.
        if self._router is None:
            self._router = httpx.Client(
                limits=httpx.Limits(max_keepalive_connections=0), timeout=30
            )
        try:
            response = self._router.get(
                self.server.router_url + "/", headers={"Host": self.server.app_host(app)}
            )
        except (OSError, httpx.TransportError):
            return False
        return response.status_code == 200 and response.text == text

    def wait_serving(self, app: str, text: str, timeout: float = 120) -> None:
        wait_for(lambda: self.serving(app, text), timeout, interval=0.005, what=f"{app}: {text}")

    def push_until_serving(self, repo: Path, app: str, text: str) -> float:
        """Seconds from the start of `git push` until the router serves ``text``."""
        start = time.perf_counter()
        self.user.push(repo)
        self.wait_serving(app, text)
        return time.perf_counter() - start

    def change_text(self, repo: Path, source: Path, old: str, new: str) -> None:
        """A code-only change (dependencies untouched), committed."""
        path = repo / TEXT_FILE[source]
        path.write_text(path.read_text().replace(old, new))
        self.user.commit_all(repo, new)

    def deploy(self, source: Path, name: str) -> Path:
        repo = self.new_app(source, name)
        self.push_until_serving(repo, name, FIRST_TEXT[source])
        return repo

    # --- state --------------------------------------------------------------------------

    def dynos(self, app: str) -> list[dict[str, Any]]:
        return list(self.server.api("GET", f"/apps/{app}/dynos").json())

    def _query(self, sql: str, *args: object) -> list[tuple[Any, ...]]:
        db = sqlite3.connect(f"file:{self.home / 'cove.db'}?mode=ro", uri=True, timeout=10)
        try:
            return db.execute(sql, args).fetchall()
        finally:
            db.close()

    def web_addresses(self, app: str) -> list[tuple[str, int]]:
        """Where the app's up web dynos listen: each in its own network namespace, at its
        own address (the store has it; the API doesn't show it)."""
        rows = self._query(
            "SELECT d.host, d.port FROM dynos d JOIN apps a ON a.id = d.app_id "
            "WHERE a.name = ? AND d.type = 'web' AND d.state = 'up' AND d.port IS NOT NULL "
            "ORDER BY d.name",
            app,
        )
        return [(host or "127.0.0.1", int(port)) for host, port in rows]

    def slug_dir(self, app: str) -> Path:
        """The app's newest slug unpacked whole, for running it on the host (the server's
        own copy may keep its virtualenv as layers, see cove.builder.layers)."""
        rows = self._query(
            "SELECT s.checksum FROM releases r JOIN apps a ON a.id = r.app_id "
            "JOIN slugs s ON s.id = r.slug_id WHERE a.name = ? ORDER BY r.version DESC LIMIT 1",
            app,
        )
        digest = rows[0][0].removeprefix("SHA256:")
        flat = self.root / "flat-slugs" / digest
        if not flat.is_dir():
            flat.mkdir(parents=True)
            archive = self.home / "slugs" / f"{digest}.tar.zst"
            subprocess.run(["tar", "-xf", str(archive), "-C", str(flat)], check=True)
        return flat

    def dyno_pids(self) -> list[int]:
        """The server's child processes: each is a dyno's sandbox (bwrap)."""
        return children(self.pid)


def slug_python(slug: Path) -> Path:
    """The interpreter a slug's venv runs on (the stack's; it exists on this host)."""
    return Path(os.path.realpath(slug / ".heroku/python/bin/python"))


class BareGunicorn:
    """The slug's own gunicorn started directly on the host (no sandbox, no Cove), the way
    the dyno's command would run it: the reference for dyno boot times."""

    def __init__(self, slug: Path, app_module: str = "app:app", workers: int = 2) -> None:
        self.slug, self.app_module, self.workers = slug, app_module, workers
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        venv_bin = self.slug / ".heroku/python/bin"
        env = {
            "PATH": f"{venv_bin}:/usr/local/bin:/usr/bin:/bin",
            "PYTHONPATH": str(self.slug),
            "PYTHONDONTWRITEBYTECODE": "1",  # leave the pristine slug untouched
            "WEB_CONCURRENCY": str(self.workers),
            "PORT": str(self.port),
            "LANG": "C.UTF-8",
        }
        self.proc = subprocess.Popen(
            [
                str(venv_bin / "python"),
                "-m",
                "gunicorn",
                "-b",
                f"127.0.0.1:{self.port}",
                self.app_module,
            ],
            cwd=self.slug,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def wait_bound(self) -> None:
        wait_port(self.port, 60)

    def wait_serving(self) -> None:
        wait_until_answers(self.port)

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)
            self.proc = None


def wait_until_answers(port: int, timeout: float = 60) -> None:
    """Until 127.0.0.1:``port`` answers ``GET /`` with a 200."""
    wait_for(
        lambda: httpx.get(f"http://127.0.0.1:{port}/", timeout=5).status_code == 200,
        timeout,
        interval=0.005,
        what=f"port {port} to answer",
    )


def boot_time(slug: Path, count: int, app_module: str = "app:app") -> dict[str, float]:
    """Seconds to start ``count`` bare gunicorns from ``slug`` at once until all have bound
    their port ("bound_s": when Cove would call a dyno up) and until all answer
    ("serving_s")."""
    servers = [BareGunicorn(slug, app_module) for _ in range(count)]
    start = time.perf_counter()
    try:
        for server in servers:
            server.start()
        for server in servers:
            server.wait_bound()
        bound = time.perf_counter() - start
        for server in servers:
            server.wait_serving()
        return {"bound_s": bound, "serving_s": time.perf_counter() - start}
    finally:
        for server in servers:
            server.stop()
