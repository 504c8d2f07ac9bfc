"""The router over real HTTP on 127.0.0.1: real upstream servers, raw client sockets.

The upstream and the client here parse HTTP with their own small code (asyncio streams), not
the router's, so a framing bug in the router can't hide behind a shared parser. Nothing
sleeps to synchronise: tests wait on conditions (``Signal.until``) under deadlines.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import logging
import re
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import uvloop

import cove.router.upstream as upstream_module
from cove.router import Backend, Router, RouteTable, WebState
from cove.router.exchange import Exchange
from cove.router.proxy import ClientConn
from cove.router.upstream import UpstreamConn

DEADLINE = 10.0
MB = 1024 * 1024


def e2e(fn: Callable[[], Awaitable[None]]) -> Callable[[], None]:
    """Run an async test on uvloop (what production runs) under an overall deadline."""

    @functools.wraps(fn)
    def wrapper() -> None:
        async def bounded() -> None:
            async with asyncio.timeout(30):
                await fn()

        uvloop.run(bounded())

    return wrapper


class Signal:
    """Wake waiters whenever something observable happened (a request, a log line, bytes)."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        self._event.set()

    async def until(self, pred: Callable[[], Any], timeout: float = DEADLINE) -> None:
        async with asyncio.timeout(timeout):
            while not pred():
                self._event.clear()
                await self._event.wait()


def pattern(n: int) -> bytes:
    """n deterministic, non-repeating-ish bytes (so a dropped or duplicated piece shows)."""
    block = hashlib.sha256(b"cove").digest() * 4096  # 128 KiB
    out = bytearray()
    i = 0
    while len(out) < n:
        out += i.to_bytes(4, "big") + block[: min(len(block), n - len(out) - 4)]
        i += 1
    return bytes(out[:n])


# -- a real upstream ("dyno") ----------------------------------------------------------------


@dataclass
class Seen:
    method: str
    target: str
    version: str
    headers: list[tuple[str, str]]
    body: bytes = b""

    def get(self, name: str) -> str | None:
        values = self.all(name)
        return values[0] if values else None

    def all(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k.lower() == name.lower()]


@dataclass
class Upstream:
    name: str
    signal: Signal
    requests: list[Seen] = field(default_factory=list)
    connections: int = 0
    body_bytes: int = 0  # request body bytes received so far, all requests
    release: asyncio.Event = field(default_factory=asyncio.Event)  # for /big and /stall
    port: int = 0
    server: asyncio.Server | None = None
    sent_bytes: int = 0  # response body bytes written so far (/blast)
    drop_reused: bool = False  # hang up on the next request that reuses a connection
    vanish: bool = True  # /vanish hangs up (else it's answered like any path)
    writers: set[asyncio.StreamWriter] = field(default_factory=set)

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        for w in list(self.writers):
            w.close()
        with contextlib.suppress(Exception):
            await self.server.wait_closed()

    def backend(self, dyno: str = "web.1") -> Backend:
        return Backend(dyno, "127.0.0.1", self.port)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.writers.add(writer)
        self.signal.notify()
        try:
            reused = False
            while await self._one(reader, writer, reused):
                reused = True
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            self.writers.discard(writer)
            writer.close()
            self.signal.notify()

    async def _one(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, reused: bool
    ) -> bool:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return False
        if reused and self.drop_reused:
            # As if the connection had hit the dyno's keep-alive timeout just now.
            self.drop_reused = False
            return False
        lines = head.decode("latin-1").split("\r\n")
        method, target, version = lines[0].split(" ")
        headers = [(k, v.strip()) for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)]
        seen = Seen(method, target, version, headers)
        path = target.split("?")[0]
        if path == "/close":  # H13: hang up without a word
            self.requests.append(seen)
            self.signal.notify()
            return False
        if path == "/vanish" and self.vanish:  # hang up without a word, once told to
            seen.body = await self._read_body(reader, seen)
            self.requests.append(seen)
            self.signal.notify()
            await self.release.wait()
            return False
        if path == "/early":  # answer before reading the body, then hang up
            self.requests.append(seen)
            writer.write(b"HTTP/1.1 413 Payload Too Large\r\nContent-Length: 4\r\n\r\nbig!")
            await writer.drain()
            return False
        if path == "/continue" and seen.get("expect") == "100-continue":
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        if path == "/stall":  # don't read the body until told (backpressure)
            self.requests.append(seen)
            self.signal.notify()
            await self.release.wait()
        seen.body = await self._read_body(reader, seen)
        if path != "/stall":
            self.requests.append(seen)
        self.signal.notify()
        return await self._respond(seen, path, writer, reader)

    async def _read_body(self, reader: asyncio.StreamReader, seen: Seen) -> bytes:
        body = bytearray()
        if "chunked" in (seen.get("transfer-encoding") or ""):
            while True:
                size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                if size == 0:
                    await reader.readuntil(b"\r\n")  # (no trailers from the router)
                    return bytes(body)
                body += await reader.readexactly(size)
                self.body_bytes += size
                self.signal.notify()
                await reader.readexactly(2)
        remaining = int(seen.get("content-length") or 0)
        while remaining:
            piece = await reader.read(min(remaining, 256 * 1024))
            if not piece:
                raise asyncio.IncompleteReadError(bytes(body), remaining)
            body += piece
            remaining -= len(piece)
            self.body_bytes += len(piece)
            self.signal.notify()
        return bytes(body)

    async def _respond(
        self, seen: Seen, path: str, writer: asyncio.StreamWriter, reader: asyncio.StreamReader
    ) -> bool:
        head_only = seen.method == "HEAD"
        if path == "/hang":  # H12: never answer; wait for the router to give up
            await reader.read()
            return False
        if path == "/big":  # 20 MB in two parts; the 2nd only once the client has the 1st
            n = int(seen.target.split("=")[1])
            data = pattern(n)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % n)
            writer.write(data[:MB])
            await writer.drain()
            await self.release.wait()
            writer.write(data[MB:])
            await writer.drain()
            return True
        if path == "/blast":  # as fast as the router takes it (response backpressure)
            n = int(seen.target.split("=")[1])
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % n)
            data = pattern(n)
            for i in range(0, n, 64 * 1024):
                writer.write(data[i : i + 64 * 1024])
                await writer.drain()
                self.sent_bytes = i + 64 * 1024
                self.signal.notify()
            return True
        if path == "/partial":  # promise 100 bytes, send 10, hang up
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")
            await writer.drain()
            return False
        if path == "/chunked":
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            for piece in (b"hello ", b"chunked ", pattern(300_000), b" world"):
                writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                await writer.drain()
            writer.write(b"0\r\n\r\n")
            await writer.drain()
            return True
        if path == "/eof":  # old-style: no length, the end is the close
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n")
            writer.write(b"until the end" + pattern(100_000))
            await writer.drain()
            return False
        if path == "/hop":  # hop-by-hop response headers the router must drop
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nKeep-Alive: timeout=5\r\n"
                b"Connection: keep-alive, X-Hop\r\nX-Hop: secret\r\nX-Kept: yes\r\n"
                b"Via: 1.0 upstream-cache\r\n\r\nok"
            )
            await writer.drain()
            return True
        if path == "/ws":  # Upgrade: switch protocols, then echo bytes back
            writer.write(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\n\r\n"
            )
            while data := await reader.read(65536):
                writer.write(data.upper())
                await writer.drain()
            return False
        if path.startswith("/status/"):
            status = int(path.split("/")[2])
            writer.write(b"HTTP/1.1 %d Whatever\r\nContent-Length: 0\r\n\r\n" % status)
            await writer.drain()
            return True
        if path == "/echo":
            body = (f"{len(seen.body)} " + hashlib.sha256(seen.body).hexdigest()).encode()
        else:
            body = f"{self.name} {seen.method} {seen.target}".encode()
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s"
            % (len(body), b"" if head_only else body)
        )
        await writer.drain()
        return True


