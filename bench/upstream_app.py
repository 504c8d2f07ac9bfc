"""A trivial, fast HTTP/1.1 app for benchmarking proxies: every request gets "Hello, world!".

    python bench/upstream_app.py PORT [WORK_US]

uvloop + httptools, keep-alive, no framework: the point is to make the proxy the bottleneck.
WORK_US burns that much CPU per request, to stand in for a real app's handler. With
UPSTREAM_CLOSE=1 every response closes its connection, as gunicorn's sync workers do: the
proxy then opens a connection per request.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from email.utils import formatdate

import httptools
import uvloop

BODY = b"Hello, world!"
WORK = 0.0  # seconds of CPU per request
CLOSE = os.environ.get("UPSTREAM_CLOSE") == "1"


class _Date:
    value = formatdate(usegmt=True).encode()

    @classmethod
    def tick(cls) -> None:
        cls.value = formatdate(usegmt=True).encode()
        asyncio.get_running_loop().call_later(1.0, cls.tick)


class App(asyncio.Protocol):
    def __init__(self) -> None:
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.out: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            assert self.transport is not None
            self.transport.close()
            return
        if self.out:
            assert self.transport is not None
            self.transport.write(b"".join(self.out))
            self.out.clear()

    def on_message_complete(self) -> None:
        if WORK:
            end = time.perf_counter() + WORK
            while time.perf_counter() < end:
                pass
        keep = self.parser.should_keep_alive() and not CLOSE
        self.out.append(
            b"HTTP/1.1 200 OK\r\nServer: bench\r\nDate: %s\r\n"
            b"Content-Type: text/plain\r\nContent-Length: %d\r\n%s\r\n%s"
            % (_Date.value, len(BODY), b"" if keep else b"Connection: close\r\n", BODY)
        )
        if not keep:
            assert self.transport is not None
            self.transport.write(b"".join(self.out))
            self.out.clear()
            self.transport.close()


async def main(port: int) -> None:
    loop = asyncio.get_running_loop()
    _Date.tick()
    host = os.environ.get("BIND_HOST", "127.0.0.1")
    server = await loop.create_server(App, host, port, backlog=2048)
    print(f"upstream listening on {host}:{port}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    if len(sys.argv) > 2:
        WORK = int(sys.argv[2]) / 1e6
    uvloop.run(main(int(sys.argv[1])))
