"""Runs the local processes: each ``/bin/sh -c COMMAND`` in its own session (so its whole
process tree can be signalled as one group), output merged and prefixed line by line.

The first process to exit, or SIGINT/SIGTERM/SIGHUP to `cove local`, stops them all:
SIGTERM to every process group, SIGKILL to what is left after the grace period. The exit
status is the first exited process's (128 + N for signal N), or 128 + the signal that
stopped `cove local`. Only POSIX calls: no cgroups, no /proc, no sandbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from cove.local.output import LineSplitter, Printer
from cove.local.plan import LocalProcess

DEFAULT_GRACE = 5.0
# After SIGKILL a group should be gone at once; don't hang forever on one that isn't (an
# unkillable process in uninterruptible sleep).
KILL_WAIT = 5.0
# A partial line (no newline yet) is printed once the process has been quiet this long.
PARTIAL_LINE_DELAY = 0.2
# After every group is gone, a pipe can only still be open in a process that left its
# group (a daemon); stop reading it after this long.
DRAIN_WAIT = 1.0
READ_SIZE = 64 * 1024
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class _Protocol(asyncio.subprocess.SubprocessStreamProtocol):
    """Tells of the exit as soon as the process is reaped: asyncio's ``Process.wait()``
    also waits for the pipes to close, which a left-behind grandchild can hold open."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(limit=READ_SIZE, loop=loop)
        self.exited: asyncio.Future[int] = loop.create_future()
        self._process: asyncio.SubprocessTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        assert isinstance(transport, asyncio.SubprocessTransport)
        self._process = transport

    def process_exited(self) -> None:
        code = self._process.get_returncode() if self._process else None
        super().process_exited()
        if not self.exited.done():
            self.exited.set_result(code if code is not None else 1)


@dataclass
class _Running:
    spec: LocalProcess
    pid: int
    transport: asyncio.SubprocessTransport
    protocol: _Protocol
    reader: asyncio.Task[None] | None = None
    watcher: asyncio.Task[None] | None = None


@dataclass
class Runner:
    processes: Sequence[LocalProcess]
    env: Mapping[str, str]
    cwd: Path
    out: TextIO
    printer: Printer
    grace: float = DEFAULT_GRACE
    _running: list[_Running] = field(default_factory=list)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _status: int | None = None
    _signals: int = 0
    output_closed: bool = False

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in STOP_SIGNALS:
            loop.add_signal_handler(sig, self._on_signal, sig)
        try:
            for spec in self.processes:
                if self._stop.is_set():
                    break
                if not await self._start(spec):
                    break
            await self._stop.wait()
            await self._stop_all()
        finally:
            for sig in STOP_SIGNALS:
                loop.remove_signal_handler(sig)
        return self._status if self._status is not None else 1

    async def _start(self, spec: LocalProcess) -> bool:
        env = dict(self.env)
        env["PORT"] = str(spec.port)
        env.setdefault("FOREMAN_WORKER_NAME", spec.name)
        loop = asyncio.get_running_loop()
        try:
            transport, protocol = await loop.subprocess_exec(
                lambda: _Protocol(loop),
                "/bin/sh",
                "-c",
                spec.command,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                env=env,
                cwd=self.cwd,
                start_new_session=True,
            )
        except OSError as exc:
            self._write(self.printer.error(spec.name, f"Could not start: {exc.strerror}"))
            self._finish(1)
            return False
        running = _Running(spec, transport.get_pid(), transport, protocol)
        assert protocol.stdout is not None
        running.reader = asyncio.create_task(self._pump(spec.name, protocol.stdout))
        running.watcher = asyncio.create_task(self._watch(running))
        self._running.append(running)
        return True

    async def _pump(self, name: str, stream: asyncio.StreamReader) -> None:
        splitter = LineSplitter()
        while True:
            try:
                data = await asyncio.wait_for(
                    stream.read(READ_SIZE), PARTIAL_LINE_DELAY if splitter.pending else None
                )
            except TimeoutError:
                self._lines(name, splitter.flush())
                continue
            if not data:
                break
            self._lines(name, splitter.feed(data))
        self._lines(name, splitter.flush())

    async def _watch(self, running: _Running) -> None:
        code = await running.protocol.exited
        # The first exit decides the status; later ones are the shutdown we caused.
        self._finish(128 - code if code < 0 else code)
        if running.reader is not None:
            await asyncio.wait({running.reader})
        running.transport.close()
        name = running.spec.name
        if code == 0:
            self._write(self.printer.info(name, "Exited Successfully"))
        elif code < 0:
            self._write(self.printer.error(name, f"Exited on signal {_signal_name(-code)}"))
        else:
            self._write(self.printer.error(name, f"Exited with exit code {code}"))

    def _on_signal(self, sig: int) -> None:
        self._signals += 1
        if self._signals == 1:
            if sig == signal.SIGINT:
                self._write("[WARN] Interrupted by User")
            self._finish(128 + sig)
        else:
            # A second Ctrl-C: don't wait out the grace period.
            self._signal_groups(signal.SIGKILL)

    def _finish(self, status: int) -> None:
        if self._status is None:
            self._status = status
        self._stop.set()

    async def _stop_all(self) -> None:
        if not self._running:
            return
        self._write("[DONE] Killing all processes with signal SIGTERM")
        self._signal_groups(signal.SIGTERM)
        if not await self._groups_gone(self.grace):
            self._signal_groups(signal.SIGKILL)
            await self._groups_gone(KILL_WAIT)
        watchers = [r.watcher for r in self._running if r.watcher is not None]
        await asyncio.wait(watchers, timeout=KILL_WAIT)
        readers = [r.reader for r in self._running if r.reader and not r.reader.done()]
        if readers:
            await asyncio.wait(readers, timeout=DRAIN_WAIT)
            for reader in readers:
                reader.cancel()
            await asyncio.wait(watchers, timeout=DRAIN_WAIT)

    def _signal_groups(self, sig: int) -> None:
        for running in self._running:
            # The group id is the leader's pid (start_new_session); signalling the group
            # reaches the leader's children even after the leader (the shell) has exited.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(running.pid, sig)

    async def _groups_gone(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while True:
            alive = [r for r in self._running if group_alive(r.pid)]
            if not alive:
                return True
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.02)

    def _lines(self, name: str, lines: list[str]) -> None:
        if lines:
            self._write("\n".join(self.printer.line(name, text) for text in lines))

    def _write(self, text: str) -> None:
        if self.output_closed:
            return
        try:
            self.out.write(text + "\n")
            self.out.flush()
        except (OSError, ValueError):
            # Our output is gone (piped into `head`, the terminal closed): nothing left to
            # show, so stop everything.
            self.output_closed = True
            self._finish(1)


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)