# -- a raw client ----------------------------------------------------------------------------


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    version: str

    def get(self, name: str) -> str | None:
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None


class Client:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, port: int) -> Client:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
        return cls(reader, writer)

    def send(
        self,
        method: str,
        target: str,
        host: str,
        headers: list[tuple[str, str]] | None = None,
        body: bytes | None = None,
        version: str = "1.1",
    ) -> None:
        lines = [f"{method} {target} HTTP/{version}", f"Host: {host}"]
        lines += [f"{k}: {v}" for k, v in headers or []]
        if body is not None:
            lines.append(f"Content-Length: {len(body)}")
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b""))

    async def head(self) -> tuple[int, list[tuple[str, str]], str]:
        raw = await self.reader.readuntil(b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        version, status, *_ = lines[0].split(" ")
        headers = [(k, v.strip()) for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)]
        return int(status), headers, version

    async def response(self, method: str = "GET") -> Response:
        status, headers, version = await self.head()
        resp = Response(status, headers, b"", version)
        if method == "HEAD" or status in (204, 304) or status < 200:
            return resp
        if "chunked" in (resp.get("transfer-encoding") or ""):
            body = bytearray()
            while size := int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16):
                body += await self.reader.readexactly(size)
                await self.reader.readexactly(2)
            await self.reader.readexactly(2)
            resp.body = bytes(body)
        elif resp.get("content-length") is not None:
            resp.body = await self.reader.readexactly(int(resp.get("content-length") or 0))
        else:
            resp.body = await self.reader.read()
        return resp

    async def request(self, method: str, target: str, host: str, **kw: Any) -> Response:
        self.send(method, target, host, **kw)
        return await self.response(method)

    async def closed_by_peer(self) -> bool:
        async with asyncio.timeout(DEADLINE):
            return await self.reader.read() == b""

    def close(self) -> None:
        self.writer.close()


# -- the router under test -------------------------------------------------------------------


@dataclass
class Env:
    router: Router
    table: RouteTable
    signal: Signal
    logs: list[tuple[str, str]]
    upstreams: list[Upstream] = field(default_factory=list)
    clients: list[Client] = field(default_factory=list)

    @property
    def port(self) -> int:
        return self.router.port

    def host(self, app: str) -> str:
        return f"{app}.localhost:{self.port}"

    async def app(self, name: str, dynos: int = 1) -> list[Upstream]:
        ups = []
        for i in range(1, dynos + 1):
            up = Upstream(f"{name}/web.{i}", self.signal)
            await up.start()
            ups.append(up)
        self.upstreams += ups
        self.table.set_app(name)
        self.table.set_backends(name, [u.backend(f"web.{i}") for i, u in enumerate(ups, 1)])
        return ups

    async def client(self) -> Client:
        c = await Client.open(self.port)
        self.clients.append(c)
        return c

    async def get(self, app: str, target: str = "/", **kw: Any) -> Response:
        c = await self.client()
        return await c.request("GET", target, self.host(app), **kw)

    def lines(self, app: str) -> list[str]:
        return [line for a, line in self.logs if a == app]

    async def log_line(self, app: str, n: int = 1) -> str:
        await self.signal.until(lambda: len(self.lines(app)) >= n)
        return self.lines(app)[n - 1]


class NotifyingTable(RouteTable):
    """Wakes waiting tests when a request starts waiting for an app's route to change."""

    signal: Signal

    def changed(self, app: str) -> asyncio.Event:
        self.signal.notify()
        return super().changed(app)


@contextlib.asynccontextmanager
async def router_env(table: RouteTable | None = None, **kw: Any) -> AsyncIterator[Env]:
    signal = Signal()
    logs: list[tuple[str, str]] = []

    def log(app: str, line: str) -> None:
        logs.append((app, line))
        signal.notify()

    class NotifyingClientConn(ClientConn):
        """Wakes waiting tests when the router applies backpressure, sends a request to a
        dyno, or loses a client."""

        def _attach(self, ex: Exchange, conn: UpstreamConn, *, reused: bool) -> None:
            super()._attach(ex, conn, reused=reused)
            signal.notify()

        def pause_reading(self, why: int) -> None:
            super().pause_reading(why)
            signal.notify()

        def pause_writing(self) -> None:
            super().pause_writing()
            signal.notify()

        def connection_lost(self, exc: Exception | None) -> None:
            super().connection_lost(exc)
            signal.notify()

    if table is None:
        table = NotifyingTable("localhost")
        table.signal = signal
    router = Router(table, log=log, **kw)
    router.client_class = NotifyingClientConn
    await router.start("127.0.0.1", 0)
    env = Env(router, table, signal, logs)
    try:
        yield env
    finally:
        for c in env.clients:
            c.close()
        await router.close()
        for up in env.upstreams:
            await up.stop()


UUID4 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- routing ---------------------------------------------------------------------------------


@e2e
async def test_routes_by_host_to_the_right_app_and_keeps_host() -> None:
    async with router_env() as env:
        await env.app("alpha")
        await env.app("beta")
        a = await env.get("alpha", "/a")
        b = await env.get("beta", "/b?x=1")
        c = await (await env.client()).request("GET", "/", "BETA.Localhost.")
        assert (a.status, a.body) == (200, b"alpha/web.1 GET /a")
        assert (b.status, b.body) == (200, b"beta/web.1 GET /b?x=1")
        assert (c.status, c.body) == (200, b"beta/web.1 GET /")
        assert env.upstreams[0].requests[0].get("host") == env.host("alpha")
        assert env.upstreams[1].requests[1].get("host") == "BETA.Localhost."


