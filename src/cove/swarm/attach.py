"""``cove run`` on Swarm: an attached dyno calls Cove back.

Swarm's API can't attach to a container on another node, so the stack image's
``dyno-attach`` connects to the rendezvous listener with a single-use secret of its own
(``DialIns``), and carries the command's terminal in frames (see that script). Here the
connection becomes a ``Terminal`` like a local PTY's: the rendezvous session reads and
writes one end of a socket pair, and two pumps move bytes between its other end and the
dyno's frames, each waiting for the other side to take what it has (back-pressure both
ways).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
from collections.abc import Callable

from cove.rendezvous import matching_secret

log = logging.getLogger(__name__)

HEADER = struct.Struct("!cI")
FRAME_MAX = 1 << 20  # the script sends at most 64 KiB at once; a bigger frame is an error
CHUNK = 64 * 1024

# Frame types.
INPUT, END_OF_INPUT, WINDOW, HANG_UP = b"i", b"e", b"w", b"h"
OUTPUT = b"o"

Link = tuple[asyncio.StreamReader, asyncio.StreamWriter]
HandOver = Callable[[asyncio.Transport, bytes], None]


def frame(kind: bytes, payload: bytes = b"") -> bytes:
    return HEADER.pack(kind, len(payload)) + payload


class DialIns:
    """Attached swarm dynos that have yet to call back, by their single-use secret."""

    def __init__(self) -> None:
        self._waiting: dict[str, asyncio.Future[Link]] = {}

    def expect(self, secret: str) -> asyncio.Future[Link]:
        future: asyncio.Future[Link] = asyncio.get_running_loop().create_future()
        self._waiting[secret] = future
        return future

    def forget(self, secret: str) -> None:
        future = self._waiting.pop(secret, None)
        if future is not None and not future.done():
            future.cancel()

    def answer(self, secret: str) -> HandOver | None:
        """For the rendezvous listener: what takes over the connection that sent
        ``secret``, once; None for a secret nobody waits for."""
        found = matching_secret(self._waiting, secret)
        if found is None:
            return None
        future = self._waiting.pop(found)
        return lambda transport, rest: _hand_over(future, transport, rest)


def _hand_over(future: asyncio.Future[Link], transport: asyncio.Transport, rest: bytes) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=FRAME_MAX + HEADER.size)
    protocol = asyncio.StreamReaderProtocol(reader)
    transport.set_protocol(protocol)
    protocol.connection_made(transport)
    if rest:
        reader.feed_data(rest)
    writer = asyncio.StreamWriter(transport, protocol, reader, loop)
    if future.done():  # (the dyno's start gave up on it meanwhile)
        transport.abort()
        return
    future.set_result((reader, writer))


class SwarmTerminal:
    """An attached swarm dyno's terminal: ``output_fd`` and ``input_fd`` are the same end
    of a socket pair (closing the input is a half-close)."""

    def __init__(self, tty: bool, link: Link) -> None:
        self.tty = tty
        ours, theirs = socket.socketpair()
        ours.setblocking(False)
        self._ours = ours
        self.output_fd = ours.fileno()
        self.input_fd: int | None = ours.fileno()
        self._reader, self._writer = link
        self._pump_task = asyncio.ensure_future(self._pump(theirs))  # (kept: a task's owner)

    async def _pump(self, theirs: socket.socket) -> None:
        inner_reader, inner_writer = await asyncio.open_connection(sock=theirs)
        to_dyno = asyncio.ensure_future(self._to_dyno(inner_reader))
        try:
            await self._from_dyno(inner_writer)
        finally:
            to_dyno.cancel()
            await asyncio.gather(to_dyno, return_exceptions=True)
            inner_writer.close()
            self._writer.close()

    async def _from_dyno(self, inner: asyncio.StreamWriter) -> None:
        """The dyno's output frames, to the session's end, until the dyno hangs up."""
        try:
            while True:
                kind, size = HEADER.unpack(await self._reader.readexactly(HEADER.size))
                if size > FRAME_MAX:
                    log.warning("an attached swarm dyno sent a frame of %d bytes", size)
                    return
                payload = await self._reader.readexactly(size)
                if kind == OUTPUT:
                    inner.write(payload)
                    await inner.drain()
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            return

    async def _to_dyno(self, inner: asyncio.StreamReader) -> None:
        """The client's input, from the session's end, to the dyno; at its end (a
        half-close: ``close_input``), the end of input."""
        with contextlib.suppress(ConnectionError, OSError):
            while data := await inner.read(CHUNK):
                self._writer.write(frame(INPUT, data))
                await self._writer.drain()
            self._writer.write(frame(END_OF_INPUT))

    def _send(self, data: bytes) -> None:
        if not self._writer.is_closing():
            self._writer.write(data)

    def resize(self, columns: int, lines: int) -> None:
        if self.tty:
            self._send(frame(WINDOW, struct.pack("!HH", columns, lines)))

    def hang_up(self) -> None:
        """SIGHUP to the command's session, as its terminal going away would send."""
        self._send(frame(HANG_UP))

    def close_input(self) -> None:
        if self.tty or self.input_fd is None:
            return
        self.input_fd = None
        with contextlib.suppress(OSError):
            self._ours.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        self.input_fd = None
        self.output_fd = -1
        self._ours.close()
