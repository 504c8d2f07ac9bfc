"""Long-running servers (PostgreSQL, Redis) that `cove server` starts and supervises."""

from __future__ import annotations

import asyncio
import ctypes
import functools
import logging
import os
import pwd
import shutil
import signal
import subprocess
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from pathlib import Path

from cove import sandbox

log = logging.getLogger(__name__)

SERVICE_USER = "cove"  # database servers refuse to run as root


def service_user() -> str | None:
    """The unprivileged user servers run as when Cove runs as root (created if missing);
    None when Cove itself is unprivileged (servers then run as Cove's own user)."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(SERVICE_USER)
    except KeyError:
        subprocess.run(
            [
                "useradd",
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                SERVICE_USER,
            ],
            check=True,
        )
    return SERVICE_USER


def own_dir(path: Path) -> None:
    """Create ``path`` (mode 0700) owned by the service user."""
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o700)
    user = service_user()
    if user:
        shutil.chown(path, user, user)


ADDON_ROOT = "/addon"  # where a server's data directory appears inside its sandbox


# Starts a sandboxed command: enter it, and start the child (with its pass_fds) inside.
Sandboxed = Callable[[], AbstractContextManager[sandbox.Launch]]


def sandboxed(argv: Sequence[str], data_dir: Path, name: str) -> Sandboxed:
    """Run a server in a bubblewrap sandbox: the system read-only, its own data directory at
    /addon (bound, so its parents' permissions don't matter: COVE_HOME may live in a 0700
    home), private /tmp and /dev/shm, and as the unprivileged service user. ``argv`` must
    hold no secret (it is world-readable): passwords go in 0600 files under /addon."""
    user = service_user()
    drop = (
        ["/usr/bin/setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", "--"]
        if user
        else []
    )
    return functools.partial(
        sandbox.command,
        [*drop, *argv],
        mounts=[sandbox.Mount(data_dir, ADDON_ROOT, writable=True)],
        env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": ADDON_ROOT},
        hostname=name,
        cwd=ADDON_ROOT,
    )


def _die_with_parent(sig: int) -> Callable[[], None]:
    """A pre-exec hook: ``sig`` if `cove server` dies, even by SIGKILL, so no database is
    left running without its supervisor (bwrap passes it on with --die-with-parent)."""

    def hook() -> None:
        ctypes.CDLL(None, use_errno=True).prctl(1, sig)  # PR_SET_PDEATHSIG

    return hook


class Supervised:
    """One sandboxed server (see ``sandboxed``): started, restarted with back-off if it
    dies, stopped on request."""

    def __init__(
        self,
        name: str,
        command: Sandboxed,
        loop: asyncio.AbstractEventLoop,
        stop_signal: int = signal.SIGTERM,
    ) -> None:
        self.name = name
        self.command = command
        self.loop = loop
        self.stop_signal = stop_signal
        self._proc: asyncio.subprocess.Process | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._started = asyncio.Event()

    async def start(self) -> None:
        self._task = self.loop.create_task(self._run())
        await self._started.wait()

    async def _run(self) -> None:
        delay = 1.0
        while not self._stopping:
            with self.command() as launch:
                self._proc = await asyncio.create_subprocess_exec(
                    *launch.argv,
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=asyncio.subprocess.DEVNULL,
                    stderr=asyncio.subprocess.DEVNULL,
                    start_new_session=True,
                    preexec_fn=_die_with_parent(self.stop_signal),
                    pass_fds=launch.pass_fds,
                )
            self._started.set()
            status = await self._proc.wait()
            if self._stopping:
                return
            log.warning(
                "add-on server %s exited with %s; restarting in %.0f s", self.name, status, delay
            )
            await asyncio.sleep(delay)  # back-off between restarts of a failing server
            delay = min(delay * 2, 30.0)

    async def stop(self) -> None:
        self._stopping = True
        if self._proc is not None and self._proc.returncode is None:
            # bwrap doesn't forward signals: signal the server inside the sandbox.
            namespace = sandbox.sandbox_namespace(self._proc.pid)
            sandbox.signal_sandbox(self._proc.pid, namespace, signal.Signals(self.stop_signal))
            try:
                await asyncio.wait_for(self._proc.wait(), 30)
            except TimeoutError:
                sandbox.kill_sandbox(self._proc.pid)
                await self._proc.wait()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)

    def start_threadsafe(self) -> None:
        """Start from a worker thread (API handlers provision in the thread pool)."""
        asyncio.run_coroutine_threadsafe(self.start(), self.loop).result(60)

    def stop_threadsafe(self) -> None:
        asyncio.run_coroutine_threadsafe(self.stop(), self.loop).result(60)