@e2e
async def test_unknown_host_gets_404_page_and_no_log() -> None:
    async with router_env() as env:
        await env.app("alpha")
        resp = await env.get("nope")
        assert resp.status == 404
        assert resp.get("content-type") == "text/html; charset=utf-8"
        assert b"No such app" in resp.body
        # The connection stays usable, and the known app is logged but the unknown one not.
        assert (await env.get("alpha")).status == 200
        await env.log_line("alpha")
        assert [a for a, _ in env.logs] == ["alpha"]


@e2e
async def test_requests_spread_randomly_over_both_backends() -> None:
    async with router_env() as env:
        one, two = await env.app("alpha", dynos=2)
        c = await env.client()
        for _ in range(40):  # all 40 on one dyno by chance: p = 2**-39
            assert (await c.request("GET", "/", env.host("alpha"))).status == 200
        assert len(one.requests) + len(two.requests) == 40
        assert one.requests and two.requests
        dynos = {re.search(r"dyno=(\S+)", line)[1] for line in env.lines("alpha")}  # type: ignore[index]
        assert dynos == {"web.1", "web.2"}


@e2e
async def test_table_changes_apply_to_the_next_request() -> None:
    async with router_env() as env:
        (up,) = await env.app("alpha")
        assert (await env.get("alpha")).status == 200
        env.table.set_backends("alpha", [])
        assert (await env.get("alpha")).status == 503
        env.table.set_backends("alpha", [up.backend()])
        assert (await env.get("alpha")).status == 200
        env.table.remove_app("alpha")
        assert (await env.get("alpha")).status == 404


# -- headers ---------------------------------------------------------------------------------


@e2e
async def test_forwarding_headers_added_and_hop_by_hop_stripped() -> None:
    async with router_env(public_port=8443) as env:
        (up,) = await env.app("alpha")
        before = int(time.time() * 1000)
        resp = await env.get(
            "alpha",
            "/h",
            headers=[
                ("X-Forwarded-For", "203.0.113.9"),
                ("X-Forwarded-Proto", "https"),
                ("X-Forwarded-Port", "1"),
                ("X-Request-Start", "1"),
                ("X-Request-Id", "abcdefghij0123456789+/=-"),
                ("Via", "1.0 fred"),
                ("X-Secret", "hop"),  # named in Connection below, so hop-by-hop
                ("Connection", "keep-alive, X-Secret"),
                ("Keep-Alive", "timeout=5"),
                ("Proxy-Connection", "keep-alive"),
                ("TE", "trailers"),
                ("X-Custom", "kept"),
            ],
        )
        after = int(time.time() * 1000)
        assert resp.status == 200
        seen = up.requests[0]
        assert seen.get("host") == env.host("alpha")
        assert seen.all("x-forwarded-for") == ["203.0.113.9, 127.0.0.1"]
        assert seen.all("x-forwarded-proto") == ["http"]
        assert seen.all("x-forwarded-port") == ["8443"]
        assert before <= int(seen.get("x-request-start") or 0) <= after
        assert seen.all("x-request-id") == ["abcdefghij0123456789+/=-"]
        assert seen.all("via") == ["1.0 fred, 1.1 cove"]
        assert seen.get("x-custom") == "kept"
        for hop in ("connection", "x-secret", "keep-alive", "proxy-connection", "te"):
            assert seen.get(hop) is None, hop
        assert resp.get("via") == "1.1 cove"
        line = await env.log_line("alpha")
        assert "request_id=abcdefghij0123456789+/=- " in line
        assert 'fwd="203.0.113.9, 127.0.0.1"' in line


@e2e
async def test_request_id_regenerated_when_invalid_or_missing() -> None:
    async with router_env() as env:
        (up,) = await env.app("alpha")
        for bad in [None, "short", "x" * 201, "has spaces in it, twenty+ chars", "é" * 30]:
            headers = [] if bad is None else [("X-Request-Id", bad)]
            assert (await env.get("alpha", headers=headers)).status == 200
        ids = [r.get("x-request-id") or "" for r in up.requests]
        assert all(UUID4.fullmatch(i) for i in ids), ids
        assert len(set(ids)) == len(ids)
        for i, line in enumerate(env.lines("alpha")):
            assert f"request_id={ids[i]} " in line


@e2e
async def test_response_hop_by_hop_headers_stripped_and_via_appended() -> None:
    async with router_env() as env:
        await env.app("alpha")
        resp = await env.get("alpha", "/hop")
        assert (resp.status, resp.body) == (200, b"ok")
        names = [k.lower() for k, _ in resp.headers]
        assert "keep-alive" not in names
        assert "x-hop" not in names
        assert "connection" not in names
        assert resp.get("x-kept") == "yes"
        assert resp.get("via") == "1.0 upstream-cache, 1.1 cove"


# -- bodies ----------------------------------------------------------------------------------


@e2e
async def test_large_request_body_is_streamed_not_buffered() -> None:
    async with router_env() as env:
        (up,) = await env.app("alpha")
        body = pattern(20 * MB)
        c = await env.client()
        head = f"POST /echo HTTP/1.1\r\nHost: {env.host('alpha')}\r\nContent-Length: {len(body)}"
        c.writer.write(head.encode() + b"\r\n\r\n" + body[:MB])
        # The dyno sees the first megabyte while the client still holds back the rest:
        # a router that buffered whole bodies would deadlock here.
        await env.signal.until(lambda: up.body_bytes >= MB)
        assert up.body_bytes < len(body)
        c.writer.write(body[MB:])
        resp = await c.response()
        assert resp.body == f"{len(body)} {hashlib.sha256(body).hexdigest()}".encode()
        assert f"bytes={len(resp.body)} " in await env.log_line("alpha")


@e2e
async def test_chunked_request_body_is_forwarded_chunked() -> None:
    async with router_env() as env:
        (up,) = await env.app("alpha")
        c = await env.client()
        pieces = [b"first", pattern(3 * MB), b"last"]
        c.writer.write(
            f"POST /echo HTTP/1.1\r\nHost: {env.host('alpha')}\r\n"
            "Transfer-Encoding: chunked\r\n\r\n".encode()
        )
        c.writer.write(b"%x\r\n%s\r\n" % (len(pieces[0]), pieces[0]))
        await env.signal.until(lambda: up.body_bytes >= len(pieces[0]))  # streamed
        for p in pieces[1:]:
            c.writer.write(b"%x\r\n%s\r\n" % (len(p), p))
        c.writer.write(b"0\r\n\r\n")
        resp = await c.response()
        body = b"".join(pieces)
        assert resp.body == f"{len(body)} {hashlib.sha256(body).hexdigest()}".encode()
        assert up.requests[0].get("transfer-encoding") == "chunked"
        assert up.requests[0].get("content-length") is None
        # Keep-alive survives a chunked upload.
        assert (await c.request("GET", "/", env.host("alpha"))).status == 200


