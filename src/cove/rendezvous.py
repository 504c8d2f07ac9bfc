"""The rendezvous listener: where ``cove run`` (and Heroku's own CLI) attach to a one-off
dyno's terminal.

Heroku's protocol: the client connects (TLS, with the API's certificate), sends the
secret of its ``attach_url`` (``SECRET\\r\\n``, or the bare secret), and the server
answers ``rendezvous\\r\\n`` as a write of its own; from then on the connection carries
the dyno's terminal both ways. When the process exits, the server sends the exit marker
line ``\\uFFFF heroku-command-exit-status: N`` (Heroku's CLI takes its exit status from
it), says TLS goodbye and closes. A wrong, used or expired secret gets nothing at all.

Like the other listeners, it accepts plain TCP within its connection caps and starts TLS
itself, so that a handshake counts into the deadline for sending the secret. Both
directions are bounded: a client that doesn't read stops the server reading the dyno's
output (the dyno then waits on its terminal), and a client that sends faster than the
dyno reads stops being read.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import os
import select
import socket
import ssl
from collections.abc import Callable, Coroutine, Iterable
from time import monotonic
from typing import Any, Protocol, cast

from cove import tls_handshake
from cove.dynos.backend import DynoHandle, Terminal
from cove.limits import Caps, ConnectionCounter, half_close, refuse

log = logging.getLogger("cove.rendezvous")

GREETING = b"rendezvous\r\n"
MARKER = "\uffff heroku-command-exit-status: %d\r\n"
SECRET_DEADLINE = 10.0  # seconds from connecting to a secret received (TLS included)
SECRET_MAX = 256  # bytes: a secret line is never longer
SECRET_PAUSE = 0.2  # a secret without a newline is whole once the client pauses this long
READ_CHUNK = 64 * 1024
OUTPUT_HIGH_WATER = 256 * 1024  # unsent output buffered for the client: stop reading above
INPUT_MAX = 64 * 1024  # client input not yet taken by the dyno: stop reading the client above
PEER_CHECK = 1.0  # seconds between looks at a client no longer read: is it still there?
EOT = b"\x04"  # in pipe mode, the client's end of input (Heroku's CLI sends it)


def rendezvous_caps(api: Caps) -> Caps:
    """Attached clients held at once: each holds a dyno too, so fewer than the API's."""
    return Caps(max(16, min(api.total, 256)), max(4, min(api.per_address, 16)))


def peer_gone(sock: Any) -> bool:
    """Whether the client closed or reset a connection that isn't being read: the kernel
    knows (a FIN behind unread data, a reset) though no read has said so yet."""
    try:
        poller = select.poll()
        poller.register(sock.fileno(), select.POLLRDHUP | select.POLLERR | select.POLLHUP)
        return bool(poller.poll(0))
    except (OSError, ValueError):  # (closed meanwhile)
        return True


def matching_secret(waiting: Iterable[str], given: str) -> str | None:
    """The waiting secret equal to ``given``, if any. Every one is compared in full (no
    early exit whose timing would tell how much of a secret was right)."""
    found = None
    for secret in waiting:
        if hmac.compare_digest(secret.encode(), given.encode()):
            found = secret
    return found


def exit_marker(status: int, last_byte: bytes) -> bytes:
    """The final write: the exit marker on a line of its own."""
    newline = b"" if last_byte == b"\n" else b"\r\n"
    return newline + (MARKER % status).encode()


class Attachment(Protocol):
    """A claimed dyno (``cove.dynos.one_off_dynos.Attachment``)."""

    name: str
    tty: bool  # a PTY (else pipes: \x04 from the client ends the dyno's stdin)

    async def start(self) -> DynoHandle: ...

    def stop(self) -> None: ...


Claim = Callable[[str], Attachment | None]
# A dyno calling back (cove.swarm.attach): what takes its connection over, and the bytes
# that came after its secret.
DialIn = Callable[[str], Callable[[asyncio.Transport, bytes], None] | None]


