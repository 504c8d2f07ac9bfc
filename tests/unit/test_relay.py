"""The relay between processes sharing a PostgreSQL store (cove.logs.relay), and the log
router's use of it: two Store objects on one database stand for two `cove server`
processes, each with its own listening connection and Relay (on one event loop here)."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from cove.logs import LogFilter, LogRouter
from cove.logs.relay import QUEUE_LINES, Relay
from cove.store import Store
from cove.store.db import NotOnPostgres
from tests.unit.conftest import postgres_store

Received = list[tuple[str, list[str], bool]]


@pytest.fixture
def pg(postgres_template: str) -> Iterator[Store]:
    yield from postgres_store(postgres_template)


@pytest.fixture
def other(pg: Store) -> Iterator[Store]:
    """Another process's store: the same database."""
    store = Store(pg.url)
    yield store
    store.close()


async def _until(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.01)
    return True


async def wait(condition: Callable[[], bool], what: str, timeout: float = 10) -> None:
    if not await _until(condition, timeout):
        raise AssertionError(f"timed out waiting for {what}")


async def connect(sender: Relay, receiver: Relay) -> None:
    """Probes (a topic of their own) until one arrives: the receiver is listening. Then
    one more: once it is in, no probe is left in the sender's queue."""
    got: list[str] = []
    receiver.subscribe("probe", lambda key, lines, end: got.append(key))
    deadline = time.monotonic() + 10
    while not await _until(lambda: bool(got), 0.2):
        assert time.monotonic() < deadline, "the receiving store never listened"
        sender.send("probe", "ping", ["ping"])
    sender.send("probe", "last", ["ping"])
    await wait(lambda: "last" in got, "the last probe")


@asynccontextmanager
async def relays(
    a_store: Store, b_store: Store, capacity: int = QUEUE_LINES
) -> AsyncIterator[tuple[Relay, Relay]]:
    """Two processes' relays, running and listening to each other."""
    loop = asyncio.get_running_loop()
    a, b = Relay(a_store, loop, capacity), Relay(b_store, loop)
    tasks = [asyncio.create_task(a.run()), asyncio.create_task(b.run())]
    try:
        await connect(a, b)
        await connect(b, a)
        yield a, b
    finally:
        await a.close()
        await b.close()
        await asyncio.wait_for(asyncio.gather(*tasks), 5)  # run() ends once closed


def collect(relay: Relay, topic: str) -> Received:
    got: Received = []
    relay.subscribe(topic, lambda key, lines, end: got.append((key, lines, end)))
    return got


def lines_of(got: Received, key: str | None = None) -> list[str]:
    return [line for k, lines, _ in got if key in (None, k) for line in lines]


def test_lines_reach_the_other_process_in_order_and_not_its_own(pg: Store, other: Store) -> None:
    sent = [(f"app-{i % 3}", [f"line {i}.{j}" for j in range(i % 4 + 1)]) for i in range(60)]

    async def scenario() -> tuple[Received, Received]:
        async with relays(pg, other) as (a, b):
            at_a, at_b = collect(a, "logs"), collect(b, "logs")
            for key, lines in sent:
                a.send("logs", key, lines)
            total = sum(len(lines) for _, lines in sent)
            await wait(lambda: len(lines_of(at_b)) >= total, "the lines at b")
            # A line from b: once a has it, a has also seen (and skipped) its own, sent before.
            b.send("logs", "from-b", ["marker"])
            await wait(lambda: bool(at_a), "b's line at a")
            return at_a, at_b

    at_a, at_b = asyncio.run(scenario())
    assert at_a == [("from-b", ["marker"], False)]
    for key in ("app-0", "app-1", "app-2"):
        assert lines_of(at_b, key) == [line for k, lines in sent if k == key for line in lines]
    assert lines_of(at_b) == [line for _, lines in sent for line in lines]