@e2e
async def test_large_response_is_streamed_not_buffered() -> None:
    async with router_env() as env:
        (up,) = await env.app("alpha")
        n = 20 * MB
        c = await env.client()
        c.send("GET", f"/big?n={n}", env.host("alpha"))
        status, headers, _ = await c.head()
        assert status == 200
        assert dict((k.lower(), v) for k, v in headers)["content-length"] == str(n)
        first = await c.reader.readexactly(MB)  # before the dyno sends the rest
        up.release.set()
        rest = await c.reader.readexactly(n - MB)
        assert first + rest == pattern(n)
        assert f"bytes={n} " in await env.log_line("alpha")
        assert (await c.request("GET", "/", env.host("alpha"))).status == 200


@e2e
async def test_chunked_response_rechunked_and_connection_reused() -> None:
    async with router_env() as env:
        await env.app("alpha")
        c = await env.client()
        resp = await c.request("GET", "/chunked", env.host("alpha"))
        body = b"hello chunked " + pattern(300_000) + b" world"
        assert resp.get("transfer-encoding") == "chunked"
        assert resp.body == body
        assert f"bytes={len(body)} " in await env.log_line("alpha")
        assert (await c.request("GET", "/", env.host("alpha"))).status == 200


@e2e
async def test_close_delimited_response_rechunked_for_http11_raw_for_http10() -> None:
    async with router_env() as env:
        await env.app("alpha")
        body = b"until the end" + pattern(100_000)
        c = await env.client()
        resp = await c.request("GET", "/eof", env.host("alpha"))
        assert resp.get("transfer-encoding") == "chunked"
        assert resp.body == body
        assert (await c.request("GET", "/", env.host("alpha"))).status == 200  # still open

        c10 = await env.client()
        resp = await c10.request("GET", "/eof", env.host("alpha"), version="1.0")
        assert resp.get("transfer-encoding") is None
        assert resp.get("connection") == "close"
        assert resp.body == body  # read until the router closed


@e2e
async def test_head_and_204_have_no_body() -> None:
    async with router_env() as env:
        await env.app("alpha")
        c = await env.client()
        resp = await c.request("HEAD", "/thing", env.host("alpha"))
        assert resp.status == 200
        assert resp.get("content-length") == str(len(b"alpha/web.1 HEAD /thing"))
        resp = await c.request("GET", "/status/204", env.host("alpha"))
        assert resp.status == 204
        # Had any body bytes leaked, this response would be garbled.
        resp = await c.request("GET", "/after", env.host("alpha"))
        assert (resp.status, resp.body) == (200, b"alpha/web.1 GET /after")
        assert "bytes=0 " in await env.log_line("alpha", 1)


# -- connections -----------------------------------------------------------------------------


@e2e
async def test_keep_alive_to_client_and_upstream_connection_reused() -> None:
    async with router_env() as env:
        (up,) = await env.app("alpha")
        c = await env.client()
        for i in range(5):
            resp = await c.request("GET", f"/{i}", env.host("alpha"))
            assert (resp.status, resp.body) == (200, f"alpha/web.1 GET /{i}".encode())
            assert resp.get("connection") is None
        assert len(env.router.conns) == 1
        assert up.connections == 1  # one pooled upstream connection served all five
        c2 = await env.client()
        assert (await c2.request("GET", "/", env.host("alpha"))).status == 200
        assert up.connections == 1  # and is shared across client connections


@e2e
async def test_http10_closes_unless_keep_alive_asked() -> None:
    async with router_env() as env:
        await env.app("alpha")
        c = await env.client()
        resp = await c.request("GET", "/", env.host("alpha"), version="1.0")
        assert resp.status == 200
        assert resp.get("connection") == "close"
        assert await c.closed_by_peer()

        c = await env.client()
        ka = [("Connection", "keep-alive")]
        resp = await c.request("GET", "/", env.host("alpha"), version="1.0", headers=ka)
        assert resp.get("connection") == "keep-alive"
        resp = await c.request("GET", "/2", env.host("alpha"), version="1.0", headers=ka)
        assert resp.body == b"alpha/web.1 GET /2"


@e2e
async def test_connection_close_from_client_is_honoured() -> None:
    async with router_env() as env:
        await env.app("alpha")
        c = await env.client()
        resp = await c.request("GET", "/", env.host("alpha"), headers=[("Connection", "close")])
        assert resp.status == 200
        assert resp.get("connection") == "close"
        assert await c.closed_by_peer()


