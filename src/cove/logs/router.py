"""The log router: a ring buffer of Heroku-format lines per app, and live subscribers.

``publish`` may be called from any thread (API handlers run in a thread pool); lines are
appended on the event loop so buffers and subscriber queues are only touched there.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import threading
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from cove.domain.logline import format_line, split_long

HISTORY = 1500  # Logplex keeps the last 1500 lines per app
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


@dataclass
class _AppLog:
    lines: deque[str] = field(default_factory=lambda: deque(maxlen=HISTORY))
    subscribers: set[asyncio.Queue[str]] = field(default_factory=set)


class LogRouter:
    def __init__(self) -> None:
        self._apps: dict[str, _AppLog] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None

    def bind_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._loop_thread = threading.get_ident()

    def publish(self, app_id: str, source: str, dyno: str, message: str) -> None:
        lines = [format_line(source, dyno, chunk) for chunk in split_long(message)]
        if self._loop is None or threading.get_ident() == self._loop_thread:
            self._append(app_id, lines)
        elif not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._append, app_id, lines)

    def _append(self, app_id: str, lines: list[str]) -> None:
        log = self._apps.setdefault(app_id, _AppLog())
        for line in lines:
            log.lines.append(line)
            for queue in log.subscribers:
                with contextlib.suppress(asyncio.QueueFull):
                    queue.put_nowait(line)

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
        log = self._apps.setdefault(app_id, _AppLog())
        queue: asyncio.Queue[str] = asyncio.Queue(maxsize=10000)
        if tail:
            log.subscribers.add(queue)
        try:
            for line in self.recent(app_id, count, where):
                yield line
            while tail:
                line = await queue.get()
                if where.matches(line):
                    yield line
        finally:
            log.subscribers.discard(queue)

    def forget(self, app_id: str) -> None:
        self._apps.pop(app_id, None)
