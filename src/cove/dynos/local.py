"""The local backend: each dyno is a bubblewrap sandbox on this host, running a fresh
copy of its slug at ``/app`` as its app's own user, in a cgroup sized by its dyno size and
(where the host allows) a network namespace of its own (cove.sandbox.netns)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from cove import sandbox
from cove.builder import Stack, ensure_unpacked
from cove.builder.layers import VENV_TARGET, venv_layers
from cove.builder.stack import MissingInterpreter
from cove.domain.dyno_sizes import DynoSize, dyno_size
from cove.dynos.backend import DynoSpec, Terminal
from cove.dynos.terminal import LocalTerminal, close_child_ends, open_terminal
from cove.logs import READ_CHUNK, ProcessOutput
from cove.ports import accepts, free_port
from cove.sandbox import listeners
from cove.sandbox.cgroups import Cgroup, Cgroups, Limits
from cove.sandbox.netns import DynoNetwork, DynoNetworks, dyno_config

# Heroku's start-up: source the buildpacks' .profile.d scripts and .profile, then run the
# command through the shell (so `$PORT` and `&&` work in Procfile commands). The shell
# traps SIGTERM with a no-op so it outlives the app's graceful shutdown: when the sandbox's
# main process exits, bwrap kills everything left. (A trapped handler, unlike an ignored
# signal, is reset to the default in the commands the shell starts.) When the shell exits
# (the command ended, or ran `exit` itself: `cmd & exit 0`), it counts the processes of the
# sandbox still running besides bwrap's init and itself (a daemon the command detached,
# which bwrap is about to kill) and writes the number to the fd in $1, which the command
# doesn't inherit. Builtins only: a fork would count itself.
LAUNCHER = (
    "trap : TERM; "
    '__cove_report="$1"; shift; '
    "__cove_left() { local n=0 p stat; for p in /proc/[0-9]*; do "
    'case "${p#/proc/}" in 1|$$) continue ;; esac; '
    'read -r stat 2>/dev/null < "$p/stat" || continue; '
    'case "${stat##*) }" in Z*|X*) ;; *) n=$((n + 1)) ;; esac; '
    'done; echo "$n" >&"$__cove_report"; }; '
    "trap __cove_left EXIT; "
    'for f in /app/.profile.d/*.sh; do [ -r "$f" ] && . "$f"; done; unset f; '
    "[ -r /app/.profile ] && . /app/.profile; "
    '__cove_command="$1"; shift; eval "$__cove_command" {__cove_report}>&-'
)
DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin"
# An attached dyno with a PTY: the launcher's shell starts a session of its own inside the
# sandbox with the PTY as its controlling terminal (bwrap's own session, outside the PID
# namespace, has none), so the terminal's foreground process group is visible to the
# command: ^C interrupts it and `bash -i` has job control. (--wait: should setsid ever have
# to fork, it waits for the command and exits with its status rather than at once.)
CONTROLLING_TTY = ["/usr/bin/setsid", "--ctty", "--wait"]
log = logging.getLogger(__name__)


def size_limits(size: DynoSize) -> Limits:
    """The cgroup limits of a dyno size. Memory is capped hard at the R15 threshold (twice
    the quota), so the host is safe between two memory checks; the quota itself is watched
    by the dyno manager (R14)."""
    return Limits(size.kill_bytes, size.pids, size.cpu_share * 100)


# How long an exit may go unreported (or a dyno's output stay open after it) before the
# server's log says so: a diagnostic, nothing waits on it.
STUCK_AFTER = 5.0


def _is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[:1] == ["Z"]


class LocalDyno:
    def __init__(
        self,
        spec: DynoSpec,
        proc: asyncio.subprocess.Process,
        root: Path,
        port: int | None,
        output: ProcessOutput | None,
        cgroup: Cgroup | None,
        uid: int | None = None,
        on_system: Callable[[str], None] | None = None,
        report_fd: int | None = None,
        terminal: LocalTerminal | None = None,
        network: tuple[DynoNetworks, DynoNetwork] | None = None,
    ) -> None:
        self.spec = spec
        self._network = network
        # An attached one-off dyno's stdio (its output is then None).
        self.terminal: Terminal | None = terminal
        self._report_fd = report_fd  # the read end of the launcher's report (LAUNCHER)
        self._left_running = 0
        self._uid = uid  # the app's own user, when apps have one
        self._on_system = on_system or (lambda message: None)
        self._cgroup = cgroup
        self._final_oom_kills = 0
        # Where the router reaches $PORT: the dyno's own address, or the shared loopback.
        self.host = str(network[1].address) if network else "127.0.0.1"
        self.port = port
        self._proc = proc
        self._root = root
        self._namespace: str | None = None
        self._pump = asyncio.get_running_loop().create_task(self._read(output)) if output else None
        self._exited = asyncio.get_running_loop().create_task(self._wait())

    async def _read(self, output: ProcessOutput) -> None:
        """The dyno's output into its log, in chunks (a line may be any length). A flood
        beyond the app's log budget is read slower: the dyno waits on its pipe. Should
        reading fail anyway, the dyno is killed (it crashes, and is restarted like any
        crash) rather than left up with nobody draining its pipe."""
        stdout = self._proc.stdout
        assert stdout is not None
        try:
            while chunk := await stdout.read(READ_CHUNK):
                pause = output.write(chunk)
                if pause and self._proc.returncode is None:
                    await asyncio.sleep(pause)
            output.close()
        except Exception:
            log.exception("reading the output of dyno %s failed", self.spec.id)
            with contextlib.suppress(Exception):
                output.platform_error("Could not read its output; it is stopped")
            sandbox.kill_sandbox(self._proc.pid)
            with contextlib.suppress(Exception):
                while await stdout.read(READ_CHUNK):
                    pass  # until the pipe closes, so nothing blocks on it

    async def _wait(self) -> int:
        status = await self._watched_exit()
        # The last lines before exit are logged before the exit; a reader that failed or
        # was cancelled must not stop the exit from being reported.
        if self._pump is not None:
            await asyncio.wait({self._pump}, timeout=STUCK_AFTER)
            if not self._pump.done():  # (diagnostic: CI once saw an exit noticed 134 s late)
                log.warning("dyno %s exited, its output pipe is still open", self.spec.id)
            await asyncio.gather(self._pump, return_exceptions=True)
        self._left_running = self._read_report()
        shutil.rmtree(self._root, ignore_errors=True)
        if self._network is not None:
            networks, network = self._network
            await asyncio.to_thread(networks.remove, network)
        if self._cgroup is not None:
            self._final_oom_kills = self._cgroup.oom_kills()
            await asyncio.to_thread(self._cgroup.remove)
        # A shell killed by signal N reports 128+N, like Heroku's "exited with status 143".
        return status if status >= 0 else 128 - status

    async def _watched_exit(self) -> int:
        """The sandbox's exit status. Says so in the server's log if the process has
        exited (a zombie) while the event loop still hasn't reported it."""
        exit_status = asyncio.ensure_future(self._proc.wait())
        try:
            while not exit_status.done():
                await asyncio.wait({exit_status}, timeout=STUCK_AFTER)
                if not exit_status.done() and _is_zombie(self._proc.pid):
                    log.warning("dyno %s exited, the event loop hasn't noticed", self.spec.id)
                    break  # (said once; the status is still waited for below)
            return await exit_status
        finally:
            exit_status.cancel()

    def _read_report(self) -> int:
        """What the launcher wrote when the command exited: how many processes it left
        running (0 when it didn't say: it was killed, or the command exec'd away)."""
        if self._report_fd is None:
            return 0
        try:
            # The launcher wrote before it exited, hence before bwrap did: no waiting.
            data = os.read(self._report_fd, 64)
        except BlockingIOError:
            data = b""
        finally:
            os.close(self._report_fd)
            self._report_fd = None
        text = data.decode(errors="replace").strip()
        return int(text) if text.isdigit() and len(text) < 8 else 0

    def has_exited(self) -> bool:
        return self._exited.done()

    def left_running(self) -> int:
        return self._left_running if self._exited.done() else 0

    async def wait_exit(self) -> int:
        return await asyncio.shield(self._exited)

    async def wait_up(self, timeout: float) -> bool:
        """Up once $PORT accepts connections and every socket listening there is this
        dyno's: another process that bound the port first would get its traffic."""
        if self.port is None:
            return not self._exited.done()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        pause, warned = 0.02, False
        while loop.time() < deadline and not self._exited.done():
            # Polling the port is how "bound to $PORT" is observed (Heroku does the same);
            # the listener's owner is looked up (in /proc, off the loop) once it answers.
            if await accepts(self.host, self.port):
                verdict = await asyncio.to_thread(self._port_verdict, self.port)
                if verdict == "own":
                    return True
                if verdict == "taken" and not warned:
                    warned = True
                    self._on_system(
                        f"Port {self.port} ($PORT) is taken by another process, not this "
                        "dyno: no requests are routed to it (a restart gets a fresh port)"
                    )
                    pause = 0.5  # the squatter stays: no need to re-read /proc at full pace
            await asyncio.wait({self._exited}, timeout=pause)
        return False

    def _port_verdict(self, port: int) -> Literal["own", "taken", "unknown"]:
        """Whether only this dyno listens on ``port`` ("own"), someone else does too
        ("taken"), or it can't tell yet: nobody listens any more, or the sandbox's
        processes aren't found yet."""
        net = Path(f"/proc/{self._proc.pid}/net") if self._network else Path("/proc/net")
        found = listeners.listeners(port, self.host, net)
        namespace = self._ns()
        if not found or namespace is None:
            return "unknown"
        foreign = listeners.foreign(found, namespace, self._uid, self._proc.pid)
        return "taken" if foreign else "own"

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

    def hangup(self) -> None:
        if not self._exited.done():
            sandbox.signal_sandbox(self._proc.pid, self._ns(), signal.SIGHUP)

    def pid(self) -> int:
        return self._proc.pid

    def memory_usage(self) -> int | None:
        if self._exited.done():
            return None
        if self._cgroup is not None:
            usage = self._cgroup.memory_usage()
            if usage is not None:
                return usage
        return sandbox.resident_bytes(self._ns())

    def oom_kills(self) -> int:
        if self._exited.done() or self._cgroup is None:
            return self._final_oom_kills
        return self._cgroup.oom_kills()


