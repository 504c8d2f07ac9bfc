"""SSE keepalives on a quiet log stream (the Heroku CLI's fetch gives up after 5 idle
minutes): ``with_keepalives`` interleaves ``None`` while the source is quiet, keeps the
source's pending line, and closes the source (its tail) when the stream ends."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from cove.api.routes.logs import KEEPALIVE, with_keepalives


class Source:
    """A tail that yields a line each time the test releases one."""

    def __init__(self) -> None:
        self.ready: asyncio.Queue[str | None] = asyncio.Queue()
        self.closed = False

    async def lines(self) -> AsyncIterator[str]:
        try:
            while (line := await self.ready.get()) is not None:
                yield line
        finally:
            self.closed = True


def test_keepalives_while_quiet_then_the_line_then_the_end() -> None:
    async def scenario() -> None:
        source = Source()
        stream = with_keepalives(source.lines(), every=0.01)
        # Nothing to read: keepalives, and the source stays open through them.
        assert await anext(stream) is None
        assert await anext(stream) is None
        assert not source.closed
        source.ready.put_nowait("first")
        while (event := await anext(stream)) is None:
            pass
        assert event == "first"
        source.ready.put_nowait("second")
        source.ready.put_nowait(None)  # the source ends
        events = [e async for e in stream if e is not None]
        assert events == ["second"]
        assert source.closed

    asyncio.run(scenario())


def test_closing_the_stream_closes_a_waiting_source() -> None:
    """A client that goes away mid-wait: the source's tail is dropped at once."""

    async def scenario() -> None:
        source = Source()
        stream = with_keepalives(source.lines(), every=0.01)
        assert await anext(stream) is None  # the source is waiting for a line
        await stream.aclose()  # type: ignore[attr-defined]
        assert source.closed

    asyncio.run(scenario())


def test_closing_between_lines_closes_the_source() -> None:
    async def scenario() -> None:
        source = Source()
        source.ready.put_nowait("only")
        stream = with_keepalives(source.lines(), every=60)
        assert await anext(stream) == "only"
        await stream.aclose()  # type: ignore[attr-defined]
        assert source.closed

    asyncio.run(scenario())


def test_the_keepalive_is_an_sse_comment() -> None:
    """EventSource skips lines that start with a colon: no event reaches the CLI."""
    assert KEEPALIVE.startswith(b":") and KEEPALIVE.endswith(b"\n\n")
