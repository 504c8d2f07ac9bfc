"""A client connection to the router: parsing requests and proxying each to a web dyno.

asyncio Protocols + httptools rather than streams: a request costs a handful of callbacks
and usually one write each way, with no coroutine or task on the keep-alive hot path.

One client connection handles one exchange at a time. Pipelined requests are parsed as they
arrive but queued (and reading paused) until the exchange before them is answered, so
responses go out in order. Unknown hosts get a 404 page and are not logged: there is no app
to log them under.

An app without an up web dyno gets H14 (no web process), H10 (its web dynos crashed), or, while
they boot, its requests are held until a dyno is up (H20 after ``boot_wait``). A request whose
dyno refuses the connection, or drops it before answering in a way that shows the request was
never handled, is retried on another dyno picked from a fresh table lookup: during a deploy
the old dyno leaves the table and closes its listener while requests to it are in flight.
An unexpected exception while handling a request answers H99 and never takes the server down.

Hostile clients: a connection over the router's caps (per client address, in all) is closed
as soon as it is accepted; one that doesn't send a whole request head within the header
timeout is closed by the router's sweep. A request that breaks HTTP or the head limits is
answered (400, 414, 431) and logged as H26 for its app when its Host is known; the
connection then half-closes and drains what the client still sends, so that the client
reads the answer instead of a reset.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Sequence
from random import choice
from time import monotonic, time
from typing import TYPE_CHECKING

from httptools import HttpParserError, HttpParserUpgrade, HttpRequestParser

from cove import tls_handshake
from cove.acm.challenges import response as challenge_response
from cove.limits import half_close, refuse
from cove.router.exchange import Exchange
from cove.router.headers import (
    MAX_HEADER_LINE,
    MAX_HEADERS,
    MAX_REQUEST_LINE,
    BadRequest,
    Headers,
    build_request_head,
    new_request_id,
)
from cove.router.logline import (
    H10,
    H12,
    H13,
    H14,
    H20,
    H26,
    H27,
    H80,
    H99,
    ErrorCode,
)
from cove.router.pages import (
    APPLICATION_ERROR,
    BAD_REQUEST,
    MAINTENANCE,
    NO_SUCH_APP,
    REFUSED,
    router_response,
)
from cove.router.table import Backend, WebState
from cove.router.upstream import PAUSE_UPSTREAM, UpstreamConn

if TYPE_CHECKING:
    from cove.router.server import Router

LogFn = Callable[[str, str], None]
logger = logging.getLogger(__name__)

# Why a client connection's reading is paused (bit flags; read resumes when none is left).
# PAUSE_UPSTREAM = 1: the dyno isn't taking the request body as fast as it comes.
_PAUSE_PENDING = 2  # body buffered while the dyno connection is being made
_PAUSE_PIPELINE = 4  # a pipelined request waits for the one before it

_MAX_PENDING = 256 * 1024
_MAX_ATTEMPTS = 10  # dynos tried per request (Heroku's router: at most 10 connection attempts)
_AFTER_BODY = -2  # ClientConn.line: a message with a body just ended, somewhere in this read


class ClientConn(asyncio.Protocol):
    tls = False  # the HTTPS listener's connections say True
    __slots__ = (
        "active",
        "address",
        "admitted",
        "bad_cause",
        "client_ip",
        "closing",
        "flush_ex",
        "forwarded",
        "head_mark",
        "head_seen",
        "headers",
        "idle_since",
        "in_head",
        "line",
        "opened",
        "parser",
        "paused",
        "queue",
        "raw_ex",
        "reading",
        "router",
        "to_start",
        "transport",
        "trusted",
        "tunnel",
        "url",
        "write_paused",
    )

    def __init__(self, router: Router) -> None:
        self.router = router
        self.transport: asyncio.Transport = None  # type: ignore[assignment]  # set at once
        self.parser: HttpRequestParser = None  # type: ignore[assignment]  # once admitted
        self.address = ""
        self.client_ip = b""
        self.admitted = False
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
        self.opened = 0.0
        self.idle_since = 0.0  # when the last response went out (0: none yet)
        self.head_mark = 0.0  # the idle_since the sweep last saw a head start after
        self.head_seen = 0.0  # when the sweep first saw that head
        self.bad_cause = ""  # H26 cause of a request refused as malformed
        self.forwarded = router.forwarded  # this listener's X-Forwarded-Proto and -Port
        self.trusted = False  # a trusted front proxy: its X-Forwarded-* are kept

    # -- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        peer = transport.get_extra_info("peername")
        address = str(peer[0]) if isinstance(peer, tuple) else ""
        router = self.router
        if not router.caps.admit(address):
            self.closing = True  # over a cap: refused, before a parser is made for it
            refuse(transport)
            return
        self.admitted = True
        self.address = address
        self.client_ip = address.encode()
        self.trusted = router.is_trusted(address)
        self.parser = HttpRequestParser(self)
        router.conns.add(self)
        # (Not the sweep's coarse clock: after the loop was held up, that would be old
        # enough to time out a connection accepted just now.)
        self.opened = monotonic()

    def data_received(self, data: bytes) -> None:
        try:
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
            except HttpParserError as exc:
                cause = exc.__context__
                if cause is not None and not isinstance(cause, BadRequest):
                    raise cause from exc  # a parser callback failed: ours, not the client's
                self._parse_error(cause)
            if self.closing:
                return
            if self.in_head:
                # httptools only reports complete header lines: bound the unfinished one here.
                line = self.line
                if line == _AFTER_BODY:
                    # What follows this read's last newline may be the body just ended, not
                    # a head: count the next head's line from the next read on.
                    self.line = 0
                elif (nl := data.rfind(b"\n")) >= 0:
                    self.line = len(data) - nl - 1
                    if self.url and not self.line and not self.headers:
                        self._request_line_ended()
                elif line >= 0:
                    self.line += len(data)
                else:
                    self.line = 0
                if self.line > MAX_HEADER_LINE + 2:
                    self._parse_error(BadRequest(431, "bad header"))
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
        except Exception as exc:  # a bug here must cost one connection, not the server
            self._crashed(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closing = True
        if not self.admitted:
            return  # refused over a cap, or gone already
        self.admitted = False
        router = self.router
        router.conns.discard(self)
        router.caps.release(self.address)
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
        held = self.router.held
        if held and active is not None:
            task = held.pop(active, None)
            if task is not None:
                task.cancel()  # it was waiting for a dyno to boot
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
            raise BadRequest(414, "bad request line")

    def on_header(self, name: bytes, value: bytes) -> None:
        headers = self.headers
        if len(name) + len(value) + 2 > MAX_HEADER_LINE or len(headers) >= MAX_HEADERS:
            raise BadRequest(431, "bad header")
        headers.append((name, value))

    def on_headers_complete(self) -> None:
        self.in_head = False
        parser = self.parser
        url = self.url
        headers = self.headers
        method = parser.get_method()
        if len(method) + len(url) + 10 > MAX_REQUEST_LINE:
            raise BadRequest(414, "bad request line")
        version = parser.get_http_version()
        http11 = version == "1.1"
        if (not http11 and version != "1.0") or method == b"CONNECT":
            raise BadRequest(400, "bad request line")  # HTTP/0.9 (or 2.0 as text); tunnels
        upgrade = parser.should_upgrade()
        req = build_request_head(
            method,
            url,
            headers,
            self.client_ip,
            self.forwarded,
            int(time() * 1000),
            upgrade,
            self.trusted,
        )
        self.url = b""
        self.headers = []
        ex = Exchange(self, method, url, req, http11, parser.should_keep_alive(), upgrade)
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
        # The next head starts somewhere in this read: after its last newline, unless the
        # message had a body.
        self.line = _AFTER_BODY if ex.has_body else -1
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
        try:
            ex.t_start = monotonic()
            if ex.status:  # a bad request (refused)
                self._refuse(ex)
                return
            router = self.router
            route, ex.host_str = router.table.resolve(ex.host)
            ex.route = route
            if router.acme is not None and not self.tls:
                key_authorization = router.acme.answer(ex.host_str, ex.url)
                if key_authorization is not None:  # an ACME CA validating a domain
                    self._answer_challenge(ex, key_authorization)
                    return
            if route is None:
                self._respond(ex, 404, NO_SUCH_APP)
            elif route.maintenance:
                self._respond(ex, 503, MAINTENANCE, H80)
            elif route.backends:
                backends = route.backends
                backend = backends[0] if len(backends) == 1 else choice(backends)
                conn = router.pool.take(backend)
                if conn is not None:
                    self._attach(ex, conn, reused=True)
                else:
                    router.spawn(self._connect(ex, backend))
            elif route.state is WebState.STARTING:
                router.spawn(self._connect(ex, None))  # holds the request until a dyno is up
            elif route.state is WebState.CRASHED:
                self._respond(ex, 503, APPLICATION_ERROR, H10)
            else:
                self._respond(ex, 503, APPLICATION_ERROR, H14)
        except Exception as exc:
            self.platform_error(ex, exc)

    async def _connect(
        self,
        ex: Exchange,
        backend: Backend | None,
        failure: ErrorCode = H10,
        avoid: Backend | None = None,
    ) -> None:
        """Connect to ``backend``; after a failure (or with None) to a dyno from a fresh
        lookup, other than ``avoid`` if there is one. ``failure`` answers when every dyno
        has failed us."""
        try:
            await self._try_backends(ex, backend, failure, avoid)
        except Exception as exc:
            self.platform_error(ex, exc)

    async def _try_backends(
        self, ex: Exchange, backend: Backend | None, failure: ErrorCode, avoid: Backend | None
    ) -> None:
        pool = self.router.pool
        while True:
            conn = None
            reused = False
            if backend is None:
                backend = await self._pick(ex, failure, avoid)
                if backend is None:
                    return  # answered, or the client is gone
                if not ex.retried:
                    conn = pool.take(backend)
                    reused = conn is not None
            if conn is None:
                try:
                    conn = await pool.connect(backend)
                except OSError:  # refused, unreachable, or timed out
                    conn = None
                else:
                    if conn.closed or conn.transport.is_closing():
                        conn = None  # reset before we got to use it (a listener closing)
            if conn is not None:
                break
            if ex.aborted:
                return
            tried = ex.tried
            if tried is None:
                tried = ex.tried = set()
            tried.add(backend.key)
            backend = None
            failure = H10
            if len(tried) >= _MAX_ATTEMPTS:
                self._respond(ex, 503, APPLICATION_ERROR, H10)
                return
        if ex.aborted or self.closing:
            pool.release(conn)
            return
        self._attach(ex, conn, reused=reused)

    async def _pick(
        self, ex: Exchange, failure: ErrorCode, avoid: Backend | None = None
    ) -> Backend | None:
        """A dyno not tried yet (preferably not ``avoid``) from a fresh lookup of the
        exchange's route, waiting while the app's web dynos boot. None when answered (or
        the client is gone)."""
        router = self.router
        while True:
            if ex.aborted or self.closing:
                return None
            route = router.table.resolve(ex.host)[0]
            if route is None:
                self._respond(ex, 404, NO_SUCH_APP)
                return None
            ex.route = route
            if route.maintenance:
                self._respond(ex, 503, MAINTENANCE, H80)
                return None
            backends: Sequence[Backend] = route.backends
            tried = ex.tried
            if tried:
                backends = [b for b in backends if b.key not in tried]
            if avoid is not None and len(backends) > 1:
                backends = [b for b in backends if b != avoid] or backends
            if backends:
                return backends[0] if len(backends) == 1 else choice(backends)
            if route.backends:
                # Every dyno failed us (H10 when refused, H13 when one hung up).
                self._respond(ex, 503, APPLICATION_ERROR, failure, attempted=failure is H13)
                return None
            if route.state is WebState.CRASHED:
                self._respond(ex, 503, APPLICATION_ERROR, H10)
                return None
            if route.state is not WebState.STARTING:
                self._respond(ex, 503, APPLICATION_ERROR, H14)
                return None
            # Booting: wait for the app's route to change, then look again.
            remaining = ex.t_start + router.boot_wait - monotonic()
            changed = router.table.changed(route.app)
            task = asyncio.current_task()
            if task is not None:
                router.held[ex] = task  # so that a client going away cancels the wait
            try:
                async with asyncio.timeout(max(remaining, 0.0)):
                    await changed.wait()
            except TimeoutError:
                if monotonic() < ex.t_start + router.boot_wait:
                    continue  # the loop's timer fired a hair early (uvloop: ms resolution)
                if not ex.aborted and not self.closing:
                    self._respond(ex, 503, APPLICATION_ERROR, H20)
                return None
            finally:
                router.held.pop(ex, None)

    def _attach(self, ex: Exchange, conn: UpstreamConn, *, reused: bool) -> None:
        ex.upstream = conn
        ex.reused = reused
        ex.dyno = conn.backend.dyno
        conn.ex = ex
        now = monotonic()
        ex.connect = now - ex.t_start
        ex.t_sent = now
        pending = ex.pending
        data = pending[0] if len(pending) == 1 else b"".join(pending)
        try:
            if self.write_paused:
                conn.paused = True
                conn.transport.pause_reading()
            conn.transport.write(data)
        except RuntimeError:
            # uvloop: the dyno reset the connection and its transport closed before we heard
            # of it. Nothing reached the dyno: another go, on another dyno if there is one.
            conn.ex = None
            conn.closed = True
            ex.upstream = None
            ex.pending = [data]
            self.router.spawn(self._connect(ex, None, H10, conn.backend))
            return
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

    def upstream_failed(self, ex: Exchange, conn: UpstreamConn, exc: Exception | None) -> None:
        """The dyno closed before answering."""
        ex.cancel_timer()
        if (
            not ex.has_body
            and not ex.upgrade
            and not self.closing
            and self._retryable(ex, conn, exc)
        ):
            ex.upstream = None
            ex.pending = [ex.head]
            self.router.spawn(self._connect(ex, None, H13, conn.backend))
            return
        self._respond(ex, 503, APPLICATION_ERROR, H13, attempted=True)

    def _retryable(self, ex: Exchange, conn: UpstreamConn, exc: Exception | None) -> bool:
        """Whether a bodyless request the dyno dropped unanswered never reached the app, so
        another go (on a fresh connection, from a fresh lookup) is safe."""
        if ex.reused and not ex.retried:
            # Most likely a pooled connection the dyno closed as we reused it (its keep-alive
            # timeout, or a dyno shutting down): the dyno may be fine, so it isn't excluded.
            ex.retried = True
            return True
        tried = ex.tried
        if tried is not None and len(tried) + 1 >= _MAX_ATTEMPTS:
            return False
        route = self.router.table.resolve(ex.host)[0]
        if exc is None and route is not None and conn.backend in route.backends:
            return False  # a clean close by a dyno still in service: the app hung up (H13)
        # A reset (e.g. a listener closed with our connection in its backlog), or a dyno
        # that has left the table since: a dyno shutting down, not an app failure.
        ex.retried = True
        if tried is None:
            tried = ex.tried = set()
        tried.add(conn.backend.key)
        return True

    def platform_error(self, ex: Exchange, exc: BaseException) -> None:
        """H99: an unexpected exception while handling ``ex``. Answer 503 if nothing was
        sent yet, else cut the response short; the connection goes either way."""
        if isinstance(exc, RuntimeError) and self.transport.is_closing():
            # uvloop refuses writes to a transport that closed before we heard of it: the
            # client is gone, and connection_lost is on its way to clean up.
            ex.cancel_timer()
            ex.drop_upstream()
            return
        logger.error(
            "router: platform error (H99) on %s %r",
            ex.method.decode("latin-1"),
            ex.url.decode("latin-1"),
            exc_info=exc,
        )
        try:
            ex.cancel_timer()
            ex.drop_upstream()
            if ex.aborted or self.closing:
                return
            ex.keep_alive = False  # the connection's state can't be trusted any more
            if not ex.resp_started:
                self._respond(ex, 503, APPLICATION_ERROR, H99, attempted=bool(ex.t_sent))
                return
            ex.log(
                H99,
                status=ex.status,
                nbytes=ex.nbytes,
                service=monotonic() - ex.t_sent if ex.t_sent else None,
                attempted=bool(ex.t_sent),
            )
        except Exception:
            logger.exception("router: failed to answer a platform error")
        self._crashed(None)

    def _crashed(self, exc: BaseException | None) -> None:
        """Give up on this connection after an unexpected exception."""
        if exc is not None:
            active = self.active
            if active is not None and not active.resp_started and not self.closing:
                self.platform_error(active, exc)  # answers 503 + H99, then closes
                return
            logger.error("router: platform error on a client connection", exc_info=exc)
        try:
            self.close()
        except Exception:
            logger.exception("router: failed to close a client connection")
        self.closing = True
        self.router.conns.discard(self)
        self.transport.abort()

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
        cause: str | None = None,
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
                cause=cause,
            )
        self.exchange_done(ex)

    def _answer_challenge(self, ex: Exchange, key_authorization: bytes) -> None:
        """Answer an http-01 challenge from the router itself (not logged: the line would
        hold the token)."""
        ex.resp_started = ex.resp_done = True
        close = not ex.keep_alive or not ex.req_done or ex.upgrade or self.router.closing
        ex.close_after = close
        self.transport.write(
            challenge_response(
                key_authorization, head_request=ex.is_head, close=close, http11=ex.http11
            )
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

    def _parse_error(self, err: BadRequest | None) -> None:
        """The client broke HTTP (``err`` says how when it was us who noticed rather than
        llhttp): answer it, and close once the answer is out."""
        bad = err or BadRequest(400, "bad request")
        ex = self.reading
        if ex is not None and ex is not self.raw_ex:
            # Broken mid-body (a bad chunk size): the dyno has part of a request.
            if ex.resp_started or ex.status:
                self.close()  # its answer is on the way already: cut it short
                return
            self.bad_cause = "bad chunk" if ex.chunked else bad.cause
            ex.status = 400
            self.pause_reading(_PAUSE_PIPELINE)
            if ex is self.active and self.to_start is not ex:
                # Routed already: take the request back from the dyno (or the wait for one).
                ex.cancel_timer()
                ex.drop_upstream()
                task = self.router.held.pop(ex, None)
                if task is not None:
                    task.cancel()
                self._refuse(ex)
            return  # (queued, or about to start: start() refuses it)
        self.in_head = False
        self.pause_reading(_PAUSE_PIPELINE)  # nothing after a bad request is read
        self.bad_cause = bad.cause
        # What is known of the request, for its log line: the method once the request
        # line is in, the Host and X-Forwarded-For among the complete header lines.
        url = self.url
        headers = self.headers
        method = self.parser.get_method() if url else b""
        host = b""
        fwd: list[bytes] = []
        for name, value in headers:
            lower = name.lower()
            if lower == b"host" and not host:
                host = value
            elif lower == b"x-forwarded-for":
                fwd.append(value)
        fwd.append(self.client_ip)
        head = (b"", host, new_request_id(), b", ".join(fwd), False, False)
        refused = Exchange(self, method, url, head, True, False, False)
        refused.status = bad.status
        refused.req_done = True
        # The client may be sending still: close() drains it so the answer isn't lost.
        self.reading = refused
        if self.active is None:
            self.active = refused
            self.start(refused)
        else:
            self.queue.append(refused)

    def _request_line_ended(self) -> None:
        """The request line is in (the head so far ends with it): HTTP/0.9 has no version."""
        if not self.parser.get_http_version().startswith("1"):
            self._parse_error(BadRequest(400, "bad request line"))

    def _refuse(self, ex: Exchange) -> None:
        """Answer a request the router won't forward, logged as H26 for its app if any."""
        if ex.host and ex.route is None:
            ex.route, ex.host_str = self.router.table.resolve(ex.host)
        page = REFUSED.get(ex.status, BAD_REQUEST)
        self._respond(ex, ex.status, page, H26, cause=self.bad_cause)

    def overdue(self, now: float, idle_by: float, head_by: float) -> bool:
        """Whether the router's sweep should close this connection: it waited too long for
        a request head. ``head_by``/``idle_by`` are the oldest start times still within
        the header and idle timeouts.

        A first head is due within the header timeout of connecting. After a response the
        connection may idle for the idle timeout, but once a head starts arriving it has
        the header timeout to complete. When it started is noted by the first sweep that
        sees it (``head_mark`` remembers after which response), so that requests on the
        keep-alive path pay nothing for it.
        """
        if self.active is not None or self.reading is not None or self.tunnel is not None:
            return False
        since = self.idle_since
        if not since:
            return self.opened <= head_by
        if self.line > 0 or self.url or self.headers:
            if self.head_mark != since:
                self.head_mark = since
                self.head_seen = now
                return False
            return self.head_seen <= head_by
        return since <= idle_by

    def close(self) -> None:
        if self.closing:
            return
        self.closing = True
        reading = self.reading is not None and self.reading is not self.raw_ex
        self._abandon()
        transport = self.transport
        if reading and half_close(self.router.loop, transport):
            # The client is still sending a body we won't read: discard what still comes.
            if self.paused:
                self.paused = 0
                transport.resume_reading()
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


class TlsClientConn(ClientConn):
    """A client connection to the HTTPS listener: admitted (or refused) at accept like a
    plain one, then its TLS handshake runs on the accepted connection (``start_tls``)
    inside the header deadline, which the router's sweep enforces as for any head."""

    __slots__ = ()
    tls = True

    def __init__(self, router: Router) -> None:
        super().__init__(router)
        self.forwarded = router.tls_forwarded

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        if not self.admitted:
            return
        router = self.router
        context = router.tls_context
        assert context is not None  # (set before the listener starts)
        raw = self.transport
        tls_handshake.begin(
            router.loop,
            raw,
            self,
            context,
            router.header_timeout + 5,  # (a backstop: the sweep closes it first)
            lambda secured: self._handshake_done(raw, secured),
        )

    def _handshake_done(self, raw: asyncio.Transport, transport: asyncio.Transport | None) -> None:
        if transport is None:
            # Slow (the sweep closed it), reset, not TLS at all. A failed handshake never
            # reaches connection_lost: the connection is released here.
            raw.close()
            self.connection_lost(None)
            return
        self.transport = transport
        if self.closing:  # closed by the sweep as the handshake ended
            transport.close()
