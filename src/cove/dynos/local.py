"""The local backend: each dyno is a bubblewrap sandbox on this host, running a fresh
copy of its slug at ``/app``."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import signal
from collections.abc import Callable
from pathlib import Path

from cove import sandbox
from cove.builder import Stack, ensure_unpacked
from cove.dynos.backend import DynoSpec
from cove.ports import free_port

# Heroku's start-up: source the buildpacks' .profile.d scripts and .profile, then run the
# command through the shell (so `$PORT` and `&&` work in Procfile commands). The shell
# traps SIGTERM with a no-op so it outlives the app's graceful shutdown: when the sandbox's
# main process exits, bwrap kills everything left. (A trapped handler, unlike an ignored
# signal, is reset to the default in the commands the shell starts.)
LAUNCHER = (
    "trap : TERM; "
    'for f in /app/.profile.d/*.sh; do [ -r "$f" ] && . "$f"; done; unset f; '
    "[ -r /app/.profile ] && . /app/.profile; "
    '__cove_command="$1"; shift; eval "$__cove_command"'
)
DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin"
_SIZE_RAM_MB = {
    "eco": 512,
    "basic": 512,
    "standard-1x": 512,
    "standard-2x": 1024,
    "performance-m": 2560,
    "performance-l": 14336,
}


class LocalDyno:
    def __init__(
        self,
        spec: DynoSpec,
        proc: asyncio.subprocess.Process,
        root: Path,
        port: int | None,
        on_output: Callable[[str], None],
    ) -> None:
        self.spec = spec
        self.host = "127.0.0.1"
        self.port = port
        self._proc = proc
        self._root = root
        self._namespace: str | None = None
        self._pump = asyncio.get_running_loop().create_task(self._read(on_output))
        self._exited = asyncio.get_running_loop().create_task(self._wait())

    async def _read(self, on_output: Callable[[str], None]) -> None:
        assert self._proc.stdout is not None
        async for raw in self._proc.stdout:
            on_output(raw.decode(errors="replace").rstrip("\r\n"))

    async def _wait(self) -> int:
        status = await self._proc.wait()
        with contextlib.suppress(asyncio.CancelledError):
            await self._pump  # the last lines before exit are logged before the exit
        shutil.rmtree(self._root, ignore_errors=True)
        # A shell killed by signal N reports 128+N, like Heroku's "exited with status 143".
        return status if status >= 0 else 128 - status

    def has_exited(self) -> bool:
        return self._exited.done()

    async def wait_exit(self) -> int:
        return await asyncio.shield(self._exited)

    async def wait_up(self, timeout: float) -> bool:
        if self.port is None:
            return not self._exited.done()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline and not self._exited.done():
            try:
                _, writer = await asyncio.open_connection(self.host, self.port)
            except OSError:
                # Polling the port is how "bound to $PORT" is observed (Heroku does the same).
                await asyncio.sleep(0.02)
                continue
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            return True
        return False

    def _ns(self) -> str | None:
        if self._namespace is None:
            self._namespace = sandbox.sandbox_namespace(self._proc.pid)
        return self._namespace

    def terminate(self) -> None:
        if not self._exited.done():
            sandbox.signal_sandbox(self._proc.pid, self._ns(), signal.SIGTERM)

    def kill(self) -> None:
        if not self._exited.done():
            sandbox.kill_sandbox(self._proc.pid)

    def pid(self) -> int:
        return self._proc.pid


class LocalBackend:
    def __init__(self, dynos_dir: Path, stack: Stack) -> None:
        self.dynos_dir = dynos_dir
        self.stack = stack

    async def _app_mount(self, spec: DynoSpec, root: Path) -> sandbox.Mount:
        """Every dyno starts from a pristine slug and its writes are its own (Heroku's
        ephemeral filesystem): an overlay on the unpacked slug, or a full copy where the
        host can't do overlays."""
        slug = await ensure_unpacked(spec.slug)
        if sandbox.supports_ephemeral_mounts():
            return sandbox.Mount(slug, "/app", ephemeral=True)
        app_dir = root / "app"
        root.mkdir(parents=True)
        copy = await asyncio.create_subprocess_exec(
            "cp", "-a", str(slug), str(app_dir), stderr=asyncio.subprocess.PIPE
        )
        _, err = await copy.communicate()
        if copy.returncode != 0:
            shutil.rmtree(root, ignore_errors=True)
            raise RuntimeError(f"could not copy slug {spec.slug.name}: {err.decode()}")
        return sandbox.Mount(app_dir, "/app", writable=True)

    async def start(self, spec: DynoSpec, on_output: Callable[[str], None]) -> LocalDyno:
        root = self.dynos_dir / spec.id
        app_mount = await self._app_mount(spec, root)
        port = free_port() if spec.type == "web" else None
        env = {
            "PATH": DEFAULT_PATH,
            **spec.config,
            "HOME": "/app",
            "DYNO": spec.name,
            "DYNO_RAM": str(_SIZE_RAM_MB.get(spec.size, 512)),
        }
        if port is not None:
            env["PORT"] = str(port)
        argv = sandbox.command(
            ["/bin/bash", "-c", LAUNCHER, "cove-dyno", spec.command],
            mounts=[app_mount, *self.stack.mounts()],
            env=env,
            hostname=spec.id,
        )
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
        return LocalDyno(spec, proc, root, port, on_output)
