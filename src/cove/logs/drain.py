"""One log drain: its bounded buffer and the task delivering it, over syslog (TCP or TLS,
one connection kept open) or HTTP(S) (batched POSTs of Logplex's ``application/logplex-1``).

Nothing here ever makes the log router wait: lines are queued (``offer``), the oldest
dropped past the buffer's bound; a drain that is down is reconnected with backoff. What
was dropped is reported in the drain's own stream (an L10 line when it delivers again) and
in the app's log while it is down (an L10 line after ``NOTICE_DELAY``, then at most every
``NOTICE_INTERVAL``). Its URL may hold credentials, so logs and notices name it by
``DrainUrl.safe`` only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import secrets
import socket
import ssl
from collections.abc import Callable, Sequence
from importlib.metadata import version
from typing import TYPE_CHECKING

from cove.domain import drain_url
from cove.logs import frames
from cove.logs.budget import overflow_notice
from cove.logs.drain_buffer import LIMIT, Batch, DrainBuffer

if TYPE_CHECKING:  # (httpx is loaded by the first HTTPS drain: ~0.1 s of a server's start)
    import httpx

log = logging.getLogger("cove.drains")

BATCH = 500  # lines per HTTP POST
CONNECT_TIMEOUT = 10.0
SEND_TIMEOUT = 60.0  # a write or POST that takes longer: the connection is dropped
BACKOFF_FIRST, BACKOFF_MAX = 0.5, 30.0  # seconds between reconnects, doubling
FRAME_TRIES = 3  # an HTTP batch is POSTed this often (same Logplex-Frame-Id), then dropped
# Kernel and asyncio buffers of a syslog connection: what a stuck receiver holds beyond the
# drain's own buffer stays small, and drops (L10) start soon after it stops reading.
SOCKET_BUFFER = 64 * 1024
USER_AGENT = f"Logplex/v{version('cove')}"
# Drops are reported in the app's log this long after the first (gathering the ones that
# follow into one line), and no more often than every NOTICE_INTERVAL per drain: a drain
# down for hours must not push the app's own lines out of its 1500-line history.
NOTICE_DELAY = 1.0
NOTICE_INTERVAL = 10.0

# LogRouter.publish: (app_id, source, dyno, message)
Publish = Callable[[str, str, str, str], None]


def client_tls(ca_file: str = "") -> ssl.SSLContext:
    """How drains verify TLS receivers: the system's CAs, plus ``ca_file`` if given
    (COVE_DRAIN_CA_FILE: a file that can't be read stops the server at start)."""
    context = ssl.create_default_context()
    if ca_file:
        try:
            context.load_verify_locations(cafile=ca_file)
        except ssl.SSLError as exc:
            raise OSError(
                f"COVE_DRAIN_CA_FILE {ca_file} holds no PEM certificate ({exc.reason})"
            ) from None
        except OSError as exc:
            raise OSError(
                f"COVE_DRAIN_CA_FILE {ca_file} can't be read: {exc.strerror or exc}"
            ) from None
    return context


def certificate_error(exc: BaseException) -> ssl.SSLCertVerificationError | None:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


class _Backoff:
    def __init__(self) -> None:
        self.failures = 0

    async def wait(self) -> None:
        self.failures += 1
        delay = min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** (self.failures - 1))
        await asyncio.sleep(delay * random.uniform(0.8, 1.2))


