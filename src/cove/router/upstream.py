"""Connections to dynos: the response half of the proxy, and the keep-alive pool."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

from httptools import HttpParserError, HttpParserUpgrade, HttpResponseParser

from cove.router.headers import (
    BODY_CHUNKED,
    Headers,
    build_interim_head,
    build_response_head,
    rewrite_location,
)
from cove.router.logline import H17, H18
from cove.router.table import Backend

if TYPE_CHECKING:
    from cove.router.exchange import Exchange

PAUSE_UPSTREAM = 1  # flag for ClientConn.pause_reading: the dyno's write buffer is full


class _SkipBody(Exception):
    """Raised from on_headers_complete to stop the parser after a HEAD response's head.

    httptools cannot tell llhttp that a response has no body, and with Content-Length set
    llhttp would wait for bytes that never come.
    """


class UpstreamConn(asyncio.Protocol):
    """One keep-alive connection to a dyno, carrying one exchange at a time."""

    __slots__ = (
        "backend",
        "body",
        "closed",
        "complete",
        "eof",
        "ex",
        "headers",
        "idle_since",
        "interim",
        "keep_alive",
        "out",
        "parser",
        "paused",
        "pool",
        "skip",
        "transport",
        "tunnel",
    )

    def __init__(self, pool: Pool, backend: Backend) -> None:
        self.pool = pool
        self.backend = backend
        self.transport: asyncio.Transport = None  # type: ignore[assignment]  # set at once
        self.parser = HttpResponseParser(self)
        self.ex: Exchange | None = None
        self.headers: Headers = []
        self.out: list[bytes] = []  # bytes for the client, written once per read
        self.body = 0
        self.closed = False
        self.complete = False
        self.eof = False
        self.interim = False
        self.keep_alive = False
        self.skip = False
        self.paused = False
        self.tunnel = False
        self.idle_since = 0.0

    # -- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        ex = self.ex
        if ex is None:
            # Bytes while idle: the dyno is confused; this connection can't be trusted.
            self.closed = True
            self.transport.close()
            return
        try:
            if self.tunnel:
                ex.client.transport.write(data)
                return
            if ex.waiting:
                ex.waiting = False
                ex.client.router.waiting.discard(ex)
            try:
                self.parser.feed_data(data)
            except HttpParserUpgrade as exc:
                if ex.status != 101:
                    self._bad_response(ex)
                    return
                self.tunnel = True
                rest = data[exc.args[0] :]
                if rest:
                    self.out.append(rest)
            except HttpParserError as exc:
                cause = exc.__context__
                if cause is not None and not isinstance(cause, _SkipBody):
                    raise cause from exc  # a parser callback failed: ours, not the dyno's
                if self.skip:
                    # The HEAD response ended at its head; the parser is spent, start a fresh one.
                    self.skip = False
                    self.complete = True
                    self.parser = HttpResponseParser(self)
                elif self.complete:
                    self.keep_alive = False  # bytes after the response: don't reuse
                else:
                    self._bad_response(ex)
                    return
            out = self.out
            if out:
                ex.client.transport.write(out[0] if len(out) == 1 else b"".join(out))
                out.clear()
            if self.complete:
                self._finish(ex)
            elif self.tunnel and not ex.resp_done:
                ex.client.tunnel_open(ex, self)
        except Exception as exc:  # a bug here must cost one request, not the server
            ex.client.platform_error(ex, exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        ex = self.ex
        if ex is None:
            self.pool.forget(self)
            return
        self.ex = None
        ex.upstream = None
        if ex.aborted:
            return
        client = ex.client
        if self.tunnel:
            client.close()
            return
        if not ex.resp_started:
            client.upstream_failed(ex, self, exc)
        elif self.eof:
            # A close-delimited body ends here, normally.
            if self.body == BODY_CHUNKED:
                client.transport.write(b"0\r\n\r\n")
            ex.finish_log(None)
            client.exchange_done(ex)
        else:
            ex.finish_log(H18)
            client.close()

    def eof_received(self) -> bool | None:
        if self.ex is None:
            self.closed = True  # the dyno closed an idle connection: don't hand it out
        return None  # close our side too

    def pause_writing(self) -> None:
        ex = self.ex
        if ex is not None:
            ex.client.pause_reading(PAUSE_UPSTREAM)

    def resume_writing(self) -> None:
        ex = self.ex
        if ex is not None:
            ex.client.resume_reading(PAUSE_UPSTREAM)

    # -- httptools callbacks ---------------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        ex: Exchange = self.ex  # type: ignore[assignment]  # data only arrives when bound
        if self.complete:
            raise _SkipBody  # a second response to one request
        parser = self.parser
        status = parser.get_status_code()
        headers = self.headers
        self.headers = []
        upgrade = status == 101 and ex.upgrade
        if status < 200 and not upgrade:
            # 100 Continue, 103 Early Hints: relay (HTTP/1.0 clients don't know them).
            self.interim = True
            if ex.http11 and status != 101:
                self.out.append(build_interim_head(status, headers))
            return
        self.keep_alive = parser.should_keep_alive()
        close = (
            not ex.keep_alive
            or not ex.req_done  # the dyno answered early: the rest of the upload is moot
            or (ex.upgrade and not upgrade)  # the client may already be sending frames
            or ex.client.router.closing
        )
        if 300 <= status < 400 and not ex.client.tls:
            # A redirect to https on the HTTP listener's own port can't be served (that
            # port speaks no TLS): point it at the HTTPS listener (see docs/decisions.md).
            fix = ex.client.router.https_location(ex.host)
            if fix is not None:
                headers = rewrite_location(headers, *fix)
        head, body, close, eof = build_response_head(
            status, headers, head_request=ex.is_head, http11=ex.http11, close=close, upgrade=upgrade
        )
        ex.status = status
        ex.resp_started = True
        ex.close_after = close
        self.body = body
        self.eof = eof
        self.out.append(head)
        if ex.is_head:
            self.skip = True
            raise _SkipBody

    def on_body(self, body: bytes) -> None:
        ex: Exchange = self.ex  # type: ignore[assignment]
        if self.complete:
            raise _SkipBody
        n = len(body)
        ex.nbytes += n
        if self.body == BODY_CHUNKED:
            self.out += (b"%x\r\n" % n, body, b"\r\n")
        else:
            self.out.append(body)

    def on_message_complete(self) -> None:
        if self.interim:
            self.interim = False
            return
        if self.ex is not None and self.ex.status == 101:
            return  # the parser stops next with HttpParserUpgrade
        if self.body == BODY_CHUNKED:
            self.out.append(b"0\r\n\r\n")
        self.complete = True

    # -- internals -------------------------------------------------------------------------

    def _finish(self, ex: Exchange) -> None:
        self.complete = False
        self.ex = None
        ex.finish_log(None)
        reusable = self.keep_alive and ex.req_done and not self.eof and not ex.upgrade
        if reusable and not ex.client.router.closing:
            if self.paused:
                self.paused = False
                self.transport.resume_reading()
            self.pool.release(self)
        else:
            self.transport.close()
        ex.client.exchange_done(ex)

    def _bad_response(self, ex: Exchange) -> None:
        self.out.clear()
        ex.drop_upstream()
        if ex.resp_started:
            ex.finish_log(H18)
            ex.client.close()
        else:
            ex.client.local_error(ex, H17)


class Pool:
    """Idle keep-alive connections per backend, most recently used first.

    At most ``max_idle`` per backend and ``max_idle_total`` in all: idle connections hold
    file descriptors, which the router's caps budget for (``cove.limits``).
    """

    def __init__(
        self,
        *,
        connect_timeout: float,
        max_idle: int,
        idle_timeout: float,
        clock: Callable[[], float],
        max_idle_total: int = 10_000,
    ) -> None:
        self.clock = clock  # coarse is fine: idle times are seconds
        self.connect_timeout = connect_timeout
        self.max_idle = max_idle
        self.max_idle_total = max_idle_total
        self.idle_timeout = idle_timeout
        self.idle: dict[tuple[str, int, str], list[UpstreamConn]] = {}
        self.idle_count = 0

    def take(self, backend: Backend) -> UpstreamConn | None:
        conns = self.idle.get(backend.key)
        while conns:
            conn = conns.pop()
            self.idle_count -= 1
            if not conn.closed:
                return conn
        return None

    def release(self, conn: UpstreamConn) -> None:
        key = conn.backend.key
        conns = self.idle.get(key)
        if conns is None:
            conns = self.idle[key] = []
        if len(conns) >= self.max_idle or self.idle_count >= self.max_idle_total:
            conn.closed = True
            conn.transport.close()
            return
        conn.idle_since = self.clock()
        conns.append(conn)
        self.idle_count += 1

    def forget(self, conn: UpstreamConn) -> None:
        key = conn.backend.key
        conns = self.idle.get(key)
        if conns is not None and conn in conns:
            conns.remove(conn)
            self.idle_count -= 1
            if not conns:
                del self.idle[key]

    async def connect(self, backend: Backend) -> UpstreamConn:
        # asyncio.timeout rather than wait_for: on Python 3.11 wait_for wraps the
        # connect in a second Task, per request when dynos close every connection.
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(self.connect_timeout):
            _, conn = await loop.create_connection(
                partial(UpstreamConn, self, backend), backend.host, backend.port
            )
        return conn

    def sweep(self, now: float) -> None:
        """Close connections idle too long: dynos may keep them forever, we shouldn't."""
        limit = now - self.idle_timeout
        for conns in list(self.idle.values()):
            for conn in [c for c in conns if c.idle_since < limit]:
                conn.closed = True  # not to be taken before connection_lost forgets it
                conn.transport.close()

    def close(self) -> None:
        for conns in list(self.idle.values()):
            for conn in list(conns):
                conn.transport.close()
        self.idle.clear()
        self.idle_count = 0
