"""HTTP/1.1 for the site: one asyncio protocol per connection, keep-alive and pipelining,
GET and HEAD only (no request bodies are read), conditional requests (304), gzip.

Limits: the request head (16 KB, 100 headers), how long a head may take (30 s) and a
connection may idle (75 s, longer than the router's 30 s for its idle dyno connections,
so it is always the router that closes one), how long a client may leave written bytes
unread (60 s), and the number of open connections.
"""

from __future__ import annotations

import asyncio
import re
import sys
import time
from email.utils import parsedate_to_datetime

from static_server.config import Config
from static_server.files import Entry, Files, http_date
from static_server.routing import Decision, Router, normalize

MAX_HEAD = 16 * 1024
MAX_HEADERS = 100
MAX_TARGET = 8 * 1024
HEAD_TIMEOUT = 30.0
IDLE_TIMEOUT = 75.0
SEND_TIMEOUT = 60.0
MAX_CONNECTIONS = 4096
CHUNK = 256 * 1024
WRITE_HIGH_WATER = 512 * 1024

REASONS = {
    200: "OK", 301: "Moved Permanently", 302: "Found", 303: "See Other",
    304: "Not Modified", 307: "Temporary Redirect", 308: "Permanent Redirect",
    400: "Bad Request", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
    414: "URI Too Long", 431: "Request Header Fields Too Large",
    505: "HTTP Version Not Supported",
}  # fmt: skip
_HEADER_BLOCK = re.compile(rb"(?:[!#$%&'*+.^_`|~0-9A-Za-z-]+:[\t -~\x80-\xff]*\r\n)*")
_TARGET = re.compile(rb"[!-~]+")  # visible ASCII: anything else in a target is refused
_HOST = re.compile(r"[A-Za-z0-9.:\[\]_-]+")
_WANTED = {
    b"host", b"if-none-match", b"if-modified-since", b"accept-encoding", b"connection",
    b"content-length", b"transfer-encoding", b"x-forwarded-proto", b"x-forwarded-for",
}  # fmt: skip


def _page(status: int) -> bytes:
    reason = REASONS[status]
    return f"<!DOCTYPE html><title>{status} {reason}</title><h1>{status} {reason}</h1>\n".encode()


def accepts_gzip(value: str) -> bool:
    for item in value.lower().split(","):
        coding, _, params = item.partition(";")
        if coding.strip() not in ("gzip", "*"):
            continue
        q = params.strip()
        if q.startswith("q="):
            try:
                return float(q[2:]) > 0
            except ValueError:
                return False
        return True
    return False


def etag_matches(header: str, *tags: str) -> bool:
    """If-None-Match's weak comparison against the representation's tags."""
    for candidate in header.split(","):
        candidate = candidate.strip()
        if candidate == "*":
            return True
        if candidate.startswith("W/"):
            candidate = candidate[2:]
        if candidate in tags:
            return True
    return False


def not_modified_since(header: str, mtime: int) -> bool:
    try:
        since = parsedate_to_datetime(header).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return False
    return mtime <= since


class AccessLog:
    """Lines gathered during one turn of the event loop and written together."""

    def __init__(self, loop: asyncio.AbstractEventLoop, enabled: bool) -> None:
        self.loop = loop
        self.enabled = enabled
        self.lines: list[str] = []

    def add(self, line: str) -> None:
        if not self.lines:
            self.loop.call_soon(self.flush)
        self.lines.append(line)

    def flush(self) -> None:
        lines, self.lines = self.lines, []
        try:
            sys.stdout.write("\n".join(lines) + "\n")
            sys.stdout.flush()
        except (OSError, ValueError):
            pass


class Site:
    """What every connection of one server process shares."""

    def __init__(self, config: Config, files: Files, loop: asyncio.AbstractEventLoop) -> None:
        self.config = config
        self.files = files
        self.router = Router(config, files)
        self.loop = loop
        self.log = AccessLog(loop, config.access_log)
        self.connections: set[Connection] = set()
        self._date_second = -1
        self._date = ""
        self._date_bytes = b""
        self.closing = False
        self._sweeper: asyncio.TimerHandle | None = None

    def date(self) -> str:
        now = int(time.time())
        if now != self._date_second:
            self._date_second = now
            self._date = http_date(now)
            self._date_bytes = self._date.encode()
        return self._date

    def date_bytes(self) -> bytes:
        self.date()
        return self._date_bytes

    def start_sweeping(self) -> None:
        self._sweeper = self.loop.call_later(1.0, self._sweep)

    def _sweep(self) -> None:
        now = self.loop.time()
        for conn in list(self.connections):
            conn.check(now)
        self._sweeper = self.loop.call_later(1.0, self._sweep)

    def stop(self) -> None:
        """Stop: idle connections are closed now, busy ones after their response."""
        self.closing = True
        if self._sweeper is not None:
            self._sweeper.cancel()
        for conn in list(self.connections):
            conn.close_when_idle()


