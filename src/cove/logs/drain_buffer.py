"""What one drain holds of lines it has not sent: at most ``limit`` (Logplex keeps 1024).
Beyond that the oldest go, counted, so a slow or dead drain costs a fixed amount of memory
and nobody waits for it; the count becomes Logplex's L10 notice once the drain recovers."""

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
    notice: str | None = None  # the L10 message that leads ``lines``, if any


class DrainBuffer:
    def __init__(self, limit: int = LIMIT) -> None:
        self.limit = limit
        self._lines: deque[str] = deque(maxlen=limit)
        self.drops = Drops()
        self._ready = asyncio.Event()

    def __len__(self) -> int:
        return len(self._lines)

    def offer(self, lines: Sequence[str], moment: datetime | None = None) -> None:
        """Queue ``lines`` (never blocks): the deque's bound pushes the oldest out."""
        if not lines:
            return
        before = len(self._lines)
        self._lines.extend(lines)
        lost = before + len(lines) - len(self._lines)
        if lost:
            self.drops.add(lost, moment)
        self._ready.set()

    def take(self, most: int) -> Batch:
        """Up to ``most`` of the oldest lines, led by an L10 line when some were dropped
        since the last one (it counts into ``most``)."""
        batch = Batch()
        dropped = self.drops.take()
        if dropped is not None:
            batch.notice = overflow_notice(*dropped)
            batch.lines.append(format_line("heroku", "logplex", batch.notice))
        while self._lines and len(batch.lines) < most:
            batch.lines.append(self._lines.popleft())
        if not self._lines:
            self._ready.clear()
        return batch

    async def wait(self) -> None:
        """Until there is something to take."""
        while not self._lines and not self.drops.count:
            self._ready.clear()
            await self._ready.wait()
