"""App changes that the API's routes and the dashboard's forms make alike: renaming an app
(its git repository follows) and setting its buildpack list."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import select

from cove.builder.buildpacks import validate_urls
from cove.domain.errors import Conflict, NotFound
from cove.gitreceiver.push_locks import push_lock
from cove.gitreceiver.repos import move_repo
from cove.services import apps
from cove.store import App, Store


async def rename(store: Store, repos_dir: Path, app: App, name: str) -> App:
    """The app and its git repository under the new name. Not while a push to it runs:
    the push's hook and repository go by the old name."""
    lock = push_lock(app.id)
    if lock.locked():
        raise Conflict(f"A push to {app.name} is in progress: rename it once the push is done.")
    async with lock:  # (taken at once: nothing ran since locked() said it was free)
        renamed = await asyncio.to_thread(apps.rename, store, app.id, name)
        await asyncio.to_thread(move_repo, repos_dir, app.name, renamed.name)
    return renamed


def set_buildpacks(store: Store, app_id: str, urls: list[str]) -> list[str]:
    """The app's buildpacks, in order (each valid, none twice); the next build uses them."""
    valid = validate_urls(urls)
    with store.session() as s:
        row = s.scalar(select(App).where(App.id == app_id))
        if row is None:
            raise NotFound(f"Couldn't find that app. ({app_id})")
        row.buildpacks = valid
    return valid