class Connection(asyncio.Protocol):
    def __init__(self, site: Site) -> None:
        self.site = site
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.deadline = 0.0
        self.write_deadline: float | None = None
        self.busy = False  # a response is being sent from disk
        self.paused = False  # the client isn't reading fast enough
        self.drained: asyncio.Future[None] | None = None
        self.closing = False
        self.sending: asyncio.Future[None] | None = None  # a large file going out

    # -- asyncio.Protocol -------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        if len(self.site.connections) >= MAX_CONNECTIONS or self.site.closing:
            transport.abort()
            self.closing = True
            return
        self.site.connections.add(self)
        transport.set_write_buffer_limits(high=WRITE_HIGH_WATER)
        self.deadline = self.site.loop.time() + HEAD_TIMEOUT

    def connection_lost(self, exc: Exception | None) -> None:
        self.closing = True
        self.site.connections.discard(self)
        if self.drained is not None and not self.drained.done():
            self.drained.set_result(None)

    def data_received(self, data: bytes) -> None:
        if self.closing:
            return
        if not self.buffer:  # a new request starts: its head gets HEAD_TIMEOUT at most
            self.deadline = min(self.deadline, self.site.loop.time() + HEAD_TIMEOUT)
        self.buffer += data
        if not self.busy and not self.paused:
            self._process()

    def pause_writing(self) -> None:
        self.paused = True
        self.write_deadline = self.site.loop.time() + SEND_TIMEOUT
        if self.transport is not None:
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        self.paused = False
        self.write_deadline = None
        if self.drained is not None and not self.drained.done():
            self.drained.set_result(None)
        if not self.busy and not self.closing and self.transport is not None:
            self.transport.resume_reading()
            self._process()

    # -- deadlines ----------------------------------------------------------------------

    def check(self, now: float) -> None:
        if self.write_deadline is not None:
            if now > self.write_deadline:
                self._abort()
        elif not self.busy and now > self.deadline:
            self._close()

    def close_when_idle(self) -> None:
        if not self.busy and not self.buffer:
            self._close()
        else:
            self.deadline = min(self.deadline, self.site.loop.time() + 10.0)

    def _close(self) -> None:
        self.closing = True
        if self.transport is not None:
            self.transport.close()

    def _abort(self) -> None:
        self.closing = True
        if self.transport is not None:
            self.transport.abort()

    # -- requests -----------------------------------------------------------------------

    def _process(self) -> None:
        while not self.closing and not self.busy and not self.paused:
            end = self.buffer.find(b"\r\n\r\n", 0, MAX_HEAD + 4)
            if end < 0:
                if len(self.buffer) > MAX_HEAD:
                    self._fail(431)
                return
            head = bytes(self.buffer[: end + 2])
            del self.buffer[: end + 4]
            self._request(head)
        if self.busy and self.transport is not None and not self.closing:
            self.transport.pause_reading()

    def _fail(self, status: int) -> None:
        """A request Cove can't read: answer, then close (what follows can't be trusted)."""
        self._send(
            status, [("Content-Type", "text/html; charset=utf-8")], _page(status), False, True
        )
        if self.site.log.enabled:
            self.site.log.add(f'- "-" {status} -')
        self._close()

    def _request(self, head: bytes) -> None:
        line_end = head.find(b"\r\n")
        parts = head[:line_end].split(b" ")
        if len(parts) != 3:
            return self._fail(400)
        method_b, target_b, version = parts
        if version not in (b"HTTP/1.1", b"HTTP/1.0"):
            return self._fail(505 if version.startswith(b"HTTP/") else 400)
        if len(target_b) > MAX_TARGET:
            return self._fail(414)
        block = head[line_end + 2 :]
        if not _HEADER_BLOCK.fullmatch(block) or not _TARGET.fullmatch(target_b):
            return self._fail(400)
        if block.count(b"\r\n") > MAX_HEADERS:
            return self._fail(431)
        headers: dict[bytes, str] = {}
        for raw in block.split(b"\r\n")[:-1]:
            name, _, value = raw.partition(b":")
            name = name.lower()
            if name in _WANTED:
                text = value.strip(b" \t").decode("latin-1")
                # Two Hosts, or two lengths that differ: a smuggling attempt.
                twice = name in headers and name in (b"host", b"content-length")
                if twice and (name == b"host" or headers[name] != text):
                    return self._fail(400)
                headers[name] = text
        length = headers.get(b"content-length", "0")
        if not length.isdigit():
            return self._fail(400)
        has_body = (length != "0" and int(length) > 0) or b"transfer-encoding" in headers
        connection = headers.get(b"connection", "").lower()
        keep_alive = (
            "close" not in connection if version == b"HTTP/1.1" else "keep-alive" in connection
        )
        close = has_body or not keep_alive or self.site.closing
        method = method_b.decode("latin-1")
        target = target_b.decode("latin-1")
        status, length_sent = self._answer(method, target, headers, close)
        if self.site.log.enabled:
            fwd = headers.get(b"x-forwarded-for", "-").split(",")[0].strip() or "-"
            self.site.log.add(
                f'{fwd} "{method} {target} {version.decode()}" {status} {length_sent}'
            )
        if (close or status == 400) and not self.busy:  # a 400: what follows can't be trusted
            self._close()
        elif not self.busy:
            self.deadline = self.site.loop.time() + (HEAD_TIMEOUT if self.buffer else IDLE_TIMEOUT)
        return None

    def _answer(
        self, method: str, target: str, headers: dict[bytes, str], close: bool
    ) -> tuple[int, int]:
        """Send the answer; returns its status and body length (for the access log)."""
        cfg = self.site.config
        raw_path, _, query = target.partition("?")
        path = normalize(raw_path)
        if path is None:
            return self._simple(400, method, [], True)
        extra = list(cfg.headers_for(path))
        host = headers.get(b"host", "")
        if host and not _HOST.fullmatch(host):
            return self._simple(400, method, [], True)
        proto = headers.get(b"x-forwarded-proto", "http").split(",")[0].strip().lower()
        if cfg.https_only and proto != "https":
            if not host:
                return self._simple(400, method, extra, True)
            return self._redirect(301, f"https://{host}{target}", method, extra, close)
        if cfg.canonical_host is not None and host:
            bare = host if host.startswith("[") else host.split(":")[0]
            if cfg.canonical_host.lower() not in (host.lower(), bare.lower()):
                scheme = "https" if proto == "https" else "http"
                url = f"{scheme}://{cfg.canonical_host}{target}"
                return self._redirect(301, url, method, extra, close)
        if method not in ("GET", "HEAD"):
            return self._simple(405, method, [*extra, ("Allow", "GET, HEAD")], close)
        decision = self.site.router.resolve(path, "?" + query if query else "")
        if decision.location:
            return self._redirect(decision.status, decision.location, method, extra, close)
        if decision.entry is None:
            return self._simple(decision.status, method, extra, close)
        return self._file(decision, method, headers, extra, close)

    def _file(
        self,
        decision: Decision,
        method: str,
        headers: dict[bytes, str],
        extra: list[tuple[str, str]],
        close: bool,
    ) -> tuple[int, int]:
        entry = decision.entry
        assert entry is not None
        files = self.site.files
        extra_key = tuple(extra)
        gzipped = entry.compressible and accepts_gzip(headers.get(b"accept-encoding", ""))
        body = files.gzip_body(entry) if gzipped else None
        gzipped = body is not None
        etag = entry.etag[:-1] + '-gzip"' if gzipped else entry.etag
        fields = [
            ("Last-Modified", entry.last_modified),
            ("ETag", etag),
            ("Cache-Control", entry.cache_control),
        ]
        if entry.compressible:
            fields.append(("Vary", "Accept-Encoding"))
        fields = _merge(fields, extra)
        status = decision.status
        if status == 200:
            inm = headers.get(b"if-none-match")
            ims = headers.get(b"if-modified-since")
            if (inm is not None and etag_matches(inm, etag, entry.etag)) or (
                inm is None and ims is not None and not_modified_since(ims, entry.mtime)
            ):
                self._send(304, fields, b"", True, close)
                return 304, 0
        if not gzipped:
            body = files.body(entry)
        if body is not None and status == 200:
            # The same file, encoding and rules give the same header lines: made once.
            key = (gzipped, extra_key)
            block = entry.headers.get(key)
            if block is None:
                lines = [("Content-Type", entry.content_type), *fields]
                if gzipped:
                    lines.append(("Content-Encoding", "gzip"))
                lines.append(("Content-Length", str(len(body))))
                block = "".join(f"{k}: {v}\r\n" for k, v in lines).encode("latin-1", "replace")
                entry.headers[key] = block
            self._send_block(block, body, method == "HEAD", close)
            return status, len(body)
        head_fields = [("Content-Type", entry.content_type), *fields]
        if gzipped:
            head_fields.append(("Content-Encoding", "gzip"))
        if body is not None:
            self._send(status, head_fields, body, method == "HEAD", close)
            return status, len(body)
        # A large file: its length is the stat's, and the bytes come from disk.
        self._send(status, head_fields, b"", True, close, length=entry.size)
        if method != "HEAD":
            self.busy = True
            self.sending = asyncio.ensure_future(self._send_file(entry, close))
        return status, entry.size

    async def _send_file(self, entry: Entry, close: bool) -> None:
        try:
            with open(entry.path, "rb") as f:
                remaining = entry.size
                while remaining > 0 and not self.closing:
                    chunk = f.read(min(CHUNK, remaining))
                    if not chunk:  # the file shrank: the promised length can't be met
                        self._abort()
                        return
                    assert self.transport is not None
                    self.transport.write(chunk)
                    remaining -= len(chunk)
                    if self.paused:
                        self.drained = self.site.loop.create_future()
                        await self.drained
        except OSError:
            self._abort()
            return
        finally:
            self.busy = False
        if close or self.closing:
            self._close()
            return
        self.deadline = self.site.loop.time() + (HEAD_TIMEOUT if self.buffer else IDLE_TIMEOUT)
        if self.transport is not None and not self.paused:
            self.transport.resume_reading()
            self._process()

    def _send_block(self, block: bytes, body: bytes, head_only: bool, close: bool) -> None:
        """A 200 whose header lines (``block``, Content-Length included) were made before."""
        if self.transport is None or self.transport.is_closing():
            return
        head = b"HTTP/1.1 200 OK\r\nDate: " + self.site.date_bytes() + b"\r\n" + block
        head += b"Connection: close\r\n\r\n" if close else b"\r\n"
        if head_only:
            self.transport.write(head)
        elif len(body) < 65536:
            self.transport.write(head + body)  # one send
        else:
            self.transport.write(head)  # no copy of a large body
            self.transport.write(body)

    def _redirect(
        self, status: int, location: str, method: str, extra: list[tuple[str, str]], close: bool
    ) -> tuple[int, int]:
        fields = _merge([("Location", location)], extra)
        self._send(status, fields, b"", method == "HEAD", close)
        return status, 0

    def _simple(
        self, status: int, method: str, extra: list[tuple[str, str]], close: bool
    ) -> tuple[int, int]:
        body = _page(status)
        fields = _merge([("Content-Type", "text/html; charset=utf-8")], extra)
        self._send(status, fields, body, method == "HEAD", close)
        return status, len(body)

    def _send(
        self,
        status: int,
        fields: list[tuple[str, str]],
        body: bytes,
        head_only: bool,
        close: bool,
        length: int | None = None,
    ) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        lines = [f"HTTP/1.1 {status} {REASONS[status]}", f"Date: {self.site.date()}"]
        lines.extend(f"{name}: {value}" for name, value in fields)
        if status != 304:
            lines.append(f"Content-Length: {len(body) if length is None else length}")
        if close:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace")
        if head_only or not body:
            self.transport.write(head)
        elif len(body) < 65536:
            self.transport.write(head + body)  # one send
        else:
            self.transport.write(head)  # no copy of a large body
            self.transport.write(body)


def _merge(fields: list[tuple[str, str]], extra: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """static.json's headers replace the server's of the same name."""
    if not extra:
        return fields
    names = {name.lower() for name, _ in extra}
    return [f for f in fields if f[0].lower() not in names] + extra
