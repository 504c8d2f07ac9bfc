"""The log router: a ring buffer of Heroku-format lines per app, and live subscribers.

``publish`` may be called from any thread (API handlers run in a thread pool); lines are
appended on the event loop so buffers and subscriber queues are only touched there.

Processes' output (``process_output``) comes in within a line budget per app; what goes
beyond it is dropped and reported once a second as Logplex's L10. A tail session that
falls behind by ``tail_buffer`` lines loses the newest ones and is told so (L11).

With several processes (api, router, manager roles), each has its own router: lines
appended in one are relayed (``relay_to``, cove.logs.relay) to the others, which
``receive`` them, so a tail served by any process sees every process's lines.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from cove.domain.logline import format_line, split_long
from cove.logs.budget import Drops, LineBudget, overflow_notice, tail_overflow_notice
from cove.logs.output import ProcessOutput

HISTORY = 1500  # Logplex keeps the last 1500 lines per app
LINES_PER_SECOND = 2000.0  # an app's output budget, on average (COVE_LOG_LINES_PER_SECOND)
BURST_SECONDS = 5  # ... and at once: this many seconds' worth
TAIL_BUFFER = 10000  # lines a tail session may fall behind before it loses some
NOTICE_DELAY = 1.0  # seconds: drops are counted this long, then reported in one line
_PREFIX = re.compile(r"^\S+ (\w+)\[([^\]]+)\]:")


@dataclass(frozen=True)
class LogFilter:
    source: str | None = None  # "app" or "heroku"
    dyno: str | None = None  # "web.1", or a process type such as "web"

    def matches(self, line: str) -> bool:
        if self.source is None and self.dyno is None:
            return True
        m = _PREFIX.match(line)
        if m is None:
            return False
        source, dyno = m.group(1), m.group(2)
        if self.source and source != self.source:
            return False
        return not (self.dyno and dyno != self.dyno and dyno.split(".")[0] != self.dyno)


class _Tail:
    """One tail session's lines not yet sent, at most ``limit``: the newest are dropped
    beyond it, and an L11 line says how many once the session catches up."""

    def __init__(self, where: LogFilter, limit: int) -> None:
        self.where = where
        self.limit = limit
        self.lines: deque[str] = deque()
        self.drops = Drops()
        self._ready = asyncio.Event()

    def offer(self, line: str) -> None:
        if not self.where.matches(line):
            return
        if len(self.lines) >= self.limit:
            self.drops.add(1)
            return
        dropped = self.drops.take()
        if dropped is not None:
            self.lines.append(format_line("heroku", "logplex", tail_overflow_notice(*dropped)))
        self.lines.append(line)
        self._ready.set()

    async def next(self) -> str:
        while not self.lines:
            self._ready.clear()
            await self._ready.wait()
        return self.lines.popleft()


@dataclass
class _AppLog:
    budget: LineBudget
    lines: deque[str] = field(default_factory=lambda: deque(maxlen=HISTORY))
    tails: set[_Tail] = field(default_factory=set)
    drops: Drops = field(default_factory=Drops)


class LogRouter:
    def __init__(
        self,
        lines_per_second: float = LINES_PER_SECOND,
        tail_buffer: int = TAIL_BUFFER,
        notice_delay: float = NOTICE_DELAY,
    ) -> None:
        self._apps: dict[str, _AppLog] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._rate = lines_per_second
        self._tail_buffer = tail_buffer
        self._notice_delay = notice_delay
        self._sinks: list[Callable[[str, list[str]], None]] = []
        self._forget_hooks: list[Callable[[str], None]] = []
        self._relay: Callable[[str, list[str]], None] | None = None

    def add_sink(self, sink: Callable[[str, list[str]], None]) -> None:
        """Also give every line appended to an app's log to ``sink(app_id, lines)``, on the
        event loop (drains, the saved history). A sink must not block: it queues."""
        self._sinks.append(sink)

    def relay_to(self, fn: Callable[[str, list[str]], None]) -> None:
        """Also give lines appended here (not those received) to ``fn(app_id, lines)``, on
        the event loop, for the other processes. Like a sink, it must not block."""
        self._relay = fn

    def on_forget(self, hook: Callable[[str], None]) -> None:
        """Call ``hook(app_id)`` (from the forgetting thread) when an app is destroyed."""
        self._forget_hooks.append(hook)

    def restore(self, app_id: str, lines: list[str]) -> None:
        """Saved lines back into the app's history at start (sinks already have them)."""
        self._log(app_id).lines.extend(lines)

    def bind_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._loop_thread = threading.get_ident()

    def _log(self, app_id: str) -> _AppLog:
        log = self._apps.get(app_id)
        if log is None:
            budget = LineBudget(self._rate, self._rate * BURST_SECONDS)
            log = self._apps[app_id] = _AppLog(budget)
        return log

    def publish(self, app_id: str, source: str, dyno: str, message: str) -> None:
        lines = [format_line(source, dyno, chunk) for chunk in split_long(message)]
        if self._loop is None or threading.get_ident() == self._loop_thread:
            self.append(app_id, lines)
        elif not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self.append, app_id, lines)

    def process_output(
        self, app_id: str, dyno: str, tee: Callable[[str], None] | None = None
    ) -> ProcessOutput:
        """Where a process's raw output goes (``app[<dyno>]`` lines); on the event loop."""
        return ProcessOutput(self, app_id, dyno, tee)

    def budget(self, app_id: str) -> LineBudget:
        return self._log(app_id).budget

    def dropped(self, app_id: str, count: int) -> None:
        """``count`` lines of the app's output went beyond its budget (on the event loop)."""
        log = self._log(app_id)
        if log.drops.add(count):
            asyncio.get_running_loop().call_later(
                self._notice_delay, self._report_drops, app_id, log
            )

    def _report_drops(self, app_id: str, log: _AppLog) -> None:
        dropped = log.drops.take()
        if dropped is not None and self._apps.get(app_id) is log:
            self.append(app_id, [format_line("heroku", "logplex", overflow_notice(*dropped))])

    def append(self, app_id: str, lines: list[str]) -> None:
        """Formatted lines into the app's history, its tail sessions and the sinks, and to
        the other processes (on the event loop)."""
        self._deliver(app_id, lines)
        if self._relay is not None:
            self._relay(app_id, lines)

    def receive(self, app_id: str, lines: list[str]) -> None:
        """Lines another process appended (relayed): like ``append``, but not relayed
        again (on the event loop)."""
        self._deliver(app_id, lines)

    def _deliver(self, app_id: str, lines: list[str]) -> None:
        log = self._log(app_id)
        log.lines.extend(lines)
        for tail in log.tails:
            for line in lines:
                tail.offer(line)
        for sink in self._sinks:
            sink(app_id, lines)

    def recent(self, app_id: str, count: int, where: LogFilter) -> list[str]:
        log = self._apps.get(app_id)
        if log is None:
            return []
        matching = [line for line in log.lines if where.matches(line)]
        return matching[-count:] if count > 0 else []

    async def stream(
        self, app_id: str, count: int, where: LogFilter, tail: bool
    ) -> AsyncIterator[str]:
        """The last ``count`` lines, then (with ``tail``) new lines as they arrive."""
        log = self._log(app_id)
        session = _Tail(where, self._tail_buffer) if tail else None
        if session is not None:
            log.tails.add(session)
        try:
            for line in self.recent(app_id, count, where):
                yield line
            while session is not None:
                yield await session.next()
        finally:
            if session is not None:
                log.tails.discard(session)

    def forget(self, app_id: str) -> None:
        self._apps.pop(app_id, None)
        for hook in self._forget_hooks:
            hook(app_id)