@e2e
async def test_pipelined_requests_answered_in_order() -> None:
    async with router_env() as env:
        await env.app("alpha", dynos=2)
        c = await env.client()
        host = env.host("alpha")
        c.writer.write(
            b"".join(f"GET /{i} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode() for i in range(1, 6))
            + f"POST /echo HTTP/1.1\r\nHost: {host}\r\nContent-Length: 3\r\n\r\nabc".encode()
            + b"GET /unknown HTTP/1.1\r\nHost: nope.localhost\r\n\r\n"
        )
        for i in range(1, 6):
            resp = await c.response()
            assert resp.body.endswith(f" GET /{i}".encode())
        assert (await c.response()).body == b"3 " + hashlib.sha256(b"abc").hexdigest().encode()
        assert (await c.response()).status == 404


@e2e
async def test_idle_client_connection_closed_after_timeout() -> None:
    async with router_env(idle_timeout=0.3, header_timeout=0.3) as env:
        await env.app("alpha")
        c = await env.client()
        assert (await c.request("GET", "/", env.host("alpha"))).status == 200
        started = time.monotonic()
        assert await c.closed_by_peer()
        assert time.monotonic() - started >= 0.25
        silent = await env.client()  # never sends a byte: closed at the header timeout
        assert await silent.closed_by_peer()


@e2e
async def test_websocket_upgrade_is_tunnelled() -> None:
    async with router_env() as env:
        (up,) = await env.app("alpha")
        c = await env.client()
        c.send(
            "GET",
            "/ws",
            env.host("alpha"),
            headers=[("Connection", "Upgrade"), ("Upgrade", "websocket")],
        )
        status, headers, _ = await c.head()
        assert status == 101
        h = {k.lower(): v for k, v in headers}
        assert h["upgrade"] == "websocket"
        assert h["connection"].lower() == "upgrade"
        assert up.requests[0].get("upgrade") == "websocket"
        c.writer.write(b"ping")
        assert await c.reader.readexactly(4) == b"PING"
        c.writer.write(b"more bytes")
        assert await c.reader.readexactly(10) == b"MORE BYTES"
        assert "status=101 " in await env.log_line("alpha")


# -- backpressure ----------------------------------------------------------------------------


@e2e
async def test_request_body_backpressure_pauses_client_reads() -> None:
    async with router_env() as env:
        (up,) = await env.app("alpha")
        c = await env.client()
        n = 64 * MB
        head = f"POST /stall HTTP/1.1\r\nHost: {env.host('alpha')}\r\nContent-Length: {n}"
        c.writer.write(head.encode() + b"\r\n\r\n")
        await env.signal.until(lambda: up.requests)
        body = pattern(n)
        c.writer.write(body)
        # The dyno reads nothing: the router must stop reading the client rather than
        # buffer 64 MB.
        (conn,) = env.router.conns
        await env.signal.until(lambda: conn.paused)
        assert up.body_bytes == 0
        up.release.set()
        await c.writer.drain()
        await env.signal.until(lambda: up.body_bytes == n)
        assert (await c.response()).status == 200


@e2e
async def test_response_backpressure_pauses_upstream_reads() -> None:
    async with router_env() as env:
        (up,) = await env.app("alpha")
        c = await env.client()
        n = 64 * MB
        c.send("GET", f"/blast?n={n}", env.host("alpha"))
        status, _, _ = await c.head()  # then read nothing for a while
        assert status == 200
        (conn,) = env.router.conns
        await env.signal.until(
            lambda: (
                conn.active is not None
                and conn.active.upstream is not None
                and conn.active.upstream.paused
            )
        )
        assert up.sent_bytes < n  # the dyno is held back too, not buffered in the router
        got = await c.reader.readexactly(n)
        assert got == pattern(n)


# -- router errors and logs ------------------------------------------------------------------

LINE = re.compile(
    r'at=info method=GET path="/p\?q=1" host=alpha\.localhost request_id=(?P<id>\S+) '
    r'fwd="127\.0\.0\.1" dyno=web\.1 connect=\d+ms service=\d+ms status=200 bytes=22 '
    r"protocol=http"
)


@e2e
async def test_log_line_format() -> None:
    async with router_env() as env:
        (up,) = await env.app("alpha")
        resp = await env.get("alpha", "/p?q=1")
        assert resp.body == b"alpha/web.1 GET /p?q=1"  # 22 bytes: what bytes= counts
        line = await env.log_line("alpha")
        m = LINE.fullmatch(line)
        assert m is not None, line
        assert m["id"] == up.requests[0].get("x-request-id")


@e2e
async def test_h14_no_web_processes() -> None:
    async with router_env() as env:
        env.table.set_app("alpha")
        resp = await env.get("alpha", "/x?y=1")
        assert resp.status == 503
        assert resp.get("content-type") == "text/html; charset=utf-8"
        line = await env.log_line("alpha")
        assert re.fullmatch(
            r'at=error code=H14 desc="No web processes running" method=GET path="/x\?y=1" '
            r'host=alpha\.localhost request_id=\S+ fwd="127\.0\.0\.1" dyno= connect= service= '
            r"status=503 bytes= protocol=http",
            line,
        ), line


@e2e
async def test_h80_maintenance_mode_leaves_dynos_alone() -> None:
    async with router_env() as env:
        (up,) = await env.app("alpha")
        env.table.set_app("alpha", maintenance=True)
        resp = await env.get("alpha")
        assert resp.status == 503
        assert b"Maintenance" in resp.body
        assert up.connections == 0
        line = await env.log_line("alpha")
        assert re.fullmatch(
            r'at=info code=H80 desc="Maintenance mode" method=GET path="/" '
            r'host=alpha\.localhost request_id=\S+ fwd="127\.0\.0\.1" dyno= connect= service= '
            r"status=503 bytes= protocol=http",
            line,
        ), line
        env.table.set_app("alpha", maintenance=False)
        assert (await env.get("alpha")).status == 200


@e2e
async def test_h12_request_timeout() -> None:
    async with router_env(request_timeout=0.3) as env:
        await env.app("alpha")
        started = time.monotonic()
        resp = await env.get("alpha", "/hang")
        assert resp.status == 503
        assert time.monotonic() - started >= 0.3
        line = await env.log_line("alpha")
        m = re.fullmatch(
            r'at=error code=H12 desc="Request timeout" method=GET path="/hang" '
            r'host=alpha\.localhost request_id=\S+ fwd="127\.0\.0\.1" dyno=web\.1 connect=\d+ms '
            r"service=(\d+)ms status=503 bytes=0 protocol=http",
            line,
        )
        assert m, line
        assert 300 <= int(m[1]) < 2000


@e2e
async def test_h13_connection_closed_without_response() -> None:
    async with router_env() as env:
        await env.app("alpha")
        resp = await env.get("alpha", "/close")
        assert resp.status == 503
        line = await env.log_line("alpha")
        assert re.fullmatch(
            r'at=error code=H13 desc="Connection closed without response" method=GET '
            r'path="/close" host=alpha\.localhost request_id=\S+ fwd="127\.0\.0\.1" '
            r"dyno=web\.1 connect=\d+ms service=\d+ms status=503 bytes=0 protocol=http",
            line,
        ), line


@e2e
async def test_refused_backend_falls_back_to_the_others_then_h10() -> None:
    async with router_env() as env:
        (up,) = await env.app("alpha")
        dead = Backend("web.2", "127.0.0.1", free_port())
        env.table.set_backends("alpha", [dead, up.backend("web.1")])
        for _ in range(12):  # new connections, so the dead dyno is tried first about half
            assert (await env.get("alpha")).status == 200
        assert len(up.requests) == 12

        env.table.set_backends("alpha", [dead, Backend("web.3", "127.0.0.1", free_port())])
        resp = await env.get("alpha", "/gone")
        assert resp.status == 503
        line = await env.log_line("alpha", 13)
        assert line.startswith('at=error code=H10 desc="App crashed" method=GET path="/gone" ')
        assert line.endswith(" dyno= connect= service= status=503 bytes= protocol=http")


@e2e
async def test_oversize_request_parts_get_431_414_or_400_and_close() -> None:
    async with router_env() as env:
        (up,) = await env.app("alpha")
        host = env.host("alpha")
        ok = await env.get("alpha", "/", headers=[("X-Big", "a" * 8000)])
        assert ok.status == 200  # under the limit

        cases = [
            (431, f"GET / HTTP/1.1\r\nHost: {host}\r\nX-Big: {'a' * 8200}\r\n\r\n"),
            (414, f"GET /{'a' * 8200} HTTP/1.1\r\nHost: {host}\r\n\r\n"),
            (431, f"GET / HTTP/1.1\r\nHost: {host}\r\n" + "X-H: 1\r\n" * 1001 + "\r\n"),
            (400, "NOT HTTP AT ALL\r\n\r\n"),
        ]
        for status, raw in cases:
            c = await env.client()
            c.writer.write(raw.encode())
            resp = await c.response()
            assert resp.status == status, raw[:40]
            assert resp.get("connection") == "close"
            assert await c.closed_by_peer()
        # An endless header line is cut off too, without waiting for its end.
        c = await env.client()
        c.writer.write(f"GET / HTTP/1.1\r\nHost: {host}\r\nX-Endless: ".encode() + b"a" * 20000)
        assert (await c.response()).status == 431
        assert len(up.requests) == 1


def test_works_on_the_default_asyncio_loop_too() -> None:
    async def check() -> None:
        async with asyncio.timeout(30), router_env() as env:
            await env.app("alpha")
            c = await env.client()
            for _ in range(3):
                assert (await c.request("GET", "/", env.host("alpha"))).status == 200
            resp = await c.request("POST", "/echo", env.host("alpha"), body=b"x" * 100_000)
            assert resp.body.startswith(b"100000 ")
            assert (await env.get("nope")).status == 404

    asyncio.run(check())


@e2e
async def test_expect_100_continue_is_relayed() -> None:
    async with router_env() as env:
        await env.app("alpha")
        c = await env.client()
        head = f"POST /continue HTTP/1.1\r\nHost: {env.host('alpha')}\r\nContent-Length: 5"
        c.writer.write(head.encode() + b"\r\nExpect: 100-continue\r\n\r\n")
        status, _, _ = await c.head()  # the client waits for this before sending the body
        assert status == 100
        c.writer.write(b"hello")
        resp = await c.response()
        assert (resp.status, resp.body) == (200, b"alpha/web.1 POST /continue")


@e2e
async def test_h27_client_gone_before_the_response() -> None:
    async with router_env() as env:
        (up,) = await env.app("alpha")
        c = await env.client()
        c.send("GET", "/hang", env.host("alpha"))
        await env.signal.until(lambda: up.requests)
        # Like nginx and Heroku, an EOF from the client while its response is pending
        # means it gave up (a half-close can't be told apart from a close).
        c.writer.close()
        line = await env.log_line("alpha")
        assert line.startswith('at=error code=H27 desc="Client Request Interrupted" method=GET')
        assert " dyno=web.1 " in line and line.endswith(" status=499 bytes=0 protocol=http")
        await env.signal.until(lambda: not up.writers)  # and the dyno connection is dropped


@e2e
async def test_h18_dyno_hangs_up_mid_body() -> None:
    async with router_env() as env:
        await env.app("alpha")
        c = await env.client()
        c.send("GET", "/partial", env.host("alpha"))
        status, _, _ = await c.head()
        assert status == 200
        assert await c.reader.read() == b"0123456789"  # then the router closes: truncated
        line = await env.log_line("alpha")
        assert line.startswith('at=error code=H18 desc="Server Request Interrupted" ')
        assert line.endswith(" status=200 bytes=10 protocol=http")


@e2e
async def test_stale_pooled_connection_is_retried_for_bodyless_requests_only() -> None:
    async with router_env() as env:
        (up,) = await env.app("alpha")
        c = await env.client()
        assert (await c.request("GET", "/1", env.host("alpha"))).status == 200
        up.drop_reused = True  # the pooled connection dies on its next request
        resp = await c.request("GET", "/2", env.host("alpha"))
        assert (resp.status, resp.body) == (200, b"alpha/web.1 GET /2")
        assert up.connections == 2  # retried on a fresh connection

        up.drop_reused = True
        resp = await c.request("POST", "/3", env.host("alpha"), body=b"data")
        assert resp.status == 503  # a body may have had effects: not retried
        assert "code=H13" in await env.log_line("alpha", 3)


@e2e
async def test_early_response_to_an_upload_reaches_the_client() -> None:
    async with router_env() as env:
        await env.app("alpha")
        c = await env.client()
        n = 8 * MB
        head = f"POST /early HTTP/1.1\r\nHost: {env.host('alpha')}\r\nContent-Length: {n}"
        c.writer.write(head.encode() + b"\r\n\r\n" + pattern(n))
        resp = await c.response()
        assert (resp.status, resp.body) == (413, b"big!")
        assert resp.get("connection") == "close"  # the rest of the upload is moot
        assert "status=413 " in await env.log_line("alpha")


@e2e
async def test_close_stops_listening_and_closes_connections() -> None:
    async with router_env() as env:
        await env.app("alpha")
        c = await env.client()
        assert (await c.request("GET", "/", env.host("alpha"))).status == 200
        await env.router.close()
        assert await c.closed_by_peer()
        with pytest.raises(OSError):
            await Client.open(env.port)


# -- web state without an up dyno: H10, H14, holding then H20 ------------------------------

ERROR_LINE = (
    r'at=error code={code} desc="{desc}" method=GET path="{path}" host=alpha\.localhost '
    r'request_id=\S+ fwd="127\.0\.0\.1" dyno= connect= service= status=503 bytes= protocol=http'
)


@e2e
async def test_h10_when_every_web_dyno_crashed() -> None:
    async with router_env() as env:
        env.table.set_backends("alpha", [], state=WebState.CRASHED)
        resp = await env.get("alpha", "/c")
        assert resp.status == 503
        assert resp.get("content-type") == "text/html; charset=utf-8"
        assert b"Application error" in resp.body
        line = await env.log_line("alpha")
        assert re.fullmatch(ERROR_LINE.format(code="H10", desc="App crashed", path="/c"), line)


@e2e
async def test_h14_when_no_web_process_is_wanted() -> None:
    async with router_env() as env:
        env.table.set_backends("alpha", [], state=WebState.NONE)
        resp = await env.get("alpha", "/n")
        assert resp.status == 503
        assert b"Application error" in resp.body
        line = await env.log_line("alpha")
        assert re.fullmatch(
            ERROR_LINE.format(code="H14", desc="No web processes running", path="/n"), line
        )


@e2e
async def test_h20_app_boot_timeout() -> None:
    async with router_env(boot_wait=0.3) as env:
        env.table.set_backends("alpha", [], state=WebState.STARTING)
        started = time.monotonic()
        resp = await env.get("alpha", "/boot")
        waited = time.monotonic() - started
        assert resp.status == 503
        assert b"Application error" in resp.body
        assert 0.3 <= waited < 5
        line = await env.log_line("alpha")
        assert re.fullmatch(
            ERROR_LINE.format(code="H20", desc="App boot timeout", path="/boot"), line
        )
        assert not env.router.held


@e2e
async def test_request_held_while_starting_is_served_once_a_dyno_is_up() -> None:
    async with router_env() as env:  # Heroku's 75 s boot wait: the dyno comes long before
        env.table.set_app("alpha")
        env.table.set_backends("alpha", [], state=WebState.STARTING)
        one, two = await env.client(), await env.client()
        one.send("GET", "/first", env.host("alpha"))
        two.send("GET", "/second", env.host("alpha"))
        await env.signal.until(lambda: len(env.router.held) == 2)
        # Changes that don't bring a dyno keep the requests waiting.
        env.table.set_app("alpha")
        env.table.set_backends("alpha", [], state=WebState.STARTING)
        (up,) = await env.app("alpha")  # web.1 is up: both go through
        r1, r2 = await one.response(), await two.response()
        assert (r1.status, r1.body) == (200, b"alpha/web.1 GET /first")
        assert (r2.status, r2.body) == (200, b"alpha/web.1 GET /second")
        assert len(up.requests) == 2
        assert not env.router.held
        lines = [await env.log_line("alpha", 1), await env.log_line("alpha", 2)]
        assert all(line.startswith("at=info ") and " status=200 " in line for line in lines)


@e2e
async def test_held_request_gets_h10_when_the_booting_dyno_crashes() -> None:
    async with router_env() as env:
        env.table.set_backends("alpha", [], state=WebState.STARTING)
        c = await env.client()
        c.send("GET", "/r10", env.host("alpha"))
        await env.signal.until(lambda: env.router.held)
        started = time.monotonic()
        env.table.set_backends("alpha", [], state=WebState.CRASHED)  # e.g. R10 boot timeout
        resp = await c.response()
        assert resp.status == 503
        assert time.monotonic() - started < 5  # at once, not after the boot wait
        line = await env.log_line("alpha")
        assert re.fullmatch(ERROR_LINE.format(code="H10", desc="App crashed", path="/r10"), line)


@e2e
async def test_held_request_is_dropped_when_the_client_goes_away() -> None:
    async with router_env() as env:
        env.table.set_backends("alpha", [], state=WebState.STARTING)
        c = await env.client()
        c.send("GET", "/", env.host("alpha"))
        await env.signal.until(lambda: env.router.held)
        c.writer.close()
        await env.signal.until(lambda: not env.router.held and not env.router.conns)
        (up,) = await env.app("alpha")
        assert (await env.get("alpha", "/after")).status == 200
        assert [r.target for r in up.requests] == ["/after"]  # the abandoned one never went


# -- platform errors (H99) -------------------------------------------------------------------


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextlib.contextmanager
def router_errors() -> Iterator[Records]:
    handler = Records()
    logger = logging.getLogger("cove.router")
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


class BrokenTable(NotifyingTable):
    """A table whose lookup fails for one hostname."""

    def resolve(self, host_header: bytes) -> tuple[Any, str]:
        if host_header.startswith(b"boom."):
            raise RuntimeError("lookup exploded")
        return super().resolve(host_header)


@e2e
async def test_h99_when_the_route_lookup_fails() -> None:
    signal = Signal()
    table = BrokenTable("localhost")
    table.signal = signal
    with router_errors() as errors:
        async with router_env(table=table) as env:
            await env.app("alpha")
            c = await env.client()
            resp = await c.request("GET", "/", f"boom.localhost:{env.port}")
            assert resp.status == 503
            assert b"Application error" in resp.body
            assert resp.get("connection") == "close"
            assert await c.closed_by_peer()
            assert not env.logs  # no app to log the request under
            (record,) = errors.records
            assert record.exc_info is not None
            assert isinstance(record.exc_info[1], RuntimeError)
            # The server is fine.
            assert (await env.get("alpha")).status == 200


@e2e
async def test_h99_is_logged_for_the_app_and_the_server_keeps_going() -> None:
    with router_errors() as errors:
        async with router_env() as env:
            (up,) = await env.app("alpha")
            c = await env.client()
            assert (await c.request("GET", "/", env.host("alpha"))).status == 200
            take = env.router.pool.take

            def broken(backend: Backend) -> Any:
                env.router.pool.take = take
                raise KeyError("pool exploded")

            env.router.pool.take = broken
            resp = await c.request("GET", "/x", env.host("alpha"))
            assert resp.status == 503
            assert b"Application error" in resp.body
            line = await env.log_line("alpha", 2)
            assert re.fullmatch(
                ERROR_LINE.format(code="H99", desc="Platform error", path="/x"), line
            )
            assert len(errors.records) == 1
            assert (await env.get("alpha", "/y")).status == 200
            assert [r.target for r in up.requests] == ["/", "/y"]


@e2e
async def test_h99_for_a_failure_while_relaying_the_response() -> None:
    real = upstream_module.build_response_head

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise ValueError("response head exploded")

    with router_errors() as errors:
        async with router_env() as env:
            await env.app("alpha")
            upstream_module.build_response_head = broken
            try:
                resp = await env.get("alpha", "/z")
            finally:
                upstream_module.build_response_head = real
            assert resp.status == 503  # not H17: the dyno's response was fine, we failed
            line = await env.log_line("alpha")
            assert line.startswith('at=error code=H99 desc="Platform error" method=GET path="/z" ')
            assert " dyno=web.1 " in line
            exc_info = errors.records[0].exc_info
            assert exc_info is not None and isinstance(exc_info[1], ValueError)
            assert (await env.get("alpha")).status == 200


# -- zero-downtime deploys ---------------------------------------------------------------------


@e2e
async def test_request_dropped_by_a_dyno_leaving_the_table_is_retried_after_a_fresh_lookup() -> (
    None
):
    async with router_env() as env:
        (old,) = await env.app("alpha")
        c = await env.client()
        c.send("GET", "/vanish", env.host("alpha"))
        await env.signal.until(lambda: old.requests)
        # The dyno is replaced while it has the request: it leaves the table (its successor
        # still booting), then hangs up without answering.
        env.table.set_backends("alpha", [], state=WebState.STARTING)
        old.release.set()
        await env.signal.until(lambda: env.router.held)  # held: the new dyno isn't up yet
        new = Upstream("alpha/web.2", env.signal, vanish=False)
        await new.start()
        env.upstreams.append(new)
        env.table.set_backends("alpha", [new.backend("web.2")])
        resp = await c.response()
        assert (resp.status, resp.body) == (200, b"alpha/web.2 GET /vanish")
        line = await env.log_line("alpha")
        assert line.startswith("at=info ") and " dyno=web.2 " in line

        # With a body the request isn't retried: the dyno may have acted on it.
        gone = Upstream("alpha/web.3", env.signal)
        await gone.start()
        env.upstreams.append(gone)
        env.table.set_backends("alpha", [gone.backend("web.3")])
        c = await env.client()
        c.send("POST", "/vanish", env.host("alpha"), body=b"data")
        await env.signal.until(lambda: gone.requests)
        env.table.set_backends("alpha", [new.backend("web.2")])
        gone.release.set()
        resp = await c.response()
        assert resp.status == 503
        assert "code=H13" in await env.log_line("alpha", 2)
        assert len(new.requests) == 1


class GracefulDyno:
    """A keep-alive HTTP server that stops like gunicorn on SIGTERM: it closes its listening
    socket and its idle keep-alive connections at once, and closes the others as soon as
    their in-flight request is answered."""

    def __init__(self, name: str, signal: Signal) -> None:
        self.name = name
        self.signal = signal
        self.served = 0
        self.conns: set[asyncio.StreamWriter] = set()
        self.idle: set[asyncio.StreamWriter] = set()  # waiting for their next request
        self.stopping = False
        self.server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0, backlog=128)
        self.port = self.server.sockets[0].getsockname()[1]

    def backend(self) -> Backend:
        return Backend(self.name, "127.0.0.1", self.port)

    def stop(self) -> None:
        """SIGTERM."""
        assert self.server is not None
        self.stopping = True
        self.server.close()
        for writer in list(self.idle):
            writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.conns.add(writer)
        try:
            while not self.stopping:
                self.idle.add(writer)
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                finally:
                    self.idle.discard(writer)
                target = head.split(b" ", 2)[1]
                body = b"%s %s" % (self.name.encode(), target)
                close = b"Connection: close\r\n" if self.stopping else b""
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n%s" % (len(body), close, body)
                )
                await writer.drain()
                self.served += 1
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self.conns.discard(writer)
            writer.close()
            self.signal.notify()


