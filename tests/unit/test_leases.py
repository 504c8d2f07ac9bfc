"""Leases in the store (cove.store.leases): one holder at a time, taken over once expired,
and a holder that stops (hold() returns) as soon as it may have lost the lease."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from cove.store import Store
from cove.store.leases import Lease
from cove.store.models import Base
from tests.unit.conftest import postgres_store

BOTH_STORES = True
NAME = "dyno-manager"


@pytest.fixture
def pg(postgres_template: str) -> Iterator[Store]:
    yield from postgres_store(postgres_template)


def _expire(store: Store, name: str = NAME) -> None:
    """Put the lease's expiry an hour in the past (rather than waiting for it)."""
    with store.session() as s:
        s.execute(
            text("UPDATE leases SET expires_at = expires_at - 3600 WHERE name = :n"), {"n": name}
        )


def _expires_at(store: Store, name: str = NAME) -> float:
    with store.session() as s:
        return float(
            s.execute(
                text("SELECT expires_at FROM leases WHERE name = :n"), {"n": name}
            ).scalar_one()
        )


async def _until(condition: Callable[[], bool], what: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.005)


def _operational_error(message: str = "server closed the connection") -> OperationalError:
    return OperationalError("UPDATE leases ...", {}, Exception(message))


def test_the_leases_table_matches_the_model(store: Store) -> None:
    def only_leases(obj: Any, name: str | None, type_: str, *_: Any) -> bool:
        return type_ != "table" or name == "leases"

    with store.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_object": only_leases})
        assert compare_metadata(context, Base.metadata) == []
        assert conn.execute(text("SELECT count(*) FROM leases")).scalar_one() == 0


def test_one_holder_at_a_time(store: Store) -> None:
    a, b = Lease(store, NAME, "a"), Lease(store, NAME, "b")
    assert a.holder_now() is None
    assert a.try_acquire()
    assert not b.try_acquire()
    assert a.holder_now() == b.holder_now() == "a"
    assert not b.renew()
    assert a.renew()
    assert b.holder_now() == "a"
    # Another name is another lease.
    assert Lease(store, "other", "b").try_acquire()
    assert a.holder_now() == "a"


def test_the_holder_reacquires_and_extends_it(store: Store) -> None:
    a, b = Lease(store, NAME, "a", ttl=15), Lease(store, NAME, "b")
    assert a.try_acquire()
    # Seconds since the epoch (the database's clock is this host's here).
    assert abs(_expires_at(store) - (time.time() + 15)) < 5
    with store.session() as s:
        s.execute(text("UPDATE leases SET expires_at = expires_at - 10"))
    shortened = _expires_at(store)
    assert a.try_acquire()
    assert _expires_at(store) > shortened + 9
    assert not b.try_acquire()


def test_release_lets_the_other_take_it(store: Store) -> None:
    a, b = Lease(store, NAME, "a"), Lease(store, NAME, "b")
    assert a.try_acquire()
    b.release()  # not b's: no effect
    assert a.holder_now() == "a"
    assert not b.try_acquire()
    a.release()
    assert b.holder_now() is None
    assert b.try_acquire()
    assert a.holder_now() == "b"
    assert not a.renew()


