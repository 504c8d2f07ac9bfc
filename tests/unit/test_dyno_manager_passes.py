"""The dyno manager reconciles dirty apps side by side (a restart with many apps, a promotion
to several targets), while one app's passes never overlap; an app's own new dynos launch
side by side too, a few at once."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from pathlib import Path

from cove.domain import formation
from cove.dynos.backend import DynoSpec
from cove.dynos.manager import DynoManager, _Running, _Target
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


def test_a_serving_dyno_is_signalled_only_after_its_unroute_grace(
    tmp_path: Path, store: Store
) -> None:
    """A dyno that was up leaves the routing table (its row: "down") and keeps serving for
    the unroute grace before its SIGTERM: routers a moment behind the store's events still
    find it answering while they learn of its replacement. One still starting has no
    grace (nothing routes to it)."""
    seen: list[tuple[str, float]] = []

    def manager_with(grace: float) -> DynoManager:
        settings = dataclasses.replace(Settings(home=tmp_path), unroute_grace=grace)
        manager = DynoManager(settings, store, None, LogRouter())  # type: ignore[arg-type]
        manager._write_row = lambda spec, state, handle: seen.append(  # type: ignore[method-assign]
            (f"{spec.name} row {state}", time.monotonic())
        )
        manager._delete_row = lambda *args: None  # type: ignore[method-assign]
        return manager

    class Handle:
        def __init__(self, name: str) -> None:
            self.spec = _spec(name)
            self.exited = asyncio.Event()

        def has_exited(self) -> bool:
            return self.exited.is_set()

        def terminate(self) -> None:
            seen.append((f"{self.spec.name} SIGTERM", time.monotonic()))
            self.exited.set()

        async def wait_exit(self) -> int:
            await self.exited.wait()
            return 143

    async def stop(manager: DynoManager, name: str, state: str) -> None:
        manager._running[name] = _Running(Handle(name), state)  # type: ignore[arg-type]
        async with asyncio.timeout(10):
            await manager._stop(name, "down")

    asyncio.run(stop(manager_with(0.2), "web.1", "up"))
    asyncio.run(stop(manager_with(3600), "web.2", "starting"))  # (no grace: no wait)
    assert [event for event, _ in seen] == [
        "web.1 row down",
        "web.1 SIGTERM",
        "web.2 row down",
        "web.2 SIGTERM",
    ]
    assert seen[1][1] - seen[0][1] >= 0.2  # (the grace is a sleep: never shorter)


def _spec(name: str) -> DynoSpec:
    return DynoSpec(
        id=name,
        app_id="app",
        app_name="app",
        name=name,
        type="web",
        command="serve",
        size="standard-1x",
        release_version=1,
        revision="v1",
        slug=Path("/nowhere/slug.tar.zst"),
        config={},
    )
