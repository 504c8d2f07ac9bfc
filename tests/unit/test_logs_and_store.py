from __future__ import annotations

import asyncio
from pathlib import Path

from cove.logs import LogFilter, LogRouter
from cove.store import App, Store


def test_log_router_history_filters_and_tail() -> None:
    async def scenario() -> list[str]:
        logs = LogRouter()
        logs.bind_loop(asyncio.get_running_loop())
        logs.publish("a", "app", "web.1", "one")
        logs.publish("a", "heroku", "router", "at=info")
        logs.publish("b", "app", "web.1", "other app")
        assert [line.split(": ", 1)[1] for line in logs.recent("a", 10, LogFilter())] == [
            "one",
            "at=info",
        ]
        assert len(logs.recent("a", 10, LogFilter(source="heroku"))) == 1
        assert len(logs.recent("a", 10, LogFilter(dyno="web"))) == 1
        assert len(logs.recent("a", 1, LogFilter())) == 1
        got: list[str] = []

        async def follow() -> None:
            async for line in logs.stream("a", 1, LogFilter(dyno="web.1"), tail=True):
                got.append(line)
                if len(got) == 2:
                    return

        task = asyncio.create_task(follow())
        while not got:
            await asyncio.sleep(0)
        await asyncio.to_thread(logs.publish, "a", "app", "web.1", "from a thread")
        await asyncio.wait_for(task, 5)
        return got

    got = asyncio.run(scenario())
    assert got[0].endswith("app[web.1]: one")
    assert got[1].endswith("app[web.1]: from a thread")


def test_store_watch_sees_committed_events_in_order(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'cove.db'}")
    store.migrate()

    async def scenario() -> list[str]:
        cursor = store.last_event_id()
        seen: list[str] = []

        async def watch() -> None:
            async for event in store.watch(cursor):
                seen.append(event.kind)
                if len(seen) == 2:
                    return

        task = asyncio.create_task(watch())
        await asyncio.sleep(0)

        def write() -> None:
            with store.session() as s:
                store.emit(s, "one", None)
                s.flush()  # a flush after emit must not lose the wake-up
            with store.session() as s:
                store.emit(s, "two", None)

        await asyncio.to_thread(write)
        # Well under the 2 s fallback re-read: the commit itself wakes the watcher.
        await asyncio.wait_for(task, 1.5)
        return seen

    assert asyncio.run(scenario()) == ["one", "two"]


def test_rolled_back_transaction_emits_nothing(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'cove.db'}")
    store.migrate()
    before = store.last_event_id()
    try:
        with store.session() as s:
            s.add(App(name="x", owner_id="missing"))
            store.emit(s, "app.created", None)
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert store.last_event_id() == before
