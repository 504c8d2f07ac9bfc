"""The HTTP router: a reverse proxy in front of apps' web dynos, like Heroku's.

asyncio Protocols + httptools rather than streams: a request costs a handful of callbacks
and usually one write each way, with no coroutine or task on the keep-alive hot path.

One client connection handles one exchange at a time. Pipelined requests are parsed as they
arrive but queued (and reading paused) until the exchange before them is answered, so
responses go out in order. Unknown hosts get a 404 page and are not logged: there is no app
to log them under.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Coroutine
from random import choice, randrange
from time import monotonic, time
from typing import Any

from httptools import HttpParserError, HttpParserUpgrade, HttpRequestParser

from cove.router.headers import (
    MAX_HEADER_LINE,
    MAX_HEADERS,
    MAX_REQUEST_LINE,
    Headers,
    RequestHead,
    build_request_head,
)
from cove.router.logline import H10, H12, H13, H14, H27, H80, ErrorCode, router_line
from cove.router.pages import (
    APPLICATION_ERROR,
    BAD_REQUEST,
    MAINTENANCE,
    NO_SUCH_APP,
    router_response,
)
from cove.router.table import Backend, Route, RouteTable
from cove.router.upstream import PAUSE_UPSTREAM, Pool, UpstreamConn

LogFn = Callable[[str, str], None]

# Why a client connection's reading is paused (bit flags; read resumes when none is left).
# PAUSE_UPSTREAM = 1: the dyno isn't taking the request body as fast as it comes.
_PAUSE_PENDING = 2  # body buffered while the dyno connection is being made
_PAUSE_PIPELINE = 4  # a pipelined request waits for the one before it

_MAX_PENDING = 256 * 1024
_LINGER = 5.0  # seconds to drain an unwanted request body before closing
_METHODS = {m.encode(): m for m in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")}


class _LimitExceeded(Exception):
    """Raised from a parser callback: the request head breaks a size limit."""


class Exchange:
    """One request/response, from the client's head to the end of the dyno's response."""

    __slots__ = (
        "aborted",
        "chunked",
        "client",
        "close_after",
        "connect",
        "dyno",
        "fwd",
        "has_body",
        "head",
        "host",
        "host_str",
        "http11",
        "is_head",
        "keep_alive",
        "logged",
        "method",
        "nbytes",
        "pending",
        "pending_size",
        "req_done",
        "request_id",
        "resp_done",
        "resp_started",
        "retried",
        "reused",
        "route",
        "status",
        "t_sent",
        "t_start",
        "upgrade",
        "upstream",
        "url",
        "waiting",
    )

    def __init__(
        self,
        client: ClientConn,
        method: bytes,
        url: bytes,
        req: RequestHead,
        http11: bool,
        keep_alive: bool,
        upgrade: bool,
    ) -> None:
        self.client = client
        self.method = method
        self.url = url
        self.head, self.host, self.request_id, self.fwd, self.has_body, self.chunked = req
        self.http11 = http11
        self.keep_alive = keep_alive
        self.upgrade = upgrade
        self.is_head = method == b"HEAD"
        self.pending: list[bytes] = [self.head]  # bytes for the dyno not yet written
        self.pending_size = 0
        self.upstream: UpstreamConn | None = None
        self.route: Route | None = None
        self.host_str = ""
        self.waiting = False  # sent to a dyno, no response byte yet (H12 applies)
        self.req_done = False
        self.resp_started = False
        self.resp_done = False
        self.close_after = False
        self.aborted = False
        self.reused = False
        self.retried = False
        self.logged = False
        self.status = 0
        self.nbytes = 0
        self.dyno = ""
        self.connect: float | None = None
        self.t_start = 0.0
        self.t_sent = 0.0

    def flush(self) -> None:
        pending = self.pending
        if pending:
            data = pending[0] if len(pending) == 1 else b"".join(pending)
            pending.clear()
            self.upstream.transport.write(data)  # type: ignore[union-attr]  # only when bound

    def drop_upstream(self) -> None:
        """Close the dyno connection mid-exchange (it can't be reused)."""
        up = self.upstream
        if up is not None:
            self.upstream = None
            up.ex = None
            up.transport.close()

    def cancel_timer(self) -> None:
        if self.waiting:
            self.waiting = False
            self.client.router.waiting.discard(self)

    def finish_log(self, error: ErrorCode | None, status: int | None = None) -> None:
        """Log the request as served by a dyno (status/bytes/timings all known)."""
        self.resp_done = True
        route = self.route
        if route is None or self.logged:
            return
        self.logged = True
        line = router_line(
            error,
            _METHODS.get(self.method) or self.method.decode("ascii", "replace"),
            self.url.decode("latin-1"),
            self.host_str,
            self.request_id,
            self.fwd.decode("latin-1"),
            self.dyno,
            self.connect,
            monotonic() - self.t_sent,
            self.status if status is None else status,
            self.nbytes,
        )
        try:
            self.client.router.log(route.app, line)
        except Exception:  # a broken log sink must not break proxying
            return

    def log(
        self,
        error: ErrorCode | None,
        *,
        status: int,
        nbytes: int | None,
        service: float | None,
        attempted: bool,
    ) -> None:
        route = self.route
        if route is None or self.logged:
            return
        self.logged = True
        line = router_line(
            error,
            _METHODS.get(self.method) or self.method.decode("ascii", "replace"),
            self.url.decode("latin-1"),
            self.host_str,
            self.request_id,
            self.fwd.decode("latin-1"),
            self.dyno if attempted else "",
            self.connect if attempted else None,
            service if attempted else None,
            status,
            nbytes,
        )
        try:
            self.client.router.log(route.app, line)
        except Exception:  # a broken log sink must not break proxying
            return


class ClientConn(asyncio.Protocol):
    __slots__ = (
        "active",
        "client_ip",
        "closing",
        "flush_ex",
        "headers",
        "idle_since",
        "in_head",
        "line",
        "parser",
        "paused",
        "queue",
        "raw_ex",
        "reading",
        "router",
        "to_start",
        "transport",
        "tunnel",
        "url",
        "write_paused",
    )

    def __init__(self, router: Router) -> None:
        self.router = router
        self.transport: asyncio.Transport = None  # type: ignore[assignment]  # set at once
        self.parser = HttpRequestParser(self)
        self.client_ip = b""
        self.url = b""
        self.headers: Headers = []
        self.in_head = True  # between requests, or inside a request head
        self.line = 0  # length of the unfinished head line seen so far
        self.reading: Exchange | None = None  # request being read
        self.active: Exchange | None = None  # exchange being answered
        self.to_start: Exchange | None = None
        self.flush_ex: Exchange | None = None
        self.queue: deque[Exchange] = deque()
        self.raw_ex: Exchange | None = None  # after an Upgrade request: bytes go through raw
        self.tunnel: UpstreamConn | None = None
        self.closing = False
        self.paused = 0
        self.write_paused = False
        self.idle_since = 0.0

    # -- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        peer = transport.get_extra_info("peername")
        self.client_ip = str(peer[0]).encode() if isinstance(peer, tuple) else b""
        router = self.router
        router.conns.add(self)
        self.idle_since = router.now

    def data_received(self, data: bytes) -> None:
        if self.closing:
            return
        raw = self.raw_ex
        if raw is not None:
            self._raw(raw, data)
            return
        try:
            self.parser.feed_data(data)
        except HttpParserUpgrade as exc:
            ex = self.raw_ex
            rest = data[exc.args[0] :]
            if ex is not None and rest:
                ex.pending.append(rest)
                if ex.upstream is not None:
                    self.flush_ex = ex
        except HttpParserError:
            self._parse_error()
        if self.closing:
            return
        if self.in_head:
            # httptools only reports complete header lines: bound the unfinished one here.
            nl = data.rfind(b"\n")
            if nl >= 0:
                self.line = len(data) - nl - 1
            elif self.line >= 0:
                self.line += len(data)
            else:
                self.line = 0
            if self.line > MAX_HEADER_LINE + 2:
                self._parse_error()
            if self.closing:
                return
        ex = self.flush_ex
        if ex is not None:
            self.flush_ex = None
            if ex.upstream is not None:
                ex.flush()
        ex = self.to_start
        if ex is not None:
            self.to_start = None
            self.start(ex)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closing = True
        self.router.conns.discard(self)
        self._abandon()

    def _abandon(self) -> None:
        """The client is gone (or going): drop everything in flight for it."""
        active = self.active
        self.active = None
        self.to_start = self.flush_ex = None
        for ex in (active, *self.queue):
            if ex is not None:
                ex.aborted = True
                ex.cancel_timer()
        self.queue.clear()
        tunnel = self.tunnel
        if tunnel is not None:
            self.tunnel = None
            tunnel.transport.close()
            return
        if active is not None and not active.resp_done:
            if active.t_sent:
                active.finish_log(H27, 499)
            active.drop_upstream()

    def pause_writing(self) -> None:
        self.write_paused = True
        up = self.tunnel or (self.active.upstream if self.active is not None else None)
        if up is not None and not up.paused:
            up.paused = True
            up.transport.pause_reading()

    def resume_writing(self) -> None:
        self.write_paused = False
        up = self.tunnel or (self.active.upstream if self.active is not None else None)
        if up is not None and up.paused:
            up.paused = False
            up.transport.resume_reading()

    # -- httptools callbacks ---------------------------------------------------------------

    def on_url(self, url: bytes) -> None:
        self.url += url
        if len(self.url) > MAX_REQUEST_LINE:
            raise _LimitExceeded

    def on_header(self, name: bytes, value: bytes) -> None:
        headers = self.headers
        if len(name) + len(value) + 2 > MAX_HEADER_LINE or len(headers) >= MAX_HEADERS:
            raise _LimitExceeded
        headers.append((name, value))

    def on_headers_complete(self) -> None:
        self.in_head = False
        parser = self.parser
        url = self.url
        headers = self.headers
        self.url = b""
        self.headers = []
        method = parser.get_method()
        if len(method) + len(url) + 10 > MAX_REQUEST_LINE or method == b"CONNECT":
            raise _LimitExceeded
        upgrade = parser.should_upgrade()
        router = self.router
        req = build_request_head(
            method, url, headers, self.client_ip, router.port_bytes, int(time() * 1000), upgrade
        )
        ex = Exchange(
            self,
            method,
            url,
            req,
            parser.get_http_version() == "1.1",
            parser.should_keep_alive(),
            upgrade,
        )
        self.reading = ex
        if upgrade:
            self.raw_ex = ex
        if self.active is None:
            self.active = ex
            self.to_start = ex
        else:
            self.queue.append(ex)
            self.pause_reading(_PAUSE_PIPELINE)

    def on_body(self, body: bytes) -> None:
        ex: Exchange = self.reading  # type: ignore[assignment]
        if ex.resp_done:
            return  # answered already (and closing): drop the rest
        if ex.chunked:
            ex.pending += (b"%x\r\n" % len(body), body, b"\r\n")
        else:
            ex.pending.append(body)
        if ex.upstream is not None:
            self.flush_ex = ex
        else:
            ex.pending_size += len(body)
            if ex.pending_size > _MAX_PENDING:
                self.pause_reading(_PAUSE_PENDING)

    def on_message_complete(self) -> None:
        ex: Exchange = self.reading  # type: ignore[assignment]
        self.reading = None
        self.in_head = True
        self.line = -1  # the next head starts somewhere in this read
        ex.req_done = True
        if ex.chunked and not ex.resp_done:
            ex.pending.append(b"0\r\n\r\n")
            if ex.upstream is not None:
                self.flush_ex = ex

    # -- the exchange ----------------------------------------------------------------------

    def start(self, ex: Exchange) -> None:
        """Route an exchange whose turn has come."""
        if self.closing:
            return
        ex.t_start = monotonic()
        if ex.status:  # a queued bad request
            self._respond(ex, ex.status, BAD_REQUEST)
            return
        router = self.router
        route, ex.host_str = router.table.resolve(ex.host)
        ex.route = route
        if route is None:
            self._respond(ex, 404, NO_SUCH_APP)
        elif route.maintenance:
            self._respond(ex, 503, MAINTENANCE, H80)
        elif not route.backends:
            self._respond(ex, 503, APPLICATION_ERROR, H14)
        else:
            backends = route.backends
            backend = backends[0] if len(backends) == 1 else choice(backends)
            conn = router.pool.take(backend)
            if conn is not None:
                self._attach(ex, conn, reused=True)
            else:
                router.spawn(self._connect(ex, backend))

    async def _connect(self, ex: Exchange, first: Backend) -> None:
        """Connect to ``first``, else to the app's other dynos in random order."""
        pool = self.router.pool
        candidates = [b for b in ex.route.backends if b != first]  # type: ignore[union-attr]
        backend = first
        while True:
            conn = None
            if backend is not first and not ex.retried:
                conn = pool.take(backend)
            if conn is None:
                try:
                    conn = await pool.connect(backend)
                except OSError:  # refused, unreachable, or timed out
                    conn = None
            if conn is not None:
                break
            if not candidates or ex.aborted:
                if not ex.aborted:
                    self._respond(ex, 503, APPLICATION_ERROR, H10)
                return
            backend = candidates.pop(randrange(len(candidates)))
        if ex.aborted or self.closing:
            pool.release(conn)
            return
        self._attach(ex, conn, reused=False)

    def _attach(self, ex: Exchange, conn: UpstreamConn, *, reused: bool) -> None:
        ex.upstream = conn
        ex.reused = reused
        ex.dyno = conn.backend.dyno
        conn.ex = ex
        if self.write_paused:
            conn.paused = True
            conn.transport.pause_reading()
        now = monotonic()
        ex.connect = now - ex.t_start
        ex.t_sent = now
        pending = ex.pending
        conn.transport.write(pending[0] if len(pending) == 1 else b"".join(pending))
        ex.pending = []
        if self.paused & _PAUSE_PENDING:
            self.resume_reading(_PAUSE_PENDING)
        ex.waiting = True
        self.router.waiting.add(ex)

    def timeout(self, ex: Exchange) -> None:
        """No response byte within the request timeout (called by the router's sweep)."""
        ex.waiting = False
        if ex.resp_started or ex.aborted:
            return
        ex.drop_upstream()
        self._respond(ex, 503, APPLICATION_ERROR, H12, attempted=True)

    def upstream_failed(self, ex: Exchange, conn: UpstreamConn) -> None:
        """The dyno closed before answering."""
        ex.cancel_timer()
        if ex.reused and not ex.has_body and not ex.retried and not ex.upgrade:
            # Most likely a pooled connection the dyno closed as we reused it: the request
            # never reached the app, so one more go on a fresh connection is safe.
            ex.retried = True
            ex.upstream = None
            ex.pending = [ex.head]
            self.router.spawn(self._connect(ex, conn.backend))
            return
        self._respond(ex, 503, APPLICATION_ERROR, H13, attempted=True)

    def local_error(self, ex: Exchange, error: ErrorCode) -> None:
        ex.cancel_timer()
        self._respond(ex, 503, APPLICATION_ERROR, error, attempted=True)

    def _respond(
        self,
        ex: Exchange,
        status: int,
        body: bytes,
        error: ErrorCode | None = None,
        *,
        attempted: bool = False,
    ) -> None:
        """Answer from the router itself."""
        ex.resp_started = ex.resp_done = True
        close = not ex.keep_alive or not ex.req_done or ex.upgrade or self.router.closing
        ex.close_after = close
        self.transport.write(
            router_response(status, body, head_request=ex.is_head, close=close, http11=ex.http11)
        )
        if error is not None:
            ex.log(
                error,
                status=status,
                nbytes=0 if attempted else None,
                service=monotonic() - ex.t_sent if attempted else None,
                attempted=attempted,
            )
        self.exchange_done(ex)

    def exchange_done(self, ex: Exchange) -> None:
        """The response is out: close, or move on to the next request."""
        ex.resp_done = True
        if self.active is ex:
            self.active = None
        if ex.close_after or not ex.keep_alive:
            self.close()
            return
        if self.paused:  # pauses on behalf of this exchange's body are over
            self.resume_reading(PAUSE_UPSTREAM | _PAUSE_PENDING)
        if self.queue:
            nxt = self.queue.popleft()
            self.active = nxt
            if not self.queue:
                self.resume_reading(_PAUSE_PIPELINE)
            self.start(nxt)
        else:
            self.idle_since = self.router.now

    def tunnel_open(self, ex: Exchange, conn: UpstreamConn) -> None:
        """The dyno switched protocols: from now on bytes flow both ways untouched."""
        ex.finish_log(None)
        self.tunnel = conn
        ex.cancel_timer()

    def _raw(self, ex: Exchange, data: bytes) -> None:
        up = self.tunnel
        if up is not None:
            up.transport.write(data)
            return
        ex.pending.append(data)
        if ex.upstream is not None:
            ex.flush()
        else:
            ex.pending_size += len(data)
            if ex.pending_size > _MAX_PENDING:
                self.pause_reading(_PAUSE_PENDING)

    def _parse_error(self) -> None:
        if self.reading is not None and self.reading is not self.raw_ex:
            # Broken mid-body: the dyno has half a request; nothing sane to answer.
            self.close()
            return
        self.in_head = False
        self.pause_reading(_PAUSE_PIPELINE)  # nothing after a bad request is read
        bad = Exchange(self, b"", b"", _BAD_HEAD, True, False, False)
        bad.status = 400
        bad.req_done = True
        if self.active is None:
            self.active = bad
            self.start(bad)
        else:
            self.queue.append(bad)

    def is_idle(self) -> bool:
        return self.active is None and self.reading is None and self.tunnel is None

    def close(self) -> None:
        if self.closing:
            return
        self.closing = True
        reading = self.reading is not None and self.reading is not self.raw_ex
        self._abandon()
        transport = self.transport
        if reading and transport.can_write_eof():
            # The client is still sending a body we won't read. Closing now would make its
            # kernel answer our FIN with a reset that can destroy the response in flight:
            # half-close instead, discard what still comes, close at its EOF or after a while.
            transport.write_eof()
            if self.paused:
                self.paused = 0
                transport.resume_reading()
            self.router.loop.call_later(_LINGER, transport.close)
        else:
            transport.close()

    def pause_reading(self, why: int) -> None:
        if not self.paused and not self.closing:
            self.transport.pause_reading()
        self.paused |= why

    def resume_reading(self, why: int) -> None:
        if self.paused & why:
            self.paused &= ~why
            if not self.paused and not self.closing:
                self.transport.resume_reading()


_BAD_HEAD: RequestHead = (b"", b"", "", b"", False, False)


class Router:
    client_class: type[ClientConn] = ClientConn  # a seam for tests to observe connections

    def __init__(
        self,
        table: RouteTable,
        *,
        log: LogFn,
        public_port: int | None = None,
        request_timeout: float = 30.0,
        idle_timeout: float = 60.0,
        connect_timeout: float = 5.0,
        upstream_idle_timeout: float = 30.0,
        max_idle_per_backend: int = 64,
    ) -> None:
        """``log(app, line)`` gets one router log line per request to a known app."""
        self.table = table
        self.log = log
        self.public_port = public_port
        self.request_timeout = request_timeout
        self.idle_timeout = idle_timeout
        self.pool = Pool(
            connect_timeout=connect_timeout,
            max_idle=max_idle_per_backend,
            idle_timeout=upstream_idle_timeout,
            clock=lambda: self.now,
        )
        self.conns: set[ClientConn] = set()
        # Exchanges sent to a dyno and not yet answered. One periodic sweep enforces the
        # request timeout (and idle timeouts): cheaper than a timer per request.
        self.waiting: set[Exchange] = set()
        self.now = monotonic()  # coarse clock, advanced by the sweep
        self._tick = max(0.01, min(1.0, request_timeout / 20, idle_timeout / 20))
        self._next_idle_sweep = 0.0
        self.closing = False
        self.port_bytes = b""
        self.loop: asyncio.AbstractEventLoop = None  # type: ignore[assignment]  # set in start
        self._server: asyncio.AbstractServer | None = None
        self._port = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._sweeper: asyncio.TimerHandle | None = None

    async def start(self, host: str, port: int) -> None:
        """Listen on ``host:port`` (0 picks a free port) on the running loop.

        The loop is whatever the caller runs; use uvloop there for speed (``__main__`` does).
        """
        self.loop = asyncio.get_running_loop()
        client_class = self.client_class
        self._server = await self.loop.create_server(
            lambda: client_class(self), host, port, backlog=2048
        )
        self._port = self._server.sockets[0].getsockname()[1]
        self.port_bytes = str(self.public_port or self._port).encode()
        self._sweeper = self.loop.call_later(self._tick, self._sweep)

    @property
    def port(self) -> int:
        return self._port

    async def close(self) -> None:
        """Stop listening and close every connection, client and upstream."""
        self.closing = True
        if self._sweeper is not None:
            self._sweeper.cancel()
        server = self._server
        if server is not None:
            server.close()
        for conn in list(self.conns):
            conn.close()
            conn.transport.close()  # (no lingering on shutdown)
        for task in list(self._tasks):
            task.cancel()
        self.pool.close()
        if server is not None:
            await server.wait_closed()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = self.loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _sweep(self) -> None:
        now = self.now = monotonic()
        if self.waiting:
            deadline = now - self.request_timeout
            for ex in [ex for ex in self.waiting if ex.t_sent <= deadline]:
                ex.client.timeout(ex)
                self.waiting.discard(ex)
        if now >= self._next_idle_sweep:
            self._next_idle_sweep = now + min(1.0, self.idle_timeout / 10)
            deadline = now - self.idle_timeout
            for conn in [c for c in self.conns if c.idle_since <= deadline and c.is_idle()]:
                conn.close()
            self.pool.sweep(now)
        self._sweeper = self.loop.call_later(self._tick, self._sweep)