class RendezvousListener:
    def __init__(
        self,
        claim: Claim,
        caps: Caps,
        tls: ssl.SSLContext | None,
        dial_in: DialIn | None = None,
    ) -> None:
        self.claim = claim
        self.dial_in = dial_in
        self.conns = ConnectionCounter("rendezvous", caps)
        self.tls = tls
        self.sessions: set[Session] = set()
        self._server: asyncio.AbstractServer | None = None
        self.port = 0

    async def start(self, host: str, port: int) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: Session(self), host, port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def start_on(self, sock: socket.socket) -> None:
        """Serve on a socket already bound and listening."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: Session(self), sock=sock)
        self.port = sock.getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for session in list(self.sessions):
            session.abort()
        if self._server is not None:
            await self._server.wait_closed()


class Session(asyncio.Protocol):
    """One client connection: the secret, then the dyno's terminal."""

    def __init__(self, listener: RendezvousListener) -> None:
        self.listener = listener
        self.loop = asyncio.get_running_loop()
        self.raw: asyncio.Transport | None = None
        self.transport: asyncio.Transport | None = None  # (TLS, once the handshake is done)
        self.address: str | None = None
        self.state = "secret"  # secret | starting | streaming | done | handed over
        self.secret = bytearray()
        self.deadline: asyncio.TimerHandle | None = None
        self.pause: asyncio.TimerHandle | None = None
        self.attachment: Attachment | None = None
        self.handle: DynoHandle | None = None
        self.terminal: Terminal | None = None
        self.stdin = bytearray()
        self.stdin_eof = False
        self.client_paused = False  # we stopped reading the client (the dyno is behind)
        self.reading = False  # the dyno's output is watched
        self.writing = False  # the dyno's input is watched (a write would block)
        self.output_paused = False  # the client is behind
        self.last = b"\n"  # the last byte sent (the greeting ends a line)
        self.gone = False
        self.tasks: set[asyncio.Task[None]] = set()

    # -- connection ----------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.Transport, transport)  # (uvloop's isn't a subclass)
        peer = transport.get_extra_info("peername")
        address = str(peer[0]) if isinstance(peer, tuple) else ""
        conns = self.listener.conns
        if not conns.admit(address):
            conns.report(monotonic())
            refuse(transport)
            return
        self.address = address
        self.raw = transport
        self.listener.sessions.add(self)
        self.deadline = self.loop.call_later(SECRET_DEADLINE, self._too_slow)
        tls = self.listener.tls
        if tls is None:
            self._ready(transport)
            return
        tls_handshake.begin(
            self.loop, transport, self, tls, SECRET_DEADLINE, lambda t: self._secured(transport, t)
        )

    def _secured(self, raw: asyncio.Transport, transport: asyncio.Transport | None) -> None:
        if transport is None or transport.is_closing():
            # A failed handshake never reaches connection_lost.
            self._release()
            raw.close()
            return
        self._ready(transport)

    def _ready(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        transport.set_write_buffer_limits(high=OUTPUT_HIGH_WATER)
        if self.secret:  # (bytes that came with the handshake's end: see data_received)
            self._secret_data(b"")

    def _too_slow(self) -> None:
        if self.state == "secret":
            self.abort()

    def abort(self) -> None:
        """Close at once (no secret in time; the server is stopping)."""
        transport = self.transport or self.raw
        if transport is not None:
            transport.abort()
        if self.transport is None:
            self._release()  # (a handshake still under way: its end closes nothing of ours)

    def _release(self) -> None:
        if self.address is not None:
            self.listener.conns.release(self.address)
            self.address = None
        self.listener.sessions.discard(self)
        for timer in (self.deadline, self.pause):
            if timer is not None:
                timer.cancel()

    def connection_lost(self, exc: Exception | None) -> None:
        self._release()
        self.gone = True
        if self.state != "done":
            self.state = "done"
            self._unwatch()
            if self.attachment is not None:
                self.attachment.stop()  # the whole dyno goes with its client

    # -- the secret ----------------------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        if self.state == "secret":
            if self.transport is None:
                # asyncio's own loop hands on the bytes that came with the end of the TLS
                # handshake before start_tls returns the TLS transport (uvloop after): kept
                # until it is known, at the next turn of the loop (one read's worth).
                self.secret += data
                return
            self._secret_data(data)
        elif self.state in ("starting", "streaming"):
            self._input(data)

    def _secret_data(self, data: bytes) -> None:
        self.secret += data
        end = self.secret.find(b"\n")
        if end >= 0:
            self._check(bytes(self.secret[:end]), bytes(self.secret[end + 1 :]))
        elif len(self.secret) >= SECRET_MAX:
            self._check(bytes(self.secret[:SECRET_MAX]), bytes(self.secret[SECRET_MAX:]))
        else:  # heroku3 sends the bare secret: whole once the client waits for an answer
            if self.pause is not None:
                self.pause.cancel()
            self.pause = self.loop.call_later(SECRET_PAUSE, self._secret_paused)

    def _secret_paused(self) -> None:
        if self.state == "secret":
            self._check(bytes(self.secret), b"")

    def _check(self, line: bytes, rest: bytes) -> None:
        if self.pause is not None:
            self.pause.cancel()
        self.secret.clear()
        transport = self.transport
        assert transport is not None
        try:
            secret = line.strip().decode("ascii")
        except UnicodeDecodeError:
            secret = ""
        attachment = self.listener.claim(secret) if secret else None
        dial_in = self.listener.dial_in
        hand_over = dial_in(secret) if secret and attachment is None and dial_in else None
        if hand_over is not None:
            # A dyno's side: its connection is the dyno's terminal from now on, no client
            # of ours (it no longer counts against the caps: its client's connection does).
            self.state = "handed over"
            self._release()
            transport.write(GREETING)
            hand_over(transport, rest)
            return
        if attachment is None:
            self.state = "done"
            transport.close()  # nothing said: no greeting, no reason
            return
        if self.deadline is not None:
            self.deadline.cancel()
        self.state = "starting"
        self.attachment = attachment
        transport.write(GREETING)  # a write of its own, before the process can say anything
        self._input(rest)
        self._spawn(self._start(attachment))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = self.loop.create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _start(self, attachment: Attachment) -> None:
        try:
            handle = await attachment.start()
        except Exception as exc:
            log.warning("one-off dyno %s could not start: %s", attachment.name, exc)
            if not self.gone and self.transport is not None:
                self.transport.write(f"Error: {attachment.name} could not start\r\n".encode())
                self._finish_with(1)
            return
        if self.gone or self.state != "starting":  # the client left while it started
            attachment.stop()
            if handle.terminal is not None:
                handle.terminal.close()
            return
        assert handle.terminal is not None
        self.handle, self.terminal = handle, handle.terminal
        self.state = "streaming"
        self._watch_output()
        self._flush_input()

    # -- the dyno's output to the client -------------------------------------------------
    def _watch_output(self) -> None:
        if self.terminal is not None and not self.reading and self.terminal.output_fd >= 0:
            self.loop.add_reader(self.terminal.output_fd, self._output_ready)
            self.reading = True

    def _unwatch_output(self) -> None:
        if self.reading and self.terminal is not None:
            self.loop.remove_reader(self.terminal.output_fd)
        self.reading = False

    def _output_ready(self) -> None:
        terminal, transport = self.terminal, self.transport
        assert terminal is not None and transport is not None
        try:
            data = os.read(terminal.output_fd, READ_CHUNK)
        except BlockingIOError:
            return
        except OSError:  # EIO: a PTY whose every slave end is closed (the dyno is over)
            data = b""
        if not data:
            self._unwatch_output()
            self._spawn(self._exited())
            return
        transport.write(data)  # (pause_writing stops the reading if the client is behind)
        self.last = data[-1:]

    def pause_writing(self) -> None:
        if self.reading:
            self._unwatch_output()
            self.output_paused = True

    def resume_writing(self) -> None:
        if self.output_paused and self.state == "streaming":
            self.output_paused = False
            self._watch_output()

    async def _exited(self) -> None:
        """All output is sent: the exit marker, then goodbye."""
        assert self.handle is not None
        status = await self.handle.wait_exit()
        if self.state == "streaming":
            self._finish_with(status)

    def _finish_with(self, status: int) -> None:
        self.state = "done"
        self._unwatch()
        transport = self.transport
        assert transport is not None
        transport.write(exit_marker(status, self.last))
        # TLS: close_notify, then the TCP close once the client's goodbye (or LINGER) came,
        # reading what it still sends; plain TCP: a half-close, for the same reason (the
        # client's unread input must not turn the close into a reset that loses the end).
        if not half_close(self.loop, transport):
            transport.close()

    def _unwatch(self) -> None:
        self._unwatch_output()
        self._unwatch_input()
        if self.terminal is not None:
            self.terminal.close()

    # -- the client's input to the dyno --------------------------------------------------
    def _input(self, data: bytes) -> None:
        if self.stdin_eof or not data:
            return
        if not self._tty() and EOT in data:
            data = data[: data.index(EOT)]
            self.stdin_eof = True
        self.stdin += data
        if self.terminal is not None:
            self._flush_input()
        if len(self.stdin) > INPUT_MAX and not self.client_paused and self.transport:
            self.transport.pause_reading()
            self.client_paused = True
            # Unread, the connection says nothing when the client goes: look now and then,
            # so that its leaving still stops the dyno.
            self.loop.call_later(PEER_CHECK, self._check_peer)

    def _check_peer(self) -> None:
        if not self.client_paused or self.state == "done" or self.raw is None:
            return
        if peer_gone(self.raw.get_extra_info("socket")):
            self.abort()
        else:
            self.loop.call_later(PEER_CHECK, self._check_peer)

    def _tty(self) -> bool:
        return self.attachment is None or self.attachment.tty

    def eof_received(self) -> bool:
        """The client closed its side: it is gone (the end of its input is ``\\x04``, never
        a half-close, which a client that went away would look like too), and so is the
        dyno. (With TLS, asyncio closes the connection on close_notify in any case.)"""
        return False

    def _flush_input(self) -> None:
        terminal = self.terminal
        if terminal is None or self.state != "streaming":
            return
        fd = terminal.input_fd
        while self.stdin and fd is not None:
            try:
                written = os.write(fd, self.stdin)
            except BlockingIOError:
                break
            except OSError:  # the dyno closed its stdin: what it didn't take is dropped
                self.stdin.clear()
                break
            del self.stdin[:written]
        if self.stdin and fd is not None:
            if not self.writing:
                self.loop.add_writer(fd, self._flush_input)
                self.writing = True
        else:
            self._unwatch_input()
            if self.stdin_eof:
                terminal.close_input()
        if self.client_paused and len(self.stdin) <= INPUT_MAX // 2 and self.transport:
            self.client_paused = False
            self.transport.resume_reading()

    def _unwatch_input(self) -> None:
        if self.writing and self.terminal is not None and self.terminal.input_fd is not None:
            with contextlib.suppress(OSError, ValueError):
                self.loop.remove_writer(self.terminal.input_fd)
        self.writing = False