def test_release_never_raises_on_a_store_error(
    store: Store, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    a = Lease(store, NAME, "a")
    assert a.try_acquire()

    def failing_session() -> Any:
        raise _operational_error()

    monkeypatch.setattr(store, "session", failing_session)
    with caplog.at_level(logging.WARNING, logger="cove.leases"):
        a.release()
    assert "could not release" in caplog.text
    monkeypatch.undo()
    assert a.holder_now() == "a"


def test_an_expired_lease_is_taken_over(store: Store) -> None:
    a, b = Lease(store, NAME, "a"), Lease(store, NAME, "b")
    assert a.try_acquire()
    _expire(store)
    assert a.holder_now() is None
    assert not a.renew()  # expired: renewing can't bring it back, re-acquiring might
    assert b.try_acquire()
    assert a.holder_now() == "b"
    assert not a.renew()
    assert not a.try_acquire()
    assert b.renew()


def test_hold_returns_when_another_takes_the_lease(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    ttl = 1.2
    a = Lease(store, NAME, "a", ttl=ttl)
    renewals: list[tuple[bool, float]] = []  # (renewed, when it answered)
    real_renew = a.renew

    def renew() -> bool:
        renewed = real_renew()
        renewals.append((renewed, time.monotonic()))
        return renewed

    monkeypatch.setattr(a, "renew", renew)

    async def scenario() -> None:
        assert a.try_acquire()
        holding = asyncio.create_task(a.hold())
        await _until(lambda: bool(renewals), "a renewal")
        assert renewals[0][0]
        assert not holding.done()
        with store.session() as s:  # taken over underneath
            s.execute(text("UPDATE leases SET holder = 'b'"))
        await asyncio.wait_for(holding, 10)
        assert not renewals[-1][0]  # it returned on the renewal that said so

    asyncio.run(scenario())
    assert Lease(store, NAME, "c").holder_now() == "b"


def test_hold_returns_when_the_store_fails_before_anyone_can_take_over(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A holder whose renewals fail stops (hold() returns) while the lease is still its
    own in the store: nobody else acts until after it has stopped."""
    a = Lease(store, NAME, "a", ttl=3.0)
    attempts: list[float] = []

    def renew() -> bool:
        attempts.append(time.monotonic())
        raise _operational_error()

    async def scenario() -> None:
        assert a.try_acquire()
        monkeypatch.setattr(a, "renew", renew)
        await asyncio.wait_for(a.hold(), 10)

    asyncio.run(scenario())
    assert attempts  # it did try
    assert not Lease(store, NAME, "b").try_acquire()  # not yet expired: a stopped first


def test_hold_returns_when_a_renewal_hangs(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    a = Lease(store, NAME, "a", ttl=3.0)
    unblock = threading.Event()
    monkeypatch.setattr(a, "renew", lambda: unblock.wait(20))

    async def scenario() -> None:
        assert a.try_acquire()
        try:
            await asyncio.wait_for(a.hold(), 10)
        finally:
            unblock.set()  # (asyncio.run waits for the thread before returning)

    asyncio.run(scenario())
    assert not Lease(store, NAME, "b").try_acquire()  # not yet expired: a stopped first


def test_acquire_waits_while_another_holds_it(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    b = Lease(store, NAME, "b")
    assert b.try_acquire()
    a = Lease(store, NAME, "a", ttl=0.3)
    tries: list[bool] = []
    real_try = a.try_acquire

    def try_acquire() -> bool:
        tries.append(real_try())
        return tries[-1]

    monkeypatch.setattr(a, "try_acquire", try_acquire)

    async def scenario() -> None:
        acquiring = asyncio.create_task(a.acquire())
        await _until(lambda: len(tries) >= 2, "two tries")
        assert not any(tries)
        assert not acquiring.done()
        await asyncio.to_thread(b.release)
        await asyncio.wait_for(acquiring, 10)
        assert tries[-1]

    asyncio.run(scenario())
    assert b.holder_now() == "a"


def test_acquire_says_once_that_it_waits_and_tries_at_its_interval(store: Store) -> None:
    """A build waiting for another server's build of its app says so once, in its push."""
    b = Lease(store, NAME, "b")
    assert b.try_acquire()
    a = Lease(store, NAME, "a")  # (ttl 15 s: its default interval would be 5 s)
    said: list[str] = []

    async def scenario() -> None:
        acquiring = asyncio.create_task(a.acquire(interval=0.01, waiting=lambda: said.append("")))
        await _until(lambda: bool(said), "the wait to be said")
        assert not acquiring.done()
        await asyncio.to_thread(b.release)
        await asyncio.wait_for(acquiring, 2)  # well before ttl/3

    asyncio.run(scenario())
    a.close()
    assert said == [""] and b.holder_now() == "a"

    free = Lease(store, "free", "c")
    asyncio.run(free.acquire(waiting=lambda: said.append("free")))
    assert said == [""]  # taken at once: no wait to tell of
    free.close()


def test_acquire_retries_store_errors_without_logging_the_password(
    store: Store, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    a = Lease(store, NAME, "a", ttl=0.3)
    real_try = a.try_acquire
    calls: list[int] = []

    def try_acquire() -> bool:
        calls.append(1)
        if len(calls) == 1:
            raise _operational_error('connection to "postgresql://cove:s3cret@db/cove" failed')
        return real_try()

    monkeypatch.setattr(a, "try_acquire", try_acquire)
    monkeypatch.setattr(store, "url", "postgresql://cove:s3cret@db/cove")
    with caplog.at_level(logging.WARNING, logger="cove.leases"):
        asyncio.run(asyncio.wait_for(a.acquire(), 10))
    assert len(calls) == 2
    assert "could not take" in caplog.text
    assert "s3cret" not in caplog.text
    assert a.holder_now() == "a"


def _race(leases: list[Lease]) -> list[bool | BaseException]:
    """try_acquire on each lease, in a thread of its own, all let go at once."""
    start = threading.Barrier(len(leases))
    results: list[bool | BaseException] = [False] * len(leases)

    def race(i: int) -> None:
        start.wait(10)
        try:
            results[i] = leases[i].try_acquire()
        except BaseException as e:
            results[i] = e

    threads = [threading.Thread(target=race, args=(i,)) for i in range(len(leases))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return results


@pytest.mark.parametrize("existing", ["none", "expired"])
def test_racing_acquirers_on_postgresql_exactly_one_wins(pg: Store, existing: str) -> None:
    for round_ in range(5):
        if existing == "expired":
            assert Lease(pg, NAME, f"old-{round_}").try_acquire()
            _expire(pg)
        leases = [Lease(pg, NAME, f"r{round_}-t{i}") for i in range(8)]
        results = _race(leases)
        assert [r for r in results if not isinstance(r, bool)] == []
        winners = [lease.holder for lease, won in zip(leases, results, strict=True) if won]
        assert len(winners) == 1
        assert leases[0].holder_now() == winners[0]
        with pg.session() as s:
            s.execute(text("DELETE FROM leases"))
