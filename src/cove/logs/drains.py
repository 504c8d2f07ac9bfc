"""The drains component: a copy of every app's log lines to its drains. It lists the drains
in the store, then follows their events, so adding or removing one applies at once; each
drain gets its own supervised task (``cove.logs.drain``), so one that is slow or down
never holds up the app, the router or another drain."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import traceback

from cove.domain.errors import InvalidParams
from cove.logs.drain import Drain, client_tls
from cove.logs.drain_buffer import LIMIT
from cove.logs.router import LogRouter
from cove.services import drains
from cove.store import LogDrain, Store

log = logging.getLogger("cove.drains")

RESTART_DELAY = 5.0  # seconds before a drain whose task failed (a bug) starts again
FLUSH_TIMEOUT = 2.0  # at shutdown, how long drains may take to send what they hold


class Drains:
    def __init__(
        self, store: Store, logs: LogRouter, ca_file: str = "", limit: int = LIMIT
    ) -> None:
        self.store = store
        self.logs = logs
        self.limit = limit
        self._tls: ssl.SSLContext = client_tls(ca_file)
        self._drains: dict[str, tuple[Drain, asyncio.Task[None]]] = {}
        self._by_app: dict[str, list[Drain]] = {}
        logs.add_sink(self._sink)

    def _sink(self, app_id: str, lines: list[str]) -> None:
        for drain in self._by_app.get(app_id, ()):
            drain.offer(lines)

    def drains_of(self, app_id: str) -> list[Drain]:
        return list(self._by_app.get(app_id, ()))

    async def run(self) -> None:
        cursor = await asyncio.to_thread(self.store.last_event_id)
        for row in await asyncio.to_thread(drains.list_all, self.store):
            self._start(row)
        async for event in self.store.watch(cursor):
            if event.kind == "log_drain.created":
                added = await asyncio.to_thread(drains.by_id, self.store, event.payload["drain_id"])
                if added is not None:  # else removed since
                    self._start(added)
            elif event.kind == "log_drain.deleted":
                await self._stop(event.payload["drain_id"])
            elif event.kind == "app.destroyed" and event.app_id:
                for drain in self.drains_of(event.app_id):
                    await self._stop(drain.id)

    def _start(self, row: LogDrain) -> None:
        if row.id in self._drains:
            return
        try:
            drain = Drain(
                row.app_id, row.id, row.url, row.token, self.logs.publish, self._tls, self.limit
            )
        except InvalidParams:  # the API checks URLs; a row from elsewhere may not be one
            log.warning("log drain %s of app %s has an invalid URL: skipped", row.id, row.app_id)
            return
        task = asyncio.create_task(self._supervise(drain), name=f"drain {drain.target.safe}")
        self._drains[row.id] = (drain, task)
        self._by_app.setdefault(row.app_id, []).append(drain)

    async def _supervise(self, drain: Drain) -> None:
        while True:
            try:
                await drain.run()
            except Exception as exc:
                # The frames only: an exception's message may quote the URL's credentials.
                log.error(
                    "log drain %s failed (%s); it starts again\n%s",
                    drain.target.safe,
                    type(exc).__name__,
                    "".join(traceback.format_tb(exc.__traceback__)),
                )
            await asyncio.sleep(RESTART_DELAY)

    async def _stop(self, drain_id: str) -> None:
        entry = self._drains.pop(drain_id, None)
        if entry is None:
            return
        drain, task = entry
        siblings = self._by_app.get(drain.app_id, [])
        if drain in siblings:
            siblings.remove(drain)
        if not siblings:
            self._by_app.pop(drain.app_id, None)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def close(self) -> None:
        """Stop every drain, once the ones that can have sent what they hold (the dynos'
        last lines), for at most ``FLUSH_TIMEOUT``."""
        pending = [drain.flushed() for drain, _ in self._drains.values()]
        if pending:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.gather(*pending), FLUSH_TIMEOUT)
        for drain_id in list(self._drains):
            await self._stop(drain_id)
