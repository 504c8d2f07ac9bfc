"""Keeps the routing table in step with the store: list, then watch events."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from cove.router.table import Backend, RouteTable
from cove.services import dynos
from cove.store import App, Store


class RouteFeed:
    def __init__(self, store: Store, table: RouteTable) -> None:
        self.store = store
        self.table = table
        self.app_ids: dict[str, str] = {}  # app name -> id, for attributing router logs

    def _load(self, app_id: str) -> tuple[App | None, list[Backend]]:
        with self.store.session() as s:
            app = s.get(App, app_id)
        if app is None:
            return None, []
        backends = [
            Backend(d.name, d.host or "127.0.0.1", d.port)
            for d in dynos.up_web_dynos(self.store, app_id)
            if d.port is not None
        ]
        return app, backends

    async def _refresh(self, app_id: str, name: str | None) -> None:
        app, backends = await asyncio.to_thread(self._load, app_id)
        if app is None:
            if name:
                self.table.remove_app(name)
                self.app_ids.pop(name, None)
            return
        self.app_ids[app.name] = app.id
        self.table.set_app(app.name, maintenance=app.maintenance)
        self.table.set_backends(app.name, backends)

    async def run(self) -> None:
        cursor = await asyncio.to_thread(self.store.last_event_id)
        with self.store.session() as s:
            ids = list(s.scalars(select(App.id)))
        for app_id in ids:
            await self._refresh(app_id, None)
        async for event in self.store.watch(cursor):
            if event.app_id and event.kind in (
                "app.created",
                "app.updated",
                "app.destroyed",
                "dyno.changed",
            ):
                name = event.payload.get("app") or event.payload.get("name")
                await self._refresh(event.app_id, name)