class LocalBackend:
    def __init__(
        self,
        dynos_dir: Path,
        stack: Stack,
        users: sandbox.Users,
        cgroups: Cgroups,
        networks: DynoNetworks | None = None,
        addon_ports: Callable[[str], set[int]] = lambda app_id: set(),
    ) -> None:
        self.dynos_dir = dynos_dir
        self.stack = stack
        self.users = users
        self.cgroups = cgroups
        self.networks = networks
        self.addon_ports = addon_ports  # app id -> ports of its add-ons on this host

    async def _app_mounts(
        self, spec: DynoSpec, root: Path, user: sandbox.SandboxUser | None
    ) -> list[sandbox.Mount]:
        """Every dyno starts from a pristine slug and its writes are its own (Heroku's
        ephemeral filesystem): an overlay on the unpacked slug (and one on its venv layers,
        see cove.builder.layers), or a full copy where the host can't do overlays. Either
        way /app belongs to the app's user."""
        if sandbox.supports_ephemeral_mounts():
            slug = await ensure_unpacked(spec.slug, user)
            mounts = [sandbox.Mount(slug, "/app", ephemeral=True)]
            venv = venv_layers(slug)
            if venv:
                mounts.append(sandbox.Mount(venv[0], VENV_TARGET, ephemeral=True, layers=venv[1:]))
            return mounts
        slug = await ensure_unpacked(spec.slug, user, flat=True)
        app_dir = root / "app"
        root.mkdir(parents=True)
        copy = await asyncio.create_subprocess_exec(
            "cp", "-a", str(slug), str(app_dir), stderr=asyncio.subprocess.PIPE
        )
        _, err = await copy.communicate()
        if copy.returncode != 0:
            shutil.rmtree(root, ignore_errors=True)
            raise RuntimeError(f"could not copy slug {spec.slug.name}: {err.decode()}")
        return [sandbox.Mount(app_dir, "/app", writable=True)]

    async def start(
        self,
        spec: DynoSpec,
        output: ProcessOutput | None,
        on_system: Callable[[str], None] | None = None,
    ) -> LocalDyno:
        root = self.dynos_dir / spec.id
        user = self.users.for_uid(spec.uid)
        app_mounts = await self._app_mounts(spec, root, user)
        try:
            stack_mounts = self.stack.dyno_mounts(app_mounts[0].source)
        except MissingInterpreter:
            shutil.rmtree(root, ignore_errors=True)  # the copy, where there is one
            raise
        port = free_port() if spec.type == "web" else None
        size = dyno_size(spec.size)
        env = {
            "PATH": DEFAULT_PATH,
            **spec.config,
            "HOME": "/app",
            "DYNO": spec.name,
            "DYNO_RAM": str(size.memory_mb),
        }
        if port is not None:
            env["PORT"] = str(port)
        network: tuple[DynoNetworks, DynoNetwork] | None = None
        if self.networks is not None:
            try:
                network = await asyncio.to_thread(self._network, spec)
            except BaseException:
                shutil.rmtree(root, ignore_errors=True)
                raise
            ports = network[1].addon_ports
            env = dyno_config(env, ports, self.networks.addon_address)
        try:
            cgroup = await asyncio.to_thread(self.cgroups.create, spec.id, size_limits(size))
        except BaseException:
            if network is not None:
                await asyncio.to_thread(network[0].remove, network[1])
            raise
        report, report_w = os.pipe()  # not inherited, but by this dyno's command
        os.set_blocking(report, False)
        argv = ["/bin/bash", "-c", LAUNCHER, "cove-dyno", str(report_w), spec.command]
        terminal: LocalTerminal | None = None
        stdio: dict[str, int] = {}
        try:
            if spec.attach is not None:
                owner = (user.uid, user.gid) if user is not None else None
                terminal, child_in, child_out = open_terminal(spec.attach, owner)
                stdio = {"stdin": child_in, "stdout": child_out}
                if spec.attach.tty:
                    argv = [*CONTROLLING_TTY, *argv]
            proc = await sandbox.spawn(
                argv,
                mounts=[*app_mounts, *stack_mounts],
                env=env,
                hostname=spec.id,
                user=user,
                cgroup=cgroup,
                pass_fds=(report_w,),
                netns=network[1].path if network else None,
                **stdio,
            )
        except BaseException:
            os.close(report)
            if network is not None:
                await asyncio.to_thread(network[0].remove, network[1])
            if terminal is not None:
                terminal.close()
            if cgroup is not None:
                await asyncio.to_thread(cgroup.remove)
            raise
        finally:
            os.close(report_w)
            if stdio:
                close_child_ends(stdio["stdin"], stdio["stdout"])
        uid = user.uid if user is not None else None
        return LocalDyno(
            spec, proc, root, port, output, cgroup, uid, on_system, report, terminal, network
        )

    def _network(self, spec: DynoSpec) -> tuple[DynoNetworks, DynoNetwork]:
        assert self.networks is not None
        return self.networks, self.networks.create(spec.id, self.addon_ports(spec.app_id))
