"""The release phase's output in an API server whose dyno manager runs elsewhere
(``RelayedReleases``): relayed lines followed live until the relayed end, kept for later
readers, and a lost end settled by the release's outcome in the store."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from cove.dynos import release_phase
from cove.dynos.release_phase import RelayedReleases
from cove.services import apps, releases
from cove.settings import Settings
from cove.store import App, Store
from tests.unit.accounts import add_account


def _pending_release(store: Store) -> str:
    owner_id = add_account(store, "dev@example.com")
    app = apps.create(store, owner_id, "gated")
    with store.session() as s:
        row = s.get(App, app.id)
        assert row is not None
        release = releases.append(s, row, slug_id=None, description="Deploy", user_id=owner_id)
        release.status = "pending"
        s.flush()
        return release.id


def _relayed(store: Store, tmp_path: Path) -> RelayedReleases:
    settings = Settings(home=tmp_path)
    settings.builds_dir.mkdir(parents=True)
    return RelayedReleases(settings, store)


async def _follow_into(seen: list[str], relayed: RelayedReleases, release_id: str) -> None:
    async for line in relayed.follow(release_id):
        seen.append(line)


def test_relayed_lines_are_followed_until_the_end_and_kept(store: Store, tmp_path: Path) -> None:
    release_id = _pending_release(store)
    relayed = _relayed(store, tmp_path)

    async def scenario() -> list[str]:
        seen: list[str] = []
        following = asyncio.create_task(_follow_into(seen, relayed, release_id))
        relayed.receive(release_id, ["migrating", "done migrating"], False)
        relayed.receive(release_id, [], True)
        await asyncio.wait_for(following, 10)
        return seen

    assert asyncio.run(scenario()) == ["migrating", "done migrating"]

    # Later (the outcome recorded, as the manager does before the end), from the file.
    releases.finish(store, release_id, True)

    async def later() -> list[str]:
        return [line async for line in relayed.follow(release_id)]

    assert asyncio.run(later()) == ["migrating", "done migrating"]


def test_a_lost_end_is_settled_by_the_outcome_in_the_store(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(release_phase, "RELAYED_END_GRACE", 0.2)
    release_id = _pending_release(store)
    relayed = _relayed(store, tmp_path)

    async def scenario() -> list[str]:
        seen: list[str] = []
        following = asyncio.create_task(_follow_into(seen, relayed, release_id))
        relayed.receive(release_id, ["migrating"], False)
        async with asyncio.timeout(10):
            while not seen:
                await asyncio.sleep(0.01)
        assert not following.done()  # no end, and the release is still pending
        await asyncio.to_thread(releases.finish, store, release_id, True)
        await asyncio.wait_for(following, 10)
        return seen

    assert asyncio.run(scenario()) == ["migrating"]
