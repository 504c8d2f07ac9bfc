"""Every window (a minute; shorter in tests), the recorder's aggregates go to the store,
off the event loop; the last, partial window is written when the server stops, so a
restart keeps the history."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from cove.metrics import history
from cove.metrics.recorder import Recorder
from cove.store import Store

log = logging.getLogger(__name__)


class Flusher:
    def __init__(
        self,
        recorder: Recorder,
        store: Store,
        interval: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.recorder = recorder
        self.store = store
        self.interval = max(1.0, interval)  # (a zero or negative setting: every second)
        self.clock = clock

    async def run(self) -> None:
        while True:
            # Windows line up with the wall clock (whole minutes by default).
            now = self.clock()
            await asyncio.sleep(self.interval - now % self.interval)
            await self.flush()

    async def flush(self) -> None:
        now = self.clock()
        points = self.recorder.roll(now)  # on the loop: the recorder's only thread
        try:
            await asyncio.to_thread(history.save, self.store, points, now)
        except Exception:  # a store hiccup loses one window, never the server
            log.exception("writing metrics failed")
