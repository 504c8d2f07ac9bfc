"""The API listener's HTTP protocol: uvicorn's, with connection caps and a header deadline.

uvicorn bounds neither. ``limit_concurrency`` only answers 503 once a request head has
fully arrived, so connections that trickle their heads are never turned away; and its
keep-alive timer is cancelled by the first byte of the next request, after which a head
may trickle forever. Enough such connections lock the operator out of the API (and, once
the open files limit is reached, out of everything). So this subclass of uvicorn's
httptools protocol refuses connections over the caps as soon as they are accepted, and a
periodic sweep closes connections whose request head hasn't arrived within the deadline.
Only heads are timed: a git push streams its body for as long as it takes.

With TLS, the handshake happens inside the protocol (``loop.start_tls`` on the accepted
connection) rather than in the server: a connection is counted against the caps from the
moment it is accepted, and its handshake counts into the first head's deadline, so that
half-finished handshakes can't hold descriptors outside every limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
from time import monotonic
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from cove import tls_handshake
from cove.limits import Caps, ConnectionCounter, half_close, refuse

# A request head larger than this is refused (uvicorn has no limit of its own; httptools
# holds an unfinished header line in memory however long it grows).
MAX_HEAD = 64 * 1024
_HEAD_TOO_LARGE = json.dumps(
    {"id": "bad_request", "message": f"The request head is over {MAX_HEAD // 1024} KB."}
).encode()


async def _head_too_large_app(scope: Any, receive: Any, send: Any) -> None:
    """The 431 for a head that arrived whole, as an ASGI app."""
    await send(
        {
            "type": "http.response.start",
            "status": 431,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", b"%d" % len(_HEAD_TOO_LARGE)),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": _HEAD_TOO_LARGE})


class ApiGuard:
    """Connection accounting and the header deadline for one API listener."""

    def __init__(
        self, caps: Caps, header_timeout: float, tls: ssl.SSLContext | None = None
    ) -> None:
        self.conns = ConnectionCounter("API", caps)
        self.header_timeout = header_timeout
        self.tls = tls
        # Connections waiting for a request head to complete -> since when.
        self.heads: dict[GuardedProtocol, float] = {}
        self._timer: asyncio.TimerHandle | None = None

    def start(self) -> None:
        """Start the sweep on the running loop."""
        self._timer = asyncio.get_running_loop().call_later(self._period, self._sweep)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    @property
    def _period(self) -> float:
        return max(0.05, min(1.0, self.header_timeout / 10))

    def _sweep(self) -> None:
        now = monotonic()
        late = now - self.header_timeout
        for proto in [p for p, since in self.heads.items() if since <= late]:
            del self.heads[proto]
            proto.transport.close()
        self.conns.report(now)
        self._timer = asyncio.get_running_loop().call_later(self._period, self._sweep)

    def protocol(self) -> type[GuardedProtocol]:
        """The protocol class for ``uvicorn.Config(http=...)``, bound to this guard."""
        return type("GuardedProtocol", (GuardedProtocol,), {"guard": self})


class GuardedProtocol(HttpToolsProtocol):
    guard: ApiGuard

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.address: str | None = None  # set once admitted
        self.head_bytes = 0  # of a request head still incomplete after a read
        self.parsed_head = 0  # of the request head being parsed
        self.draining = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        peer = transport.get_extra_info("peername")
        address = str(peer[0]) if isinstance(peer, tuple) else ""
        if not self.guard.conns.admit(address):
            refuse(transport)
            return
        self.address = address
        self.guard.heads[self] = monotonic()  # the first head is due within the deadline
        tls = self.guard.tls
        if tls is None:
            super().connection_made(transport)
            return
        self.transport = transport  # (what the sweep closes if the handshake is too slow)
        tls_handshake.begin(
            self.loop,
            transport,
            self,
            tls,
            self.guard.header_timeout + 5,  # (a backstop: the sweep closes it first)
            lambda secured: self._handshake_done(transport, secured),
        )

    def _handshake_done(self, raw: asyncio.Transport, transport: asyncio.Transport | None) -> None:
        if transport is None or transport.is_closing():
            # (slow, reset, not TLS at all) A failed handshake never reaches
            # connection_lost: the connection is released here.
            self._release()
            raw.close()
            return
        super().connection_made(_TlsTransport(transport, self))  # type: ignore[arg-type]

    def body_pending(self) -> bool:
        """Whether the current request's body is still coming."""
        cycle = self.cycle
        return cycle is not None and cycle.more_body

    def _release(self) -> bool:
        address = self.address
        if address is None:
            return False
        self.address = None
        self.guard.conns.release(address)
        self.guard.heads.pop(self, None)
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        if not self._release():
            return  # refused: uvicorn never knew of it
        with contextlib.suppress(AttributeError):  # (uvicorn never saw a failed handshake)
            super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.draining:
            return
        heads = self.guard.heads
        in_head = self in heads
        super().data_received(data)
        if in_head and self in heads:  # all of it was head (no request completed in it)
            self.head_bytes += len(data)
            if self.head_bytes > MAX_HEAD and not self.transport.is_closing():
                heads.pop(self, None)
                self._head_too_large()

    def _head_too_large(self) -> None:
        """Answer 431, then half-close and drain (the client is still sending)."""
        transport = self.transport
        transport.write(
            b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
            b"content-type: application/json\r\ncontent-length: %d\r\n"
            b"connection: close\r\n\r\n%s" % (len(_HEAD_TOO_LARGE), _HEAD_TOO_LARGE)
        )
        self.draining = True
        if not half_close(self.loop, transport):
            transport.close()

    def on_message_begin(self) -> None:
        # A request's first byte: its head is due within the deadline (a connection's
        # first head is timed from the connection already).
        self.guard.heads.setdefault(self, monotonic())
        super().on_message_begin()

    def on_url(self, url: bytes) -> None:
        self.parsed_head += len(url) + 16  # (with the method and the protocol)
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self.parsed_head += len(name) + len(value) + 4
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self.guard.heads.pop(self, None)
        self.head_bytes = 0
        oversized, self.parsed_head = self.parsed_head > MAX_HEAD, 0
        if not oversized:
            super().on_headers_complete()
            return
        # A head that arrived whole (in one read: data_received only bounds heads still
        # incomplete) is answered by uvicorn's own machinery, as it answers requests over
        # its concurrency limit: the app is swapped for the refusal for this request.
        app, self.app = self.app, _head_too_large_app
        try:
            super().on_headers_complete()
        finally:
            self.app = app


class _TlsTransport:
    """A TLS connection's transport as uvicorn sees it. Closing a connection whose request
    body is still coming (a refusal: 401, 413) aborts it, as closing a plain TCP
    connection with unread data resets it; a TLS goodbye would first read and decrypt
    the rest of the body, however large, until the peer said goodbye too."""

    def __init__(self, transport: asyncio.Transport, protocol: GuardedProtocol) -> None:
        self._transport = transport
        self._protocol = protocol

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)

    def close(self) -> None:
        if self._protocol.body_pending():
            self._transport.abort()
        else:
            self._transport.close()
