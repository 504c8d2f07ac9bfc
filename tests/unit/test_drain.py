"""One drain's delivery against in-process receivers on 127.0.0.1: reconnecting after the
receiver goes away, HTTP retries with one Logplex-Frame-Id then giving up (counted), drops
reported in the app's log while the drain is down (throttled), and flushing at close."""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from cove.logs import drain as drain_module
from cove.logs.drain import Drain
from cove.logs.frames import CONTENT_TYPE

TOKEN = "d.00000000-0000-4000-8000-00000000000a"
TLS = ssl.create_default_context()


class Published:
    """What a drain wrote into the app's log (LogRouter.publish stand-in)."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, str, str, str]] = []
        self.times: list[float] = []  # the event loop's clock at each

    def __call__(self, app_id: str, source: str, dyno: str, message: str) -> None:
        self.lines.append((app_id, source, dyno, message))
        self.times.append(asyncio.get_running_loop().time())

    def l10(self) -> list[str]:
        return [m for _, _, _, m in self.lines if m.startswith("Error L10")]


async def until(condition: Callable[[], object], timeout: float = 10) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


def lines(tag: str, count: int) -> list[str]:
    return [f"2026-11-22T10:00:00.000000+00:00 app[web.1]: {tag} {i}" for i in range(count)]


@pytest.fixture(autouse=True)
def fast(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(drain_module, "BACKOFF_FIRST", 0.01)
    monkeypatch.setattr(drain_module, "BACKOFF_MAX", 0.05)


def run(scenario: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(scenario())


def test_a_syslog_drain_reconnects_when_its_receiver_hangs_up() -> None:
    async def scenario() -> None:
        received: list[bytes] = []
        connections: list[asyncio.StreamWriter] = []

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            connections.append(writer)
            while data := await reader.read(65536):
                received.append(data)

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        drain = Drain("app", "id", f"syslog://127.0.0.1:{port}", TOKEN, Published(), TLS)
        task = asyncio.create_task(drain.run())
        try:
            drain.offer(lines("first", 3))
            await until(lambda: b"first 2\n" in b"".join(received))
            connections[0].close()  # the receiver goes away; the drain connects again
            await until(lambda: len(connections) == 2)
            drain.offer(lines("second", 2))
            await until(lambda: b"second 1\n" in b"".join(received))
            assert f"{TOKEN} app web.1 - - second 0\n".encode() in b"".join(received)
        finally:
            task.cancel()
            server.close()

    run(scenario)


def test_drops_are_reported_in_the_apps_log_while_the_drain_is_down(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(drain_module, "NOTICE_DELAY", 0.05)
    monkeypatch.setattr(drain_module, "NOTICE_INTERVAL", 0.5)

    async def scenario() -> None:
        published = Published()
        with socket.create_server(("127.0.0.1", 0)) as closed:  # refused once closed
            port = closed.getsockname()[1]
        drain = Drain("app", "id", f"syslog://127.0.0.1:{port}", TOKEN, published, TLS, limit=10)
        task = asyncio.create_task(drain.run())
        try:
            drain.offer(lines("a", 25))  # 15 dropped
            drain.offer(lines("b", 5))  # 5 more, gathered into the same notice
            await until(lambda: published.l10())
            assert published.l10()[0].startswith("Error L10 (output buffer overflow): 20 messages")
            assert published.lines[0][:3] == ("app", "heroku", "logplex")
            drain.offer(lines("c", 3))
            await until(lambda: len(published.l10()) == 2)
            assert published.l10()[1].startswith("Error L10 (output buffer overflow): 3 messages")
            # Not sooner than NOTICE_INTERVAL after the first (a slow machine only adds).
            assert published.times[1] - published.times[0] >= 0.45
            # Its own notices are not queued on the drain that publishes them.
            assert not any("Error L10" in line for line in drain.buffer.take(100).lines[1:])
        finally:
            task.cancel()

    run(scenario)


def test_an_http_batch_is_retried_with_its_frame_id_then_counted_as_dropped() -> None:
    async def scenario() -> None:
        posts: list[dict[str, str]] = []
        answers = iter([500, 503, 500, 200, 200, 200])

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            while head := await reader.readuntil(b"\r\n\r\n"):
                fields = dict(
                    line.split(": ", 1) for line in head.decode().split("\r\n")[1:] if line
                )
                headers = {k.lower(): v for k, v in fields.items()}
                body = await reader.readexactly(int(headers["content-length"]))
                posts.append({**headers, "body": body.decode()})
                status = next(answers)
                writer.write(f"HTTP/1.1 {status} X\r\nContent-Length: 0\r\n\r\n".encode())
                await writer.drain()

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        published = Published()
        drain = Drain("app", "id", f"http://127.0.0.1:{port}/in", TOKEN, published, TLS)
        task = asyncio.create_task(drain.run())
        try:
            drain.offer(lines("lost", 2))
            await until(lambda: len(posts) == 3)  # three tries of one frame, then given up
            assert len({p["logplex-frame-id"] for p in posts}) == 1
            assert all(p["content-type"] == CONTENT_TYPE for p in posts)
            assert all(p["logplex-msg-count"] == "2" for p in posts)
            drain.offer(lines("kept", 1))
            await until(lambda: len(posts) >= 4)
            # The next frame leads with an L10 for the two lines given up on.
            assert "Error L10 (output buffer overflow): 2 messages dropped" in posts[3]["body"]
            assert posts[3]["logplex-frame-id"] != posts[0]["logplex-frame-id"]
            assert "kept 0" in "".join(p["body"] for p in posts[3:])
        finally:
            task.cancel()
            server.close()

    run(scenario)


def test_flushed_waits_until_what_was_queued_is_sent() -> None:
    async def scenario() -> None:
        received: list[bytes] = []

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            while data := await reader.read(65536):
                received.append(data)

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        drain = Drain("app", "id", f"syslog://127.0.0.1:{port}", TOKEN, Published(), TLS)
        task = asyncio.create_task(drain.run())
        try:
            await asyncio.wait_for(drain.flushed(), 5)  # connected, nothing to send
            drain.offer(lines("last words", 600))
            await asyncio.wait_for(drain.flushed(), 5)
            assert len(drain.buffer) == 0  # it waited for all 600 (two batches) to go
            await until(lambda: b"last words 599\n" in b"".join(received))
        finally:
            task.cancel()
            server.close()

    run(scenario)