def test_long_lines_and_large_batches_arrive_intact_in_order_with_end(
    pg: Store, other: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    payloads: list[str] = []
    notify = pg.notify

    def recording(channel: str, batch: Sequence[str]) -> None:
        payloads.extend(batch)
        notify(channel, batch)

    monkeypatch.setattr(pg, "notify", recording)
    # 10,000 bytes of UTF-8 each: one byte a character, two, four (12 in JSON), and
    # characters JSON escapes.
    long = ["x" * 10000, "é" * 5000, "😀" * 2500, ('"\\\t' * 3334)[:10000]]
    assert all(len(line.encode()) == 10000 for line in long)
    many = [f"short line {i}" for i in range(5000)]

    async def scenario() -> tuple[Received, Received]:
        async with relays(pg, other) as (a, b):
            logs, builds = collect(b, "logs"), collect(b, "builds")
            a.send("logs", "app", ["before", *long, "after"])
            a.send("logs", "app", many, end=True)
            a.send("builds", "build-1", [], end=True)
            await wait(lambda: bool(builds), "the end of build-1")
            return logs, builds

    logs, builds = asyncio.run(scenario())
    assert lines_of(logs) == ["before", *long, "after", *many]
    assert [end for _, _, end in logs] == [False] * (len(logs) - 1) + [True]  # one end
    assert builds == [("build-1", [], True)]
    assert max(len(p.encode()) for p in payloads) < 7900


def test_the_queue_is_bounded_and_counts_what_it_drops(
    pg: Store, other: Store, caplog: pytest.LogCaptureFixture
) -> None:
    secret = [f"DATABASE_URL=postgres://u:secret-{i}@db/x" for i in range(25)]

    async def scenario() -> tuple[int, Received]:
        async with relays(pg, other, capacity=10) as (a, b):
            got = collect(b, "logs")
            a.send("logs", "app", secret[:6])
            a.send("logs", "app", secret[6:])  # (queued at once: nothing went out yet)
            dropped = a.dropped
            await wait(lambda: len(lines_of(got)) >= 10, "the lines that fit")
            a.send("logs", "app", ["later"])  # room again once sent
            await wait(lambda: "later" in lines_of(got), "a line sent later")
            return dropped, got

    with caplog.at_level(logging.WARNING, logger="cove.logs.relay"):
        dropped, got = asyncio.run(scenario())
    assert dropped == 15
    assert lines_of(got) == [*secret[:10], "later"]  # the newest were dropped
    warnings = [r.getMessage() for r in caplog.records if r.name == "cove.logs.relay"]
    assert any("15 lines dropped" in w for w in warnings), warnings
    assert not any("secret" in w for w in caplog.text.splitlines())


def test_a_store_failure_drops_the_batch_and_the_relay_keeps_going(
    pg: Store, other: Store, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    notify = pg.notify
    failing = threading.Event()

    def flaky(channel: str, batch: Sequence[str]) -> None:
        if failing.is_set() and any("lost" in p for p in batch):
            failing.clear()
            raise RuntimeError("could not reach postgresql://cove:hunter2@db/cove")
        notify(channel, batch)

    monkeypatch.setattr(pg, "notify", flaky)

    async def scenario() -> Received:
        async with relays(pg, other) as (a, b):
            got = collect(b, "logs")
            failing.set()
            a.send("logs", "app", ["lost"])
            await wait(lambda: a.dropped == 1, "the failed batch")
            a.send("logs", "app", ["kept"])
            await wait(lambda: bool(got), "a line after the failure")
            return got

    with caplog.at_level(logging.WARNING, logger="cove.logs.relay"):
        got = asyncio.run(scenario())
    assert got == [("app", ["kept"], False)]
    assert "RuntimeError" in caplog.text
    assert "hunter2" not in caplog.text


def wire(
    router: LogRouter, relay: Relay, relayed: list[str], loop: asyncio.AbstractEventLoop
) -> None:
    """A process's router and relay, as `cove server` joins them (``relayed``: what the
    router gives the relay)."""
    router.bind_loop(loop)

    def send(app_id: str, lines: list[str]) -> None:
        relayed.extend(lines)
        relay.send("logs", app_id, lines)

    router.relay_to(send)
    relay.subscribe("logs", lambda app_id, lines, end: router.receive(app_id, lines))


def test_log_routers_relay_appended_lines_and_do_not_echo_received_ones(
    pg: Store, other: Store
) -> None:
    """A dyno's line in the manager process reaches a tail served by the API process."""

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        async with relays(pg, other) as (a, b):
            manager, api = LogRouter(), LogRouter()
            relayed: dict[str, list[str]] = {"manager": [], "api": []}
            wire(manager, a, relayed["manager"], loop)
            wire(api, b, relayed["api"], loop)
            sunk: list[str] = []
            api.add_sink(lambda app_id, lines: sunk.extend(lines))
            tail = api.stream("app-1", 0, LogFilter(), tail=True)
            first = asyncio.ensure_future(anext(tail))
            await asyncio.sleep(0)  # (one step of the loop: the tail session starts)

            manager.publish("app-1", "app", "web.1", "hello from a dyno")
            line = await asyncio.wait_for(first, 10)
            assert line.endswith("app[web.1]: hello from a dyno")
            assert api.recent("app-1", 10, LogFilter()) == [line]
            assert sunk == [line]
            assert relayed == {"manager": [line], "api": []}  # not sent back

            # And the other way: a line appended in the API process reaches the manager's.
            api.publish("app-1", "heroku", "api", "Release v2 created")
            await wait(lambda: len(manager.recent("app-1", 10, LogFilter())) == 2, "api's line")
            assert relayed["manager"] == [line]  # received, not relayed again
            await tail.aclose()

    asyncio.run(scenario())


def test_received_lines_reach_history_tails_and_sinks_but_not_the_relay() -> None:
    async def scenario() -> None:
        logs = LogRouter()
        logs.bind_loop(asyncio.get_running_loop())
        relayed: list[tuple[str, list[str]]] = []
        sunk: list[tuple[str, list[str]]] = []
        logs.relay_to(lambda app_id, lines: relayed.append((app_id, lines)))
        logs.add_sink(lambda app_id, lines: sunk.append((app_id, lines)))
        tail = logs.stream("a", 0, LogFilter(), tail=True)
        first = asyncio.ensure_future(anext(tail))
        await asyncio.sleep(0)  # (one step of the loop: the tail session starts)
        logs.receive("a", ["elsewhere"])
        assert await asyncio.wait_for(first, 5) == "elsewhere"
        assert logs.recent("a", 10, LogFilter()) == ["elsewhere"]
        assert sunk == [("a", ["elsewhere"])]
        assert relayed == []
        logs.append("a", ["here"])
        assert relayed == [("a", ["here"])]
        assert sunk == [("a", ["elsewhere"]), ("a", ["here"])]
        await tail.aclose()

    asyncio.run(scenario())


def test_a_channel_registered_after_the_listener_started_is_listened_on(
    pg: Store, other: Store
) -> None:
    got: dict[str, list[str]] = {"one": [], "two": []}

    def heard(channel: str, count: int = 1, probe: bool = True) -> None:
        deadline = time.monotonic() + 10
        while len(got[channel]) < count:
            assert time.monotonic() < deadline, f"nothing heard on {channel}"
            if probe:  # (until the listener listens)
                other.notify(f"cove_test_{channel}", [f"probe {time.monotonic()}"])
            time.sleep(0.05)

    pg.listen("cove_test_one", got["one"].append)
    heard("one")  # started, and listening
    pg.listen("cove_test_two", got["two"].append)
    heard("two")
    got["two"].clear()
    other.notify("cove_test_two", ["1", "2", "3"])
    heard("two", 3, probe=False)
    assert got["two"][:3] == ["1", "2", "3"]


def test_listen_and_notify_need_postgresql(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'cove.db'}")
    try:
        with pytest.raises(NotOnPostgres, match="PostgreSQL"):
            store.listen("cove_relay", lambda payload: None)
        with pytest.raises(NotOnPostgres, match="PostgreSQL"):
            store.notify("cove_relay", ["x"])
    finally:
        store.close()
