"""The dyno manager reconciles dirty apps side by side (a restart with many apps, a promotion
to several targets), while one app's passes never overlap; an app's own new dynos launch
side by side too, a few at once."""

from __future__ import annotations

import asyncio
from pathlib import Path

from cove.domain import formation
from cove.dynos.backend import DynoSpec
from cove.dynos.manager import DynoManager, _Target
from cove.logs import LogRouter
from cove.settings import Settings
from cove.store import Store


def test_dirty_apps_are_reconciled_side_by_side_and_each_app_once_at_a_time(
    tmp_path: Path, store: Store
) -> None:
    manager = DynoManager(Settings(home=tmp_path), store, None, LogRouter())  # type: ignore[arg-type]
    inside: set[str] = set()
    most_at_once = 0
    passes: list[str] = []
    both_in = asyncio.Event()

    async def reconcile(app_id: str) -> None:
        nonlocal most_at_once
        assert app_id not in inside  # an app's passes never overlap
        inside.add(app_id)
        most_at_once = max(most_at_once, len(inside))
        passes.append(app_id)
        if len(inside) == 2:
            both_in.set()
        if app_id in ("a", "b") and passes.count(app_id) == 1:
            manager.mark_dirty("a")  # dirty again while its pass runs: a later pass
            await both_in.wait()  # returns only if the other app's pass runs meanwhile
        inside.discard(app_id)

    manager._reconcile = reconcile  # type: ignore[method-assign]

    async def run() -> None:
        loop = asyncio.create_task(manager._reconcile_loop())
        manager.mark_dirty("a")
        manager.mark_dirty("b")
        async with asyncio.timeout(10):
            while passes.count("a") < 2 or inside:
                await asyncio.sleep(0.001)
        loop.cancel()

    asyncio.run(run())
    assert most_at_once == 2
    assert sorted(passes) == ["a", "a", "b"]


def test_an_apps_new_dynos_launch_side_by_side_within_the_cap(tmp_path: Path, store: Store) -> None:
    """web=10 at once: launches overlap, never more than the manager's cap (4) at a time,
    and each dyno is launched once."""
    manager = DynoManager(Settings(home=tmp_path), store, None, LogRouter())  # type: ignore[arg-type]
    desired = formation.desired_dynos("app", 2, "slug", {"web": "serve"}, {"web": 10}, {})
    target = _Target("app", desired, {}, {}, tmp_path / "slug.tar.zst")
    manager._target = lambda app_id: target  # type: ignore[method-assign]
    manager._write_row = lambda *args: None  # type: ignore[method-assign]
    launching: set[str] = set()
    launched: list[str] = []
    most_at_once = 0

    class Backend:
        async def start(self, spec: DynoSpec, *args: object) -> object:
            nonlocal most_at_once
            launching.add(spec.name)
            most_at_once = max(most_at_once, len(launching))
            await asyncio.sleep(0)  # a launch waits (ip, nft, bwrap): others go meanwhile
            launching.discard(spec.name)
            launched.append(spec.name)
            return type("Handle", (), {"spec": spec})()

    async def supervise(entry: object) -> None:
        return None

    manager.backend = Backend()  # type: ignore[assignment]
    manager._supervise = supervise  # type: ignore[method-assign, assignment]

    async def run() -> None:
        async with asyncio.timeout(10):
            await manager._reconcile("app")

    asyncio.run(run())
    assert sorted(launched) == sorted(f"web.{n}" for n in range(1, 11))
    assert most_at_once == 4
