"""Test receivers for log drains, on 127.0.0.1 at ports picked at run time, each served by
threads of the test process: a syslog server (TCP, or TLS with a given certificate) that
reads RFC 6587 octet-counted frames, an HTTP(S) endpoint that records Logplex's POSTs, and
a stalled one that accepts connections and never reads from them."""

from __future__ import annotations

import base64
import re
import socket
import ssl
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Self

# <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [SD] MSG (SD only on syslog drains)
SYSLOG = re.compile(r"<(\d+)>1 (\S+) (\S+) (\S+) (\S+) - - (.*)\n", re.DOTALL)
LOGPLEX_1 = re.compile(r"<(\d+)>1 (\S+) (\S+) (\S+) (\S+) - (.*)\n", re.DOTALL)
MAX_FRAME = 64 * 1024
READ_TIMEOUT = 120.0


@dataclass(frozen=True)
class Message:
    pri: int
    time: str
    host: str  # the drain's token on syslog drains, "host" on HTTP drains
    source: str
    dyno: str
    text: str


def parse(message: bytes, pattern: re.Pattern[str] = SYSLOG) -> Message:
    m = pattern.fullmatch(message.decode())
    if m is None:
        raise AssertionError(f"not an RFC 5424 message as Logplex sends it: {message!r}")
    pri, time, host, source, dyno, text = m.groups()
    return Message(int(pri), time, host, source, dyno, text)


def read_frames(data: bytes) -> tuple[list[bytes], bytes]:
    """Complete octet-counted frames at the start of ``data``, and what is left over."""
    frames: list[bytes] = []
    while True:
        length, space, rest = data.partition(b" ")
        if not space:
            if length and (not length.isdigit() or len(length) > 6):
                raise AssertionError(f"bad frame length {length[:20]!r}")
            return frames, data
        if not length.isdigit() or int(length) > MAX_FRAME:
            raise AssertionError(f"bad frame length {length[:20]!r}")
        if len(rest) < int(length):
            return frames, data
        frames.append(rest[: int(length)])
        data = rest[int(length) :]


def server_tls(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


class _Receiver:
    """What every receiver shares: a listening socket and its accepting thread."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.sock.getsockname()[1]
        self.lock = threading.Lock()
        self.changed = threading.Condition(self.lock)
        self.closed = 0  # connections the sender ended

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self.sock.close()


class SyslogReceiver(_Receiver):
    """Collects the messages of octet-counted syslog streams (TLS if ``tls`` is given)."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        super().__init__()
        self.tls = tls
        self.messages: list[Message] = []
        self.raw: list[bytes] = []
        self.connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        # TLS names the host as the certificate does; plain TCP uses the address.
        return (
            f"syslog+tls://localhost:{self.port}" if self.tls else f"syslog://127.0.0.1:{self.port}"
        )

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(READ_TIMEOUT)
        try:
            if self.tls is not None:
                conn = self.tls.wrap_socket(conn, server_side=True)
            with self.changed:
                self.connections += 1
                self.changed.notify_all()
            data = b""
            while chunk := conn.recv(65536):
                frames, data = read_frames(data + chunk)
                if frames:
                    with self.changed:
                        self.raw.extend(frames)
                        self.messages.extend(parse(f) for f in frames)
                        self.changed.notify_all()
        except (OSError, ssl.SSLError):
            pass
        finally:
            conn.close()
            with self.changed:
                self.closed += 1
                self.changed.notify_all()

    def texts(self) -> list[str]:
        with self.lock:
            return [m.text for m in self.messages]

    def count(self) -> int:
        with self.lock:
            return len(self.messages)


@dataclass(frozen=True)
class Post:
    headers: dict[str, str]
    body: bytes
    messages: list[Message]


class HttpReceiver(_Receiver):
    """Records the POSTs of an HTTP(S) drain and answers 200 (or ``status``)."""

    def __init__(self, tls: ssl.SSLContext | None = None, status: int = 200) -> None:
        super().__init__()
        self.sock.close()  # the HTTP server makes its own socket
        self.posts: list[Post] = []
        self.status = status
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            timeout = READ_TIMEOUT

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                frames, rest = read_frames(body)
                assert not rest, rest
                post = Post(
                    {k.lower(): v for k, v in self.headers.items()},
                    body,
                    [parse(f, LOGPLEX_1) for f in frames],
                )
                with receiver.changed:
                    receiver.posts.append(post)
                    receiver.changed.notify_all()
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.http.daemon_threads = True
        self.port = self.http.server_address[1]
        if tls is not None:
            self.http.socket = tls.wrap_socket(self.http.socket, server_side=True)
        self.tls = tls
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    def url(self, userinfo: str = "", path: str = "/logs") -> str:
        scheme, host = ("https", "localhost") if self.tls else ("http", "127.0.0.1")
        at = f"{userinfo}@" if userinfo else ""
        return f"{scheme}://{at}{host}:{self.port}{path}"

    def texts(self) -> list[str]:
        with self.lock:
            return [m.text for p in self.posts for m in p.messages]

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()


def basic_auth(header: str) -> str:
    """``user:password`` from a Basic Authorization header."""
    scheme, _, encoded = header.partition(" ")
    assert scheme == "Basic", header
    return base64.b64decode(encoded).decode()


class StalledReceiver(_Receiver):
    """Accepts connections and never reads from them (a receiver that hangs, a black hole
    behind a firewall that completes the handshake). Its receive buffer is small, so a
    sender's writes back up soon."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.lock = threading.Lock()
        self.changed = threading.Condition(self.lock)
        self.closed = 0
        self.held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with self.changed:
                self.held.append(conn)
                self.changed.notify_all()

    def connections(self) -> int:
        with self.lock:
            return len(self.held)

    def close(self) -> None:
        super().close()
        with self.lock:
            for conn in self.held:
                conn.close()


def refused_port() -> int:
    """A port nothing listens on (bound, then closed: connections are refused)."""
    with socket.create_server(("127.0.0.1", 0)) as sock:
        return int(sock.getsockname()[1])