@e2e
async def test_backend_swaps_under_load_fail_no_request() -> None:
    """Deploys under traffic: each swap starts a new dyno, puts it in the table, takes the
    old one out and stops it (listener closed, idle connections closed, in-flight requests
    finished), the way the dyno manager and the route feed do it. Half the swaps replace the
    old dyno in one table update; the other half stop the old one's listener while it is
    still in the table (the feed lagging behind the dyno manager)."""
    clients, per_client, swaps = 2, 300, 8
    async with router_env() as env:
        env.table.set_app("alpha")
        # Every dyno listens from the start (a new dyno is only used once it accepts TCP),
        # so that the swaps themselves don't wait for anything.
        dynos = [GracefulDyno(f"web.{i}", env.signal) for i in range(1, swaps + 2)]
        for dyno in dynos:
            await dyno.start()
        current = dynos[0]
        env.table.set_backends("alpha", [current.backend()])
        done = 0
        failures: list[str] = []

        async def client_loop(k: int) -> None:
            nonlocal done
            c = await Client.open(env.port)
            try:
                for i in range(per_client):
                    target = f"/{k}/{i}"
                    try:
                        resp = await c.request("GET", target, env.host("alpha"))
                    except (ConnectionError, asyncio.IncompleteReadError) as exc:
                        failures.append(f"{target}: {exc!r}")
                        c.close()
                        c = await Client.open(env.port)
                    else:
                        name = resp.body.split(b" ")[0].decode()
                        if resp.status != 200 or resp.body != f"{name} {target}".encode():
                            failures.append(f"{target}: {resp.status} {resp.body[:60]!r}")
                    done += 1
                    env.signal.notify()
            finally:
                c.close()

        loops = [asyncio.create_task(client_loop(k)) for k in range(clients)]
        total = clients * per_client
        step = total // (3 * swaps)  # requests between swaps: the swaps end well before
        for n in range(1, swaps + 1):
            mark = done
            await env.signal.until(lambda mark=mark: done >= mark + step)  # type: ignore[misc]
            old, new = current, dynos[n]
            if n % 2:
                env.table.set_backends("alpha", [new.backend()])
                old.stop()
            else:
                env.table.set_backends("alpha", [old.backend(), new.backend()])
                old.stop()
                mark = done
                await env.signal.until(lambda mark=mark: done >= mark + 10)  # type: ignore[misc]
                env.table.set_backends("alpha", [new.backend()])
            current = new
        await asyncio.gather(*loops)
        await env.signal.until(lambda: all(not d.conns for d in dynos[:-1]))

        assert failures == []
        assert done == total
        assert all(d.served for d in dynos), [d.served for d in dynos]  # all took traffic
        assert sum(d.served for d in dynos) == total  # retries never served twice
        lines = env.lines("alpha")
        assert len(lines) == total
        assert all(line.startswith("at=info ") for line in lines)


