"""Keeps the routing table in step with the store: list, then watch events."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from sqlalchemy import select

from cove.router.table import Backend, RouteTable, WebState
from cove.services import domains, dynos
from cove.store import App, Store

# Events after which an app's route may differ: its existence and maintenance flag, its
# dynos, and what decides its web state without dynos (web quantity, the current release).
ROUTE_EVENTS = frozenset(
    {
        "app.created",
        "app.updated",
        "app.destroyed",
        "dyno.changed",
        "formation.changed",
        "release.created",
        "domain.created",
        "domain.updated",
        "domain.deleted",
    }
)


def web_state(quantity: int, declared: bool, states: Iterable[str]) -> WebState:
    """An app's web state from its web formation and its web dynos' states.

    ``UP`` with an up dyno; ``NONE`` when no web dyno is wanted (quantity 0, or the current
    release has no ``web`` process type, or there is no release); ``CRASHED`` when every web
    dyno that isn't being stopped has crashed; else ``STARTING``: booting, restarting after
    a crash, or about to be started.
    """
    states = list(states)
    if "up" in states:
        return WebState.UP
    if quantity <= 0 or not declared:
        return WebState.NONE
    live = [state for state in states if state != "down"]
    if live and all(state == "crashed" for state in live):
        return WebState.CRASHED
    return WebState.STARTING


class RouteFeed:
    def __init__(self, store: Store, table: RouteTable) -> None:
        self.store = store
        self.table = table
        self.app_ids: dict[str, str] = {}  # app name -> id, for attributing router logs

    def _load(self, app_id: str) -> tuple[App | None, list[Backend], WebState, list[str]]:
        with self.store.session() as s:
            app = s.get(App, app_id)
        if app is None:
            return None, [], WebState.NONE, []
        web = dynos.web_process(self.store, app_id)
        backends = [
            Backend(d.name, d.host or "127.0.0.1", d.port)
            for d in sorted(web.dynos, key=lambda d: d.name)
            if d.state == "up" and d.port is not None
        ]
        state = web_state(web.quantity, web.declared, (d.state for d in web.dynos))
        if state is WebState.UP and not backends:
            state = WebState.STARTING  # up, but without a port yet
        return app, backends, state, domains.hostnames_of(self.store, app_id)

    async def _refresh(self, app_id: str, name: str | None) -> None:
        app, backends, state, hosts = await asyncio.to_thread(self._load, app_id)
        if app is None:
            if name:
                self.table.remove_app(name)
                self.app_ids.pop(name, None)
            return
        for old in [n for n, i in self.app_ids.items() if i == app.id and n != app.name]:
            self.table.remove_app(old)  # renamed: the old name routes nowhere now
            del self.app_ids[old]
        self.app_ids[app.name] = app.id
        self.table.set_app(app.name, maintenance=app.maintenance)
        self.table.set_backends(app.name, backends, state=state)
        self.table.set_domains(app.name, hosts)

    async def run(self) -> None:
        cursor = await asyncio.to_thread(self.store.last_event_id)
        with self.store.session() as s:
            ids = list(s.scalars(select(App.id)))
        for app_id in ids:
            await self._refresh(app_id, None)
        async for event in self.store.watch(cursor):
            if event.app_id and event.kind in ROUTE_EVENTS:
                name = event.payload.get("app") or event.payload.get("name")
                await self._refresh(event.app_id, name)
