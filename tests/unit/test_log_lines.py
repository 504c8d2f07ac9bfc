"""Log lines out of raw process output: Logplex's 10000-byte split, the per-app line budget
with its L10 notices, and L11 for tail sessions that fall behind."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any

from cove.logs import LogFilter, LogRouter
from cove.logs.budget import Drops, LineBudget, overflow_notice, tail_overflow_notice
from cove.logs.lines import LineSplitter
from cove.logs.output import READ_CHUNK

ALL = 1 << 30  # "keep every line"


def split_all(chunks: list[bytes], limit: int = 10000) -> list[bytes]:
    splitter = LineSplitter(limit)
    lines: list[bytes] = []
    for chunk in chunks:
        kept, skipped = splitter.feed(chunk, ALL)
        assert skipped == 0
        lines += kept
    last = splitter.flush()
    return lines + ([last] if last is not None else [])


def test_lines_across_chunks_and_the_last_line_without_newline() -> None:
    assert split_all([b"one\ntw", b"o\n\nthr", b"ee"]) == [b"one", b"two", b"", b"three"]
    assert split_all([b"a\r\n", b"b\n"]) == [b"a\r", b"b"]  # \r is dropped when decoding


def test_a_long_line_leaves_in_pieces_of_the_limit_as_it_arrives() -> None:
    line = bytes(48 + i % 10 for i in range(200 * 1024))
    splitter = LineSplitter()
    first, _ = splitter.feed(line[:25000], ALL)
    assert first == [line[:10000], line[10000:20000]]  # before any newline arrived
    rest: list[bytes] = []
    for i in range(25000, len(line), 7777):
        rest += splitter.feed(line[i : i + 7777], ALL)[0]
    rest += splitter.feed(b"\nnext\n", ALL)[0]
    pieces = first + rest
    assert pieces[-1] == b"next"
    assert [len(p) for p in pieces[:-1]] == [10000] * 20 + [4800]
    assert b"".join(pieces[:-1]) == line  # nothing lost


def test_pieces_end_on_utf8_character_boundaries() -> None:
    text = ("é" * 7 + "€" * 5 + "😀" * 3).encode() * 3000  # 2-, 3- and 4-byte characters
    pieces = split_all([text[i : i + 4096] for i in range(0, len(text), 4096)], limit=1000)
    assert all(len(p) <= 1000 for p in pieces)
    assert "".join(p.decode() for p in pieces) == text.decode()  # each piece decodes alone
    binary = b"\x80" * 2500  # not UTF-8 at all: cut at the limit
    assert [len(p) for p in split_all([binary], limit=1000)] == [1000, 1000, 500]


def test_only_the_lines_kept_are_split_the_rest_is_counted() -> None:
    splitter = LineSplitter(limit=10)
    assert splitter.feed(b"a\nb\nc\nd\ne", 2) == ([b"a", b"b"], 2)  # c, d complete; e not yet
    assert splitter.feed(b"\nf\n", 0) == ([], 2)
    # Pieces of a long line count against what may be kept, in order.
    assert splitter.feed(b"x" * 25 + b"\ny\n", 2) == ([b"x" * 10, b"x" * 10], 2)
    assert splitter.feed(b"z" * 25, 0) == ([], 2)  # two pieces left, counted
    assert splitter.flush() == b"z" * 5


def test_line_budget_is_a_token_bucket() -> None:
    budget = LineBudget(rate=100, burst=500)
    assert budget.available(10.0) == 500
    budget.spend(500)
    assert budget.available(10.0) == 0
    assert budget.available(10.5) == 50
    budget.spend(50)
    assert budget.available(1000.0) == 500  # never more than the burst


def test_drop_counts_and_logplex_notices() -> None:
    drops = Drops()
    assert drops.take() is None
    moment = datetime(2013, 4, 17, 19, 4, 46, 123456, tzinfo=UTC)
    assert drops.add(400, moment) is True
    assert drops.add(100) is False  # the same run
    assert drops.take() == (500, moment)
    assert drops.take() is None
    assert overflow_notice(500, moment) == (
        "Error L10 (output buffer overflow): 500 messages dropped since 2013-04-17T19:04:46+00:00."
    )
    assert tail_overflow_notice(1101, moment) == (
        "L11 (Tail buffer overflow) -> This tail session dropped 1101 messages since "
        "2013-04-17T19:04:46+00:00"
    )


async def until(condition: Callable[[], bool], what: str) -> None:
    """Let the loop run until ``condition`` holds (a deadline, not a sleep)."""
    deadline = asyncio.get_running_loop().time() + 5
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


def run(scenario: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(scenario())


def test_process_output_within_budget_then_dropped_with_an_l10_notice() -> None:
    async def scenario() -> None:
        logs = LogRouter(lines_per_second=10, notice_delay=0)  # a burst of 50 lines
        logs.bind_loop(asyncio.get_running_loop())
        teed: list[str] = []
        out = logs.process_output("a", "web.1", tee=teed.append)
        assert out.write(b"".join(b"line %d\n" % i for i in range(30))) == 0
        pause = out.write(b"".join(b"line %d\n" % i for i in range(30, 100)))
        assert 0 < pause <= READ_CHUNK / (8 * 1024 * 1024)  # a flood is read slower
        assert teed == [f"line {i}" for i in range(50)]

        def lines() -> list[str]:
            return logs.recent("a", 1500, LogFilter())

        await until(lambda: "logplex" in lines()[-1], "the L10 notice")
        assert all(re.match(r"^\S+ app\[web\.1\]: line \d+$", line) for line in lines()[:-1])
        assert re.search(
            r" heroku\[logplex\]: Error L10 \(output buffer overflow\): 50 messages dropped "
            r"since \S+\+00:00\.$",
            lines()[-1],
        )
        # Other sources (the dyno manager, the router) are never dropped.
        logs.publish("a", "heroku", "web.1", "State changed from up to crashed")
        assert lines()[-1].endswith("heroku[web.1]: State changed from up to crashed")
        # Nor are other apps' lines: the budget is per app.
        assert logs.process_output("b", "web.1").write(b"hello\n") == 0
        assert logs.recent("b", 10, LogFilter())[0].endswith("app[web.1]: hello")

    run(scenario)


def test_the_last_line_without_newline_is_logged_at_close() -> None:
    async def scenario() -> None:
        logs = LogRouter()
        out = logs.process_output("a", "release.1234")
        out.write("über\nno newline at the end é".encode()[:-1])  # ends inside "é"
        out.close()
        messages = [line.split(": ", 1)[1] for line in logs.recent("a", 10, LogFilter())]
        assert messages == ["über", "no newline at the end \ufffd"]

    run(scenario)


def test_tail_session_that_falls_behind_gets_an_l11_notice() -> None:
    async def scenario() -> None:
        logs = LogRouter(tail_buffer=5)
        logs.bind_loop(asyncio.get_running_loop())
        session = logs.stream("a", 0, LogFilter(dyno="web.1"), tail=True)
        first = asyncio.ensure_future(anext(session))
        await asyncio.sleep(0)  # the session is registered once it runs
        for i in range(20):
            logs.publish("a", "app", "web.1", f"line {i}")
            logs.publish("a", "heroku", "router", "filtered out: never counted")
        got = [await first] + [await anext(session) for _ in range(4)]
        assert [line.split(": ", 1)[1] for line in got] == [f"line {i}" for i in range(5)]
        logs.publish("a", "app", "web.1", "caught up")
        notice, line = await anext(session), await anext(session)
        assert re.search(
            r" heroku\[logplex\]: L11 \(Tail buffer overflow\) -> This tail session dropped "
            r"15 messages since \S+\+00:00$",
            notice,
        )
        assert line.endswith("app[web.1]: caught up")
        await session.aclose()

    run(scenario)
