"""Heroku's "Verifying deploy": after a release, wait until one of its web dynos is up.

Read from the dyno rows the dyno manager writes, not from the manager itself: with
``cove server --role``, the manager may run in another process, on another host.
"""

from __future__ import annotations

import asyncio
import contextlib

from sqlalchemy import select

from cove.services import formation
from cove.store import Dyno, Formation, Store

DONE = "done."
CRASHED = "failed: the web process crashed at start. Check `cove logs`."
TIMED_OUT = "timed out waiting for the web process to start. Check `cove logs`."


def _verdict(store: Store, app_id: str, version: int) -> str | None:
    """DONE once a web dyno of ``version`` is up (or the app runs no web dyno); CRASHED when
    every one of them has crashed; None while they are starting."""
    with store.session() as s:
        web = s.scalar(
            select(Formation.quantity).where(Formation.app_id == app_id, Formation.type == "web")
        )
        if not web or "web" not in formation.process_types(s, app_id):
            return DONE
        states = set(
            s.scalars(
                select(Dyno.state).where(
                    Dyno.app_id == app_id, Dyno.type == "web", Dyno.release_version == version
                )
            )
        )
    if "up" in states:
        return DONE
    if states == {"crashed"}:
        return CRASHED
    return None


async def wait_serving(store: Store, app_id: str, version: int, timeout: float) -> str:
    """The verdict shown to the user after a deploy of release ``version``: re-read at
    each change of one of the app's dynos, for at most ``timeout`` seconds."""
    cursor = await asyncio.to_thread(store.last_event_id)
    verdict = await asyncio.to_thread(_verdict, store, app_id, version)
    if verdict is not None:
        return verdict
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout):
            async for event in store.watch(cursor):
                if event.kind == "dyno.changed" and event.app_id == app_id:
                    verdict = await asyncio.to_thread(_verdict, store, app_id, version)
                    if verdict is not None:
                        return verdict
    return TIMED_OUT