@e2e
async def test_connection_reset_from_a_closing_listener_is_retried_on_another_dyno() -> None:
    async with router_env() as env:
        (good,) = await env.app("alpha")
        # A dyno whose listener the kernel completes connections for, but that never
        # accepts: then it closes (SIGTERM), resetting the connections in its backlog.
        backlog = socket.socket()
        backlog.bind(("127.0.0.1", 0))
        backlog.listen(8)
        stopping = Backend("web.2", "127.0.0.1", backlog.getsockname()[1])
        env.table.set_backends("alpha", [stopping])
        c = await env.client()
        c.send("GET", "/reset", env.host("alpha"))
        await env.signal.until(lambda: env.router.waiting)  # sent, sitting in the backlog
        env.table.set_backends("alpha", [stopping, good.backend("web.1")])  # feed lagging
        backlog.close()
        resp = await c.response()
        assert (resp.status, resp.body) == (200, b"alpha/web.1 GET /reset")
        line = await env.log_line("alpha")
        assert line.startswith("at=info ") and " dyno=web.1 " in line


class ClosedTransport(asyncio.Transport):
    """What uvloop's transport is once closed, before its protocol hears of it."""

    def write(self, data: Any) -> None:
        raise RuntimeError("unable to perform operation: the handler is closed")

    def pause_reading(self) -> None:
        raise RuntimeError("unable to perform operation: the handler is closed")

    def is_closing(self) -> bool:
        return True

    def close(self) -> None:
        pass


