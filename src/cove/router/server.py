"""The router's listeners: accept client connections (within its connection caps, shared
by the HTTP and HTTPS listeners), own the dyno connection pool, and sweep request, header
and idle timeouts on one periodic timer."""

from __future__ import annotations

import asyncio
import ipaddress
import ssl
from collections.abc import Callable, Coroutine, Iterable
from time import monotonic
from typing import Any

from cove.acm.challenges import Http01Challenges
from cove.limits import Budget, Caps, ConnectionCounter, open_files_limit
from cove.router.exchange import Exchange
from cove.router.proxy import ClientConn, LogFn, TlsClientConn
from cove.router.table import RouteTable
from cove.router.upstream import Pool

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def forwarded_fields(proto: bytes, port: int) -> bytes:
    """The X-Forwarded-Proto and -Port lines the router adds for one listener."""
    return b"X-Forwarded-Proto: %s\r\nX-Forwarded-Port: %d\r\n" % (proto, port)


class Router:
    client_class: type[ClientConn] = ClientConn  # a seam for tests to observe connections
    tls_client_class: type[TlsClientConn] = TlsClientConn

    def __init__(
        self,
        table: RouteTable,
        *,
        log: LogFn,
        public_port: int | None = None,
        request_timeout: float = 30.0,
        header_timeout: float = 30.0,
        idle_timeout: float = 60.0,
        connect_timeout: float = 5.0,
        upstream_idle_timeout: float = 30.0,
        max_idle_per_backend: int = 64,
        boot_wait: float = 75.0,
        caps: Caps | None = None,
        trusted_proxies: Iterable[str] = (),
    ) -> None:
        """``log(app, line)`` gets one router log line per request to a known app.

        ``header_timeout``: how long a client has to send a whole request head, from when
        it connects or from the first byte of a later request (Heroku: 30 s).
        ``idle_timeout``: how long a keep-alive connection may wait for its next request
        (Heroku: 1 minute).
        ``boot_wait``: how long a request to an app whose web dynos are starting is held
        for one to come up before it gets H20 (Heroku: 75 s).
        ``caps``: client connections held at once, in all and per client address; by
        default sized from the process's open files limit (``cove.limits``).
        ``trusted_proxies``: addresses or networks of front proxies whose X-Forwarded-For,
        -Proto and -Port are kept (from other clients, -Proto and -Port are replaced and
        the client's address is appended to -For).
        """
        self.table = table
        self.log = log
        # Each logged request's (app, status, service seconds, H code), for metrics.
        self.record: Callable[[str, int, float | None, str | None], None] | None = None
        self.public_port = public_port
        self.request_timeout = request_timeout
        self.boot_wait = boot_wait
        self.header_timeout = header_timeout
        self.idle_timeout = idle_timeout
        caps = caps or Budget.for_limit(open_files_limit()).router
        self.caps = ConnectionCounter("router", caps)
        self.pool = Pool(
            connect_timeout=connect_timeout,
            max_idle=max_idle_per_backend,
            max_idle_total=caps.total,
            idle_timeout=upstream_idle_timeout,
            clock=lambda: self.now,
        )
        self.conns: set[ClientConn] = set()
        # Exchanges sent to a dyno and not yet answered. One periodic sweep enforces the
        # request timeout (and idle timeouts): cheaper than a timer per request.
        self.waiting: set[Exchange] = set()
        # Exchanges held while their app's web dynos boot -> the task waiting for them.
        self.held: dict[Exchange, asyncio.Task[Any]] = {}
        self.now = monotonic()  # coarse clock, advanced by the sweep
        self._tick = max(
            0.01, min(1.0, request_timeout / 20, header_timeout / 20, idle_timeout / 20)
        )
        self._next_idle_sweep = 0.0
        self.closing = False
        self.trusted: tuple[Network, ...] = tuple(
            ipaddress.ip_network(p.strip(), strict=False) for p in trusted_proxies
        )
        self.forwarded = b""  # X-Forwarded-Proto/-Port for the HTTP listener
        self.tls_forwarded = b""  # ... and for the HTTPS listener
        self.tls_context: ssl.SSLContext | None = None
        # http-01 challenges the ACM issuer is having validated (cove.acm.challenges).
        self.acme: Http01Challenges | None = None
        # Redirects an app sends to https on the HTTP listener's own port (which can't
        # speak TLS) are pointed at the HTTPS listener's: see ``https_location``.
        self.plain_suffix = b""
        self.tls_suffix = b""
        self.loop: asyncio.AbstractEventLoop = None  # type: ignore[assignment]  # set in start
        self._server: asyncio.AbstractServer | None = None
        self._tls_server: asyncio.AbstractServer | None = None
        self._port = 0
        self._tls_port = 0
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
        port = self.public_port or self._port
        self.forwarded = forwarded_fields(b"http", port)
        self.plain_suffix = b":%d" % port
        self._sweeper = self.loop.call_later(self._tick, self._sweep)

    async def start_tls(self, host: str, port: int, context: ssl.SSLContext) -> None:
        """Also listen for HTTPS on ``host:port`` (after ``start``): the same routing,
        caps and deadlines; the TLS handshake counts into the first head's deadline."""
        self.tls_context = context
        tls_class = self.tls_client_class
        self._tls_server = await self.loop.create_server(
            lambda: tls_class(self), host, port, backlog=2048
        )
        self._tls_port = self._tls_server.sockets[0].getsockname()[1]
        self.tls_forwarded = forwarded_fields(b"https", self._tls_port)
        self.tls_suffix = b"" if self._tls_port == 443 else b":%d" % self._tls_port

    @property
    def port(self) -> int:
        return self._port

    @property
    def tls_port(self) -> int:
        return self._tls_port

    def is_trusted(self, address: str) -> bool:
        """Whether ``address`` is one of the trusted front proxies."""
        if not self.trusted:
            return False
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in net for net in self.trusted)

    def https_location(self, host: bytes) -> tuple[bytes, bytes] | None:
        """For a redirect answered on the HTTP listener to ``host``: the https URL prefix
        that can't work (``https://host:<HTTP port>``, a port that speaks no TLS) and the
        one to use instead (the HTTPS listener's port). None when there is nothing to fix
        (no HTTPS listener, or a Host without the HTTP listener's port, e.g. port 80)."""
        suffix = self.plain_suffix
        if not self._tls_port or not suffix or not host.endswith(suffix):
            return None
        return b"https://" + host, b"https://" + host[: -len(suffix)] + self.tls_suffix

    async def close(self) -> None:
        """Stop listening and close every connection, client and upstream."""
        self.closing = True
        if self._sweeper is not None:
            self._sweeper.cancel()
        server = self._server
        if server is not None:
            server.close()
        if self._tls_server is not None:
            self._tls_server.close()
        for conn in list(self.conns):
            conn.close()
            conn.transport.close()  # (no lingering on shutdown)
        for task in list(self._tasks):
            task.cancel()
        self.pool.close()
        if server is not None:
            await server.wait_closed()
        if self._tls_server is not None:
            await self._tls_server.wait_closed()
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
            self._next_idle_sweep = now + min(1.0, self.idle_timeout / 10, self.header_timeout / 10)
            idle_by = now - self.idle_timeout
            head_by = now - self.header_timeout
            for conn in [c for c in self.conns if c.overdue(now, idle_by, head_by)]:
                conn.close()
            self.pool.sweep(now)
            self.caps.report(now)
        self._sweeper = self.loop.call_later(self._tick, self._sweep)
