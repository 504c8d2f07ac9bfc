"""A drain's buffer: bounded, the oldest dropped first, drops counted and reported (L10)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from cove.logs.drain_buffer import LIMIT, DrainBuffer

FIRST_DROP = datetime(2026, 11, 22, 10, 0, 0, tzinfo=UTC)
L10 = "heroku[logplex]: Error L10 (output buffer overflow): {} messages dropped since {}."


def lines(start: int, stop: int) -> list[str]:
    return [f"line {i}" for i in range(start, stop)]


def test_logplex_bound_is_1024_lines() -> None:
    assert LIMIT == 1024
    buffer = DrainBuffer()
    assert buffer.offer(lines(0, 1024)) == 0
    assert buffer.offer(lines(1024, 1025)) == 1
    assert len(buffer) == 1024


def test_past_its_bound_the_oldest_lines_go_and_are_counted() -> None:
    buffer = DrainBuffer(limit=5)
    assert buffer.offer(lines(0, 3)) == 0
    assert buffer.offer(lines(3, 9), FIRST_DROP) == 4  # one offer larger than what's free
    assert len(buffer) == 5
    assert buffer.offer(lines(9, 10)) == 1
    assert (buffer.drops.count, buffer.drops.since) == (5, FIRST_DROP)
    batch = buffer.take(100)
    assert batch.dropped == (5, FIRST_DROP)
    assert batch.lines[0].endswith(L10.format(5, "2026-11-22T10:00:00+00:00"))
    assert batch.lines[1:] == lines(5, 10)  # the newest five, in order
    assert batch.queued == 5
    assert buffer.drops.count == 0  # reported once: the next batch has no L10
    buffer.offer(["more"])
    assert buffer.take(100).lines == ["more"]


def test_take_returns_at_most_what_is_asked_oldest_first() -> None:
    buffer = DrainBuffer(limit=10)
    buffer.offer(lines(0, 7))
    assert buffer.take(3).lines == lines(0, 3)
    assert buffer.take(3).lines == lines(3, 6)
    assert buffer.take(3).lines == lines(6, 7)
    assert buffer.take(3).lines == []


def test_the_l10_line_counts_into_the_batch_size() -> None:
    buffer = DrainBuffer(limit=2)
    buffer.offer(lines(0, 4))
    batch = buffer.take(2)
    assert len(batch.lines) == 2 and "Error L10" in batch.lines[0]
    assert batch.lines[1:] == ["line 2"] and len(buffer) == 1


def test_drops_are_owed_to_the_apps_log_apart_from_the_drains_stream() -> None:
    buffer = DrainBuffer(limit=1)
    buffer.offer(lines(0, 3), FIRST_DROP)
    buffer.take(10)  # the drain's stream got its L10 ...
    assert buffer.unreported.take() == (2, FIRST_DROP)  # ... the app's log is told apart
    assert buffer.unreported.take() is None


def test_a_batch_given_up_on_is_counted_and_its_l10_is_owed_again() -> None:
    buffer = DrainBuffer(limit=3)
    buffer.offer(lines(0, 5), FIRST_DROP)
    batch = buffer.take(10)
    assert batch.dropped == (2, FIRST_DROP) and batch.queued == 3
    buffer.unreported.take()
    later = datetime(2026, 11, 22, 11, 0, 0, tzinfo=UTC)
    buffer.offer(lines(5, 9), later)  # one more drop, after the batch was taken
    buffer.failed(batch)
    # The stream's next L10 covers the batch's 2, its 3 lines, and the 1 since, from the
    # earliest drop; the app's log is owed only what it has not been told: 1 + 3.
    retry = buffer.take(10)
    assert retry.dropped == (6, FIRST_DROP)
    assert retry.lines[1:] == lines(6, 9)
    assert buffer.unreported.take() == (4, later)


def test_a_failed_batch_with_only_its_l10_is_owed_again() -> None:
    buffer = DrainBuffer(limit=1)
    buffer.offer(lines(0, 2), FIRST_DROP)
    first = buffer.take(1)  # only the L10 fits
    assert first.queued == 0 and len(buffer) == 1
    buffer.failed(first)
    assert buffer.take(10).dropped == (1, FIRST_DROP)


def test_wait_returns_once_there_is_something_to_take() -> None:
    async def scenario() -> list[str]:
        buffer = DrainBuffer(limit=4)
        waiter = asyncio.create_task(buffer.wait())
        await asyncio.sleep(0)
        assert not waiter.done()  # nothing queued: it waits
        buffer.offer(["hello"])
        await asyncio.wait_for(waiter, 5)
        got = buffer.take(10).lines
        again = asyncio.create_task(buffer.wait())
        await asyncio.sleep(0)
        assert not again.done()  # emptied: it waits again
        buffer.failed(buffer.take(10))  # nothing in it: nothing owed
        await asyncio.sleep(0)
        assert not again.done()
        buffer.lost(3)  # an L10 to send is something to take
        await asyncio.wait_for(again, 5)
        return got

    assert asyncio.run(scenario()) == ["hello"]