@e2e
async def test_connection_closed_before_the_router_heard_of_it_is_not_used() -> None:
    async with router_env() as env:
        ups = await env.app("alpha", dynos=2)
        pool = env.router.pool
        # A pooled connection to each dyno whose transport is closed, its protocol not told.
        ghosts = [UpstreamConn(pool, up.backend(f"web.{i}")) for i, up in enumerate(ups, 1)]
        for ghost in ghosts:
            ghost.transport = ClosedTransport()
            pool.idle[ghost.backend.key] = [ghost]
        resp = await env.get("alpha", "/1")
        assert resp.status == 200
        # The first pick's ghost failed, then the other dyno's (it avoids the one that just
        # failed), then a fresh connection to the first.
        assert all(ghost.closed for ghost in ghosts)
        first = resp.body.split(b" ")[0].decode()
        assert len(env.lines("alpha")) == 1 and f" dyno={first[-5:]} " in env.lines("alpha")[0]

        # A fresh connection that closes before the router writes to it counts as refused.
        real_connect = pool.connect
        resets = 0

        async def connect_then_reset(backend: Backend) -> UpstreamConn:
            nonlocal resets
            fresh = await real_connect(backend)
            if backend.dyno == "web.2":
                resets += 1
                fresh.transport.abort()
            return fresh

        pool.connect = connect_then_reset
        pool.close()
        for i in range(40):  # until web.2 was picked at least once (all 40 not: p = 2**-40)
            c = await env.client()
            resp = await c.request("GET", f"/fresh{i}", env.host("alpha"))
            assert (resp.status, resp.body) == (200, f"alpha/web.1 GET /fresh{i}".encode())
            if resets:
                break
        assert resets == 1
        assert all(line.startswith("at=info ") for line in env.lines("alpha"))
