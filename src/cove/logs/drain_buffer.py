"""What one drain holds of lines it has not sent: at most ``limit`` (Logplex keeps 1024).
Beyond that the oldest go, counted, so a slow or dead drain costs a fixed amount of memory
and nobody waits for it.

Dropped lines are counted twice over: once for the drain's own stream (an L10 line leads
the next batch it is sent, as Logplex does) and once for the app's log (``unreported``,
which the drain reports while it is still down, so ``cove logs`` shows the outage)."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from cove.domain.logline import format_line
from cove.logs.budget import Drops, overflow_notice

LIMIT = 1024  # Logplex's drain buffer


@dataclass
class Batch:
    lines: list[str] = field(default_factory=list)
    # The drops its leading L10 line reports (count, first drop), if it has one.
    dropped: tuple[int, datetime] | None = None

    @property
    def queued(self) -> int:
        """Lines of the app's log in the batch (its L10 line aside)."""
        return len(self.lines) - (self.dropped is not None)


class DrainBuffer:
    def __init__(self, limit: int = LIMIT) -> None:
        self.limit = limit
        self._lines: deque[str] = deque(maxlen=limit)
        self.drops = Drops()  # for the drain's stream
        self.unreported = Drops()  # for the app's log
        self._ready = asyncio.Event()

    def __len__(self) -> int:
        return len(self._lines)

    def offer(self, lines: Sequence[str], moment: datetime | None = None) -> int:
        """Queue ``lines`` (never blocks): the deque's bound pushes the oldest out. Returns
        how many were dropped."""
        if not lines:
            return 0
        before = len(self._lines)
        self._lines.extend(lines)
        lost = before + len(lines) - len(self._lines)
        if lost:
            self.lost(lost, moment)
        self._ready.set()
        return lost

    def lost(self, count: int, moment: datetime | None = None) -> None:
        """``count`` lines that will never reach the receiver."""
        self.drops.add(count, moment)
        self.unreported.add(count, moment)
        self._ready.set()  # the drain's stream has an L10 to send

    def take(self, most: int) -> Batch:
        """Up to ``most`` of the oldest lines, led by an L10 line when some were dropped
        since the last one (it counts into ``most``)."""
        batch = Batch(dropped=self.drops.take())
        if batch.dropped is not None:
            notice = overflow_notice(*batch.dropped)
            batch.lines.append(format_line("heroku", "logplex", notice))
        while self._lines and len(batch.lines) < most:
            batch.lines.append(self._lines.popleft())
        if not self._lines:
            self._ready.clear()
        return batch

    def failed(self, batch: Batch) -> None:
        """``batch`` was given up on: its lines are dropped, and its L10 is owed again."""
        if batch.dropped is not None:
            count, since = batch.dropped
            if self.drops.since is None or since < self.drops.since:
                self.drops.since = since
            self.drops.count += count
        if batch.queued:
            self.lost(batch.queued)
        elif batch.dropped is not None:
            self._ready.set()

    async def wait(self) -> None:
        """Until there is something to take."""
        while not self._lines and not self.drops.count:
            self._ready.clear()
            await self._ready.wait()
