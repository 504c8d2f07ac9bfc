"""The interface between the dyno manager and where dynos run."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from cove.logs import ProcessOutput
from cove.store import Dyno


@dataclass(frozen=True)
class Attach:
    """A one-off dyno attached to a client (``cove run``): its stdin, stdout and stderr are
    a pseudo-terminal of this size (``tty``) or pipes, read and written by the server
    rather than logged."""

    tty: bool
    columns: int = 80
    lines: int = 24


class Terminal(Protocol):
    """The server's ends of an attached dyno's stdio, non-blocking file descriptors: in TTY
    mode both are the PTY's master; otherwise stdout and stderr share one pipe."""

    tty: bool
    output_fd: int
    input_fd: int | None  # None once the dyno's stdin was closed (EOF)

    def resize(self, columns: int, lines: int) -> None:
        """Set the PTY's window size (the kernel sends SIGWINCH to its foreground)."""
        ...

    def close_input(self) -> None:
        """EOF on the dyno's stdin (pipes; on a PTY, EOF is the ^D the client types)."""
        ...

    def close(self) -> None:
        """Close the server's ends (once nothing watches them any more)."""
        ...


@dataclass(frozen=True)
class DynoSpec:
    id: str
    app_id: str
    app_name: str
    name: str  # "web.1"
    type: str
    command: str
    size: str
    release_version: int
    revision: str
    slug: Path
    config: Mapping[str, str]
    uid: int | None = None  # the app's Unix user (cove.sandbox.users)
    attach: Attach | None = None  # a one-off dyno's terminal, instead of logged output


ONE_OFF_TYPE = "run"  # the process type of one-off dynos (``cove run``)


def new_row(spec: DynoSpec) -> Dyno:
    """The ``dynos`` table's row for a dyno about to start (``cove ps``, the router)."""
    return Dyno(
        id=spec.id,
        app_id=spec.app_id,
        name=spec.name,
        type=spec.type,
        command=spec.command,
        size=spec.size,
        release_version=spec.release_version,
        revision=spec.revision,
    )


class DynoHandle(Protocol):
    spec: DynoSpec
    host: str
    port: int | None
    terminal: Terminal | None  # with ``spec.attach``

    async def wait_up(self, timeout: float) -> bool:
        """True once the dyno serves (web: accepts TCP on $PORT); False on timeout/exit."""
        ...

    def has_exited(self) -> bool: ...

    def left_running(self) -> int:
        """Once the dyno has exited: how many of its processes were still running when its
        command exited (a daemon it detached, which went down with it); 0 if unknown."""
        ...

    async def wait_exit(self) -> int:
        """The exit status once the dyno's process has ended."""
        ...

    def terminate(self) -> None:
        """SIGTERM to every process of the dyno (daemons that forked away included)."""
        ...

    def kill(self) -> None:
        """SIGKILL the whole dyno."""
        ...

    def hangup(self) -> None:
        """SIGHUP to every process of the dyno, as when its terminal goes away."""
        ...

    def memory_usage(self) -> int | None:
        """Bytes of memory the dyno uses now (None if unknown)."""
        ...

    def oom_kills(self) -> int:
        """How many of the dyno's processes the kernel killed for exceeding its memory
        limit (also after the dyno has exited)."""
        ...


async def stop_dyno(
    handle: DynoHandle, grace: float, on_kill: Callable[[], None] | None = None
) -> int:
    """Heroku's shutdown: SIGTERM, ``grace`` seconds to exit, then SIGKILL (``on_kill``
    runs first, to log R12). Returns the exit status."""
    if not handle.has_exited():
        handle.terminate()
        try:
            return await asyncio.wait_for(handle.wait_exit(), grace)
        except TimeoutError:
            if on_kill is not None:
                on_kill()
            handle.kill()
    return await handle.wait_exit()


class Backend(Protocol):
    async def start(
        self,
        spec: DynoSpec,
        output: ProcessOutput | None,
        on_system: Callable[[str], None] | None = None,
    ) -> DynoHandle:
        """Start the dyno; its raw output goes to ``output`` (``app[web.1]`` lines), or,
        with ``spec.attach``, to the handle's ``terminal``; what the backend has to say
        about it to ``on_system`` (``heroku[web.1]`` lines)."""
        ...