class Drain:
    def __init__(
        self,
        app_id: str,
        drain_id: str,
        url: str,
        token: str,
        publish: Publish,
        tls: ssl.SSLContext,
        limit: int = LIMIT,
    ) -> None:
        self.app_id = app_id
        self.id = drain_id
        self.token = token
        self.target = drain_url.parse(url)
        self._url = url
        self._publish = publish
        self._tls = tls
        self.buffer = DrainBuffer(limit)
        self._quiet = False  # while it publishes its own notice (its stream has its own)
        self._cert_reported = False
        self._backoff = _Backoff()
        self._idle = asyncio.Event()  # nothing queued, nothing in flight (``flushed``)
        self._notice: asyncio.TimerHandle | None = None
        self._last_notice = -math.inf

    def offer(self, lines: Sequence[str]) -> None:
        """Queue a copy of lines of the app's log (on the event loop; never waits)."""
        if self._quiet or not lines:
            return
        self._idle.clear()
        if self.buffer.offer(lines):
            self._report_later()

    async def run(self) -> None:
        try:
            if self.target.is_syslog:
                await self._run_syslog()
            else:
                await self._run_http()
        finally:
            if self._notice is not None:
                self._notice.cancel()
                self._notice = None

    async def flushed(self) -> None:
        """Until everything queued has been delivered (or given up on)."""
        await self._idle.wait()

    async def _next(self) -> None:
        """Until there is something to send."""
        if not len(self.buffer) and not self.buffer.drops.count:
            self._idle.set()
        await self.buffer.wait()
        self._idle.clear()

    # -- notices and failures ---------------------------------------------------------------

    def _notify(self, message: str) -> None:
        """A ``heroku[logplex]`` line into the app's log (and so onto its other drains)."""
        self._quiet = True
        try:
            self._publish(self.app_id, "heroku", "logplex", message)
        finally:
            self._quiet = False

    def _report_later(self) -> None:
        if self._notice is not None:
            return
        loop = asyncio.get_running_loop()
        when = max(loop.time() + NOTICE_DELAY, self._last_notice + NOTICE_INTERVAL)
        self._notice = loop.call_at(when, self._report)

    def _report(self) -> None:
        self._notice = None
        dropped = self.buffer.unreported.take()
        if dropped is not None:
            self._last_notice = asyncio.get_running_loop().time()
            self._notify(overflow_notice(*dropped))

    def _lost(self, batch: Batch) -> None:
        """A batch that may not have arrived: counted as dropped (and reported)."""
        self.buffer.failed(batch)
        if batch.queued:
            self._report_later()

    def _failed(self, exc: BaseException) -> None:
        cert = certificate_error(exc)
        if cert is not None and not self._cert_reported:
            self._cert_reported = True
            reason = cert.verify_message or cert.reason or "certificate verify failed"
            self._notify(
                f'Error L14 (certificate validation): error="{reason}" uri="{self.target.safe}"'
            )
        if self._backoff.failures == 0:  # once per outage, not at every retry
            log.warning(
                "drain %s of app %s is failing: %s", self.target.safe, self.app_id, _reason(exc)
            )

    def _delivered(self) -> None:
        if self._backoff.failures:
            log.info("drain %s of app %s delivers again", self.target.safe, self.app_id)
        self._backoff.failures = 0
        self._cert_reported = False

    # -- syslog over TCP or TLS -------------------------------------------------------------

    async def _run_syslog(self) -> None:
        host, port = self.target.host, self.target.port
        tls = self._tls if self.target.tls else None
        while True:
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(
                        host, port, ssl=tls, server_hostname=host if tls else None
                    ),
                    CONNECT_TIMEOUT,
                )
            except (OSError, TimeoutError) as exc:
                self._failed(exc)
                await self._backoff.wait()
                continue
            try:
                await self._send_syslog(reader, writer)
            except (OSError, TimeoutError) as exc:
                self._failed(exc)
            finally:
                writer.transport.abort()
            await self._backoff.wait()

    async def _send_syslog(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SOCKET_BUFFER)
        writer.transport.set_write_buffer_limits(high=SOCKET_BUFFER)
        closed = asyncio.create_task(_until_closed(reader))
        ready: asyncio.Task[None] | None = None
        try:
            while True:
                ready = asyncio.create_task(self._next())
                await asyncio.wait({ready, closed}, return_when=asyncio.FIRST_COMPLETED)
                if closed.done():
                    raise ConnectionResetError("the receiver closed the connection")
                # Everything queued in one write: a drain whose turn comes rarely (the
                # event loop busy with a flood) empties its buffer at each turn.
                batch = self.buffer.take(self.buffer.limit + 1)
                try:
                    writer.write(
                        b"".join(frames.syslog_frame(line, self.token) for line in batch.lines)
                    )
                    await asyncio.wait_for(writer.drain(), SEND_TIMEOUT)
                except BaseException:
                    self._lost(batch)
                    raise
                self._delivered()
        finally:
            closed.cancel()
            if ready is not None:
                ready.cancel()

    # -- HTTP(S) ----------------------------------------------------------------------------

    async def _run_http(self) -> None:
        import httpx  # (loaded when first needed: ~0.1 s of a server's start otherwise)

        timeout = httpx.Timeout(SEND_TIMEOUT, connect=CONNECT_TIMEOUT)
        async with httpx.AsyncClient(verify=self._tls, timeout=timeout) as client:
            while True:
                await self._next()
                batch = self.buffer.take(BATCH)
                try:
                    delivered = await self._post(client, batch)
                except BaseException:
                    self._lost(batch)
                    raise
                if delivered:
                    self._delivered()
                else:  # given up on: counted, and reported
                    self._lost(batch)

    async def _post(self, client: httpx.AsyncClient, batch: Batch) -> bool:
        import httpx

        body = b"".join(frames.http_frame(line) for line in batch.lines)
        headers = {
            "Content-Type": frames.CONTENT_TYPE,
            "Logplex-Msg-Count": str(len(batch.lines)),
            "Logplex-Frame-Id": secrets.token_hex(16).upper(),
            "Logplex-Drain-Token": self.token,
            "User-Agent": USER_AGENT,
        }
        for _ in range(FRAME_TRIES):
            try:
                response = await client.post(self._url, content=body, headers=headers)
            except httpx.HTTPError as exc:
                self._failed(exc)
            else:
                if response.is_success:
                    return True
                self._failed(ConnectionError(f"the receiver answered {response.status_code}"))
            await self._backoff.wait()
        return False


async def _until_closed(reader: asyncio.StreamReader) -> None:
    """Returns when the receiver closes the connection (what it sends is thrown away)."""
    with contextlib.suppress(OSError):
        while await reader.read(65536):
            pass


def _reason(exc: BaseException) -> str:
    """Why a delivery failed, without the URL (httpx puts it in some messages)."""
    import httpx

    cert = certificate_error(exc)
    if cert is not None:
        return f"certificate: {cert.verify_message or cert.reason}"
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, OSError) and not isinstance(cause, httpx.HTTPError):
            return str(cause) or type(cause).__name__
        cause = cause.__cause__ or cause.__context__
    if isinstance(exc, TimeoutError | httpx.TimeoutException):
        return "timed out"
    return type(exc).__name__ if isinstance(exc, httpx.HTTPError) else str(exc)
