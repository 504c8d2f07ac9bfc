"""The client side of Heroku's rendezvous protocol: attaching to a one-off dyno (`cove run`).

`POST /apps/{app}/dynos` with `attach: true` answers with an ``attach_url``
(``rendezvous://HOST:PORT/SECRET``). The client connects (TLS, or plain TCP where the API is
plain HTTP), sends ``SECRET\\r\\n``, reads the greeting (``rendezvous\\r\\n``) and then pumps
bytes both ways: the local stdin to the dyno, the dyno's output to the local stdout. The
server ends the output with the exit marker line ``\\uFFFF heroku-command-exit-status: N``,
which is never printed; the client reports N. Without a TTY, ``\\x04`` says stdin ended.

One asyncio loop does the network side (asyncio's TLS is a memory BIO: reads and writes on
one connection from one thread). Stdin is read by a thread, since a regular file (``cove run
python < script.py``) can't be watched by epoll.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import signal
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO
from urllib.parse import urlsplit

MARKER_PREFIX = "\uffff heroku-command-exit-status: ".encode()
GREETING = b"rendezvous"
EOT = b"\x04"  # the Heroku CLI's "stdin ended" byte in non-TTY mode
CHUNK = 65536
GREETING_MAX = 256
CONNECT_TIMEOUT = 30.0  # TCP + TLS + secret + greeting (the server greets before starting)
CLOSE_TIMEOUT = 1.0
MAX_STATUS_DIGITS = 10
# Signals that end an attached session (the terminal is restored by the caller's finally).
ENDING_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)


class RendezvousError(Exception):
    """Attaching failed: a bad attach URL, no connection, an untrusted certificate, or the
    server refused the secret (it closes without a greeting)."""


@dataclass(frozen=True)
class AttachUrl:
    host: str
    port: int
    secret: str

    @classmethod
    def parse(cls, url: str) -> AttachUrl:
        parts = urlsplit(url)
        if parts.scheme != "rendezvous":
            raise RendezvousError(f"Unsupported attach URL scheme {parts.scheme!r}.")
        try:
            port = parts.port or 443  # heroku3's default; Cove always names the port
        except ValueError:
            raise RendezvousError("The attach URL has an invalid port.") from None
        secret = parts.path.lstrip("/") + (f"?{parts.query}" if parts.query else "")
        if not parts.hostname or not secret:
            raise RendezvousError("The attach URL has no host or no secret.")
        return cls(parts.hostname, port, secret)


# -- output filters -------------------------------------------------------------------------


class ExitMarkerFilter:
    """Strips the exit marker line from the output stream and records its status.

    Output passes through at once; only bytes from a U+FFFF at the start of a line onward
    are held back, until they complete a marker line or prove not to be one (so a marker
    split across reads is still recognised, and ordinary output is never delayed)."""

    def __init__(self) -> None:
        self.status: int | None = None
        self._held = b""
        self._prev = b"\n"  # the byte before the held (or next) bytes: the stream starts a line

    def feed(self, data: bytes) -> bytes:
        buf = self._held + data
        self._held = b""
        out = bytearray()
        start = pos = 0
        while (i := buf.find(MARKER_PREFIX[:1], pos)) >= 0:
            before = buf[i - 1 : i] if i > 0 else self._prev
            if before != b"\n":
                pos = i + 1
                continue
            verdict, end, status = _match_marker(buf, i)
            if verdict == "partial":
                out += buf[start:i]
                self._prev = before
                self._held = buf[i:]
                return bytes(out)
            if verdict == "marker":
                out += buf[start:i]
                self.status = status
                start = pos = end
            else:
                pos = i + 1
        out += buf[start:]
        if buf:
            self._prev = buf[-1:]
        return bytes(out)

    def flush(self) -> bytes:
        """The held bytes at the end of the stream: a marker without its line end still
        counts (the Heroku CLI's `$` matches the end of the data too); anything else is
        output."""
        held, self._held = self._held, b""
        digits = held[len(MARKER_PREFIX) :].rstrip(b"\r")
        if held.startswith(MARKER_PREFIX) and digits.isdigit():
            self.status = int(digits)
            return b""
        return held


def _match_marker(buf: bytes, i: int) -> tuple[str, int, int | None]:
    """Whether ``buf[i:]`` starts with a marker line: ("marker", end, status), "partial"
    (could still become one), or "no"."""
    rest = buf[i:]
    if len(rest) < len(MARKER_PREFIX):
        return ("partial" if MARKER_PREFIX.startswith(rest) else "no"), 0, None
    if not rest.startswith(MARKER_PREFIX):
        return "no", 0, None
    j = k = len(MARKER_PREFIX)
    while k < len(rest) and rest[k : k + 1].isdigit():
        k += 1
    if k - j > MAX_STATUS_DIGITS:
        return "no", 0, None
    tail = rest[k:]
    if not tail:
        return "partial", 0, None
    if k == j:
        return "no", 0, None
    if tail == b"\r":
        return "partial", 0, None
    for ending in (b"\r\n", b"\n"):
        if tail.startswith(ending):
            return "marker", i + k + len(ending), int(rest[j:k])
    return "no", 0, None


class CrlfToLf:
    """Rewrites ``\\r\\n`` as ``\\n`` (for a stdout that isn't a terminal, as the Heroku CLI
    does), also when the pair is split across reads."""

    def __init__(self) -> None:
        self._cr = b""

    def feed(self, data: bytes) -> bytes:
        data = self._cr + data
        self._cr = b""
        if data.endswith(b"\r"):
            data, self._cr = data[:-1], b"\r"
        return data.replace(b"\r\n", b"\n")

    def flush(self) -> bytes:
        cr, self._cr = self._cr, b""
        return cr


# -- the session ----------------------------------------------------------------------------


@dataclass
class Outcome:
    """How an attached session ended: the remote exit status (None when the connection
    closed before the marker), or the local signal that ended it."""

    status: int | None = None
    signal: int | None = None


@dataclass
class Attachment:
    """One attached session. ``tty``: the local terminal is in raw mode (no EOT at stdin's
    end). ``on_attached`` runs once the greeting arrived (print "up", enter raw mode);
    ``on_resize`` runs (in a worker thread, in order) on each SIGWINCH."""

    url: AttachUrl
    ssl_context: ssl.SSLContext | None
    read_stdin: Callable[[int], bytes]  # at most n bytes, b"" at the end (``read1``)
    stdout: BinaryIO
    tty: bool
    crlf_to_lf: bool
    on_attached: Callable[[], None] = lambda: None
    on_resize: Callable[[], None] | None = None

    def run(self) -> Outcome:
        return asyncio.run(self._run())

    async def _run(self) -> Outcome:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        outcome = Outcome()

        def interrupted(signum: int) -> None:
            outcome.signal = signum
            task.cancel()

        for signum in ENDING_SIGNALS:
            loop.add_signal_handler(signum, interrupted, signum)
        resizer = concurrent.futures.ThreadPoolExecutor(max_workers=1)
        if self.on_resize is not None:
            on_resize = self.on_resize
            loop.add_signal_handler(
                signal.SIGWINCH, lambda: loop.run_in_executor(resizer, on_resize)
            )
        writer: asyncio.StreamWriter | None = None
        try:
            reader, writer, first = await self._connect()
            self.on_attached()
            stdin = asyncio.create_task(self._pump_stdin(writer))
            try:
                outcome.status = await self._pump_output(reader, first)
            finally:
                stdin.cancel()
        except asyncio.CancelledError:
            if outcome.signal is None:
                raise
            task.uncancel()
        finally:
            for signum in (*ENDING_SIGNALS, signal.SIGWINCH):
                loop.remove_signal_handler(signum)
            resizer.shutdown(wait=False, cancel_futures=True)
            if writer is not None:
                await _close(writer)
        return outcome

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, bytes]:
        where = f"{self.url.host}:{self.url.port}"
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT):
                reader, writer = await asyncio.open_connection(
                    self.url.host,
                    self.url.port,
                    ssl=self.ssl_context,
                    server_hostname=self.url.host if self.ssl_context else None,
                    limit=CHUNK,
                )
                writer.write(self.url.secret.encode() + b"\r\n")
                return reader, writer, await _greeting(reader, where)
        except TimeoutError:
            raise RendezvousError(
                f"The dyno's rendezvous at {where} didn't answer within {CONNECT_TIMEOUT:g} s."
            ) from None
        except ssl.SSLCertVerificationError as exc:
            raise RendezvousError(
                f"The dyno's rendezvous at {where} has a certificate this machine doesn't "
                f"trust: {exc.verify_message}."
            ) from None
        except OSError as exc:
            raise RendezvousError(
                f"Could not connect to the dyno's rendezvous at {where}: {exc}"
            ) from None

    async def _pump_output(self, reader: asyncio.StreamReader, first: bytes) -> int | None:
        marker = ExitMarkerFilter()
        crlf = CrlfToLf() if self.crlf_to_lf else None

        def emit(data: bytes) -> None:
            if crlf is not None:
                data = crlf.feed(data)
            if data:
                self.stdout.write(data)
                self.stdout.flush()

        data = first
        while True:
            if data:
                emit(marker.feed(data))
            if marker.status is not None:
                break
            try:
                data = await reader.read(CHUNK)
            except OSError:  # reset, TLS error: the end of the stream all the same
                data = b""
            if not data:
                emit(marker.flush())
                break
        if crlf is not None and (tail := crlf.flush()):
            self.stdout.write(tail)
            self.stdout.flush()
        return marker.status

    async def _pump_stdin(self, writer: asyncio.StreamWriter) -> None:
        loop = asyncio.get_running_loop()
        chunks: asyncio.Queue[bytes] = asyncio.Queue(maxsize=4)
        read_stdin = self.read_stdin

        def read() -> None:
            while True:
                try:
                    chunk = read_stdin(CHUNK)
                except (OSError, ValueError):  # a terminal hung up, a closed stdin
                    chunk = b""
                try:
                    asyncio.run_coroutine_threadsafe(chunks.put(chunk), loop).result()
                except (RuntimeError, concurrent.futures.CancelledError):
                    return  # the session is over
                if not chunk:
                    return

        # A daemon: a read blocked on a terminal must not keep the CLI alive at the end.
        threading.Thread(target=read, name="cove-run-stdin", daemon=True).start()
        try:
            while chunk := await chunks.get():
                writer.write(chunk)
                await writer.drain()
            if not self.tty:
                writer.write(EOT)
                await writer.drain()
        except OSError:
            pass  # the connection is gone; the output side reports how it ended


async def _greeting(reader: asyncio.StreamReader, where: str) -> bytes:
    """Read the greeting line; return what followed it in the same read (output)."""
    buf = b""
    while b"\n" not in buf and len(buf) < GREETING_MAX:
        try:
            chunk = await reader.read(GREETING_MAX)
        except (ConnectionError, ssl.SSLError):
            chunk = b""
        if not chunk:
            raise RendezvousError(
                f"The dyno's rendezvous at {where} closed the connection without a greeting: "
                "it refused the attach secret (wrong, expired or already used)."
            )
        buf += chunk
    line, _, rest = buf.partition(b"\n")
    if not line.startswith(GREETING):
        raise RendezvousError(
            f"{where} is not a rendezvous server: it answered {line[:40]!r} instead of a greeting."
        )
    return rest


async def _close(writer: asyncio.StreamWriter) -> None:
    """Close our side (TLS close_notify); don't wait long for the server's."""
    writer.close()
    try:
        async with asyncio.timeout(CLOSE_TIMEOUT):
            await writer.wait_closed()
    except (OSError, TimeoutError):
        pass
