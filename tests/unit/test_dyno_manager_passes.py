"""The dyno manager reconciles dirty apps side by side (a restart with many apps, a promotion
to several targets), while one app's passes never overlap."""

from __future__ import annotations

import asyncio
from pathlib import Path

from cove.dynos.manager import DynoManager
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
