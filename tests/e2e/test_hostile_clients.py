"""Hostile clients against a real `cove server`: slow heads (slowloris) on the router and
on the API, floods over the open files limit, and requests that break HTTP's limits.

The server runs under a low open files limit (soft 512, hard 1024, as `prlimit` sets it)
and a short header timeout. Floods come from other loopback addresses (127.0.0.2 and up)
than the normal clients (127.0.0.1), as they would from other hosts.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import select
import socket
import ssl
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cove.limits import REPORT_EVERY, Budget, raise_open_files_limit
from tests.e2e.harness import CoveServer, User, running_server, wait_for
from tests.e2e.test_router_proxy import e2e, router_env

pytestmark = pytest.mark.e2e

HEADER_TIMEOUT = 4.0
OPEN_FILES = 1024  # the server's hard limit; it starts with half of it as its soft limit
CAPS = Budget.for_limit(OPEN_FILES)  # what the server sizes its caps to
APP = "steady"


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[CoveServer, User]]:
    raise_open_files_limit()  # this process holds the floods' client sockets
    root = tmp_path_factory.mktemp("hostile")
    command = ["prlimit", f"--nofile={OPEN_FILES // 2}:{OPEN_FILES}"]
    command += [sys.executable, "-m", "cove.server"]
    timeouts = str(HEADER_TIMEOUT)
    with running_server(
        root,
        command=command,
        COVE_ROUTER_HEADER_TIMEOUT=timeouts,
        COVE_API_HEADER_TIMEOUT=timeouts,
    ) as server:
        dev = User.logged_in(root / "home", server)
        repo = dev.new_repo("crashy")  # standard library only: the quickest deploy
        dev.cove("apps:create", APP, cwd=repo)
        dev.push(repo)
        yield server, dev


# The start of a TLS ClientHello (a record of 200 bytes, 6 of them sent): a TLS slowloris.
TLS_STALL = b"\x16\x03\x01\x00\xc8\x01"


class SlowClients:
    """Connections from ``source`` that send the start of a request head and then trickle
    a header line now and then, never finishing the head (with ``tls``: the start of a TLS
    handshake, and nothing more)."""

    def __init__(
        self, port: int, source: str, n: int, host: str = "slow.localhost", tls: bool = False
    ) -> None:
        self.tls = tls
        self.open: dict[int, socket.socket] = {}
        self.resets = 0  # closed by the server with a reset: refused at once
        self.fins = 0  # closed by the server with a FIN: timed out
        self.last_trickle = time.monotonic()
        self.poll = select.poll()
        connecting = select.poll()
        pending: dict[int, socket.socket] = {}
        for _ in range(n):
            s = socket.socket()
            s.bind((source, 0))
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", port))
            pending[s.fileno()] = s
            connecting.register(s, select.POLLOUT)
        first = TLS_STALL if tls else f"GET / HTTP/1.1\r\nHost: {host}\r\n".encode()
        deadline = time.monotonic() + 30
        while pending and time.monotonic() < deadline:
            for fd, _ in connecting.poll(100):  # connected (the kernel's backlog takes it)
                connecting.unregister(fd)
                s = pending.pop(fd)
                try:
                    s.send(first)
                except OSError:
                    self.resets += 1  # refused before we got to send anything
                    s.close()
                    continue
                self.open[fd] = s
                self.poll.register(s, select.POLLIN | select.POLLERR | select.POLLHUP)
        assert not pending, f"{len(pending)} connections never completed"

    def refused_at_least(self, n: int) -> bool:
        self.check()
        return self.resets >= n

    def check(self) -> int:
        """Note the connections the server has closed; trickle on the others. Returns
        how many are still open.

        A reset (refused) and a FIN (timed out) tell the two closes apart, as long as no
        send consumes the reset's error first: closes are noted before trickling, and a
        send that meets a reset counts it.
        """
        for fd, _ in self.poll.poll(0):
            s = self.open.pop(fd)
            self.poll.unregister(fd)
            try:
                data = s.recv(4096)
            except ConnectionResetError:
                self.resets += 1
            else:
                assert data == b"", f"a slow client got an answer: {data[:60]!r}"
                self.fins += 1
            s.close()
        now = time.monotonic()
        if now - self.last_trickle >= 0.5 and not self.tls:
            self.last_trickle = now
            for fd, s in list(self.open.items()):
                try:
                    s.send(b"X-Slow: 1\r\n")
                except ConnectionResetError:
                    self.resets += 1
                    self.poll.unregister(fd)
                    del self.open[fd]
                    s.close()
        return len(self.open)

    def __repr__(self) -> str:
        return f"<{len(self.open)} open, {self.resets} refused, {self.fins} timed out>"

    def close(self) -> None:
        for s in self.open.values():
            s.close()
        self.open.clear()


def flood(port: int, sources: list[str], per_source: int, tls: bool = False) -> list[SlowClients]:
    return [SlowClients(port, source, per_source, tls=tls) for source in sources]


def still_open(floods: list[SlowClients]) -> int:
    return sum(f.check() for f in floods)


def refused(floods: list[SlowClients]) -> int:
    return sum(f.resets for f in floods)


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def account_answers(server: CoveServer) -> bool:
    response = server.api("GET", "/account")
    return response.status_code == 200 and response.json()["email"] == "admin@cove.local"


def app_answers(server: CoveServer) -> bool:
    response = server.get(APP)
    return response.status_code == 200 and response.text == "ok"


def server_lines(server: CoveServer, pattern: str) -> list[str]:
    return [line for line in server.log_path.read_text().splitlines() if re.search(pattern, line)]


# -- the open files limit and the connection caps ---------------------------------------------


def test_open_files_limit_is_raised_to_the_hard_limit_at_start(
    hostile: tuple[CoveServer, User],
) -> None:
    server, _ = hostile
    limits = Path(f"/proc/{server.info['pid']}/limits").read_text()
    found = re.search(r"Max open files\s+(\d+)\s+(\d+)", limits)
    assert found and (int(found[1]), int(found[2])) == (OPEN_FILES, OPEN_FILES)
    router, api = CAPS.router, CAPS.api
    assert server_lines(
        server,
        f"open files limit {OPEN_FILES}: router {router.total} connections "
        f"\\({router.per_address} per address\\), API {api.total} \\({api.per_address} per",
    )


def test_router_slowloris_from_one_address_leaves_everyone_else_served(
    hostile: tuple[CoveServer, User],
) -> None:
    server, dev = hostile
    n = CAPS.router.per_address + 200
    (slow,) = flood(port_of(server.router_url), ["127.0.0.2"], n)
    try:
        # Beyond its address's cap, the flood is refused at once...
        wait_for(
            lambda: slow.refused_at_least(n - CAPS.router.per_address),
            20,
            what="the flood's connections over the cap to be refused",
        )
        # ...so other clients still get their app's page, and the API answers.
        assert app_answers(server)
        assert account_answers(server)
        assert APP in dev.cove("apps").stdout
        # The connections it holds trickle bytes but never finish a head: closed at the
        # header timeout.
        wait_for(lambda: slow.check() == 0, HEADER_TIMEOUT + 20, what="the header timeout")
        assert slow.fins <= CAPS.router.per_address  # (no more than that were let in)
    finally:
        slow.close()
    # The refusals are reported, in a line per period rather than one per connection.
    pattern = r"router: refused new connections: .*e\.g\. 127\.0\.0\.2\)"
    reports = wait_for(lambda: server_lines(server, pattern), REPORT_EVERY + 10, what="a report")
    assert len(reports) <= 4, reports


def test_router_flood_over_the_open_files_limit_leaves_the_api_answering(
    hostile: tuple[CoveServer, User],
) -> None:
    server, dev = hostile
    # More connections than the server may open files (1024), from 20 addresses, each
    # under the per-address cap: only the router's total cap stops them.
    sources = [f"127.0.0.{i}" for i in range(10, 30)]
    floods = flood(port_of(server.router_url), sources, 60)
    try:
        wait_for(
            lambda: (
                still_open(floods) <= CAPS.router.total
                and refused(floods) >= len(sources) * 60 - CAPS.router.total
            ),
            20,
            what="the flood over the router's total cap to be refused",
        )
        # The router is full, but it has spent none of what the API needs.
        assert account_answers(server)
        assert APP in dev.cove("apps").stdout
        # Once the header timeout has closed the flood, the app answers again.
        wait_for(lambda: still_open(floods) == 0, HEADER_TIMEOUT + 20, what="the header timeout")
        assert sum(f.fins for f in floods) <= CAPS.router.total
        assert app_answers(server)
    finally:
        for f in floods:
            f.close()
    wait_for(
        lambda: server_lines(
            server, rf"router: refused new connections: .*over {CAPS.router.total} "
        ),
        REPORT_EVERY + 10,
        what="the refusals' report",
    )


def test_api_slowloris_leaves_the_operator_answered(hostile: tuple[CoveServer, User]) -> None:
    server, dev = hostile
    n = 600  # more than the server's soft limit before it raised it (512)
    (slow,) = flood(port_of(server.api_url), ["127.0.0.40"], n, tls=True)  # (a TLS listener)
    try:
        wait_for(
            lambda: slow.refused_at_least(n - CAPS.api.per_address),
            20,
            what="the API flood's connections over the cap to be refused",
        )
        assert account_answers(server)
        assert APP in dev.cove("apps").stdout
        wait_for(lambda: slow.check() == 0, HEADER_TIMEOUT + 20, what="the API's header timeout")
        assert slow.fins <= CAPS.api.per_address
    finally:
        slow.close()
    wait_for(
        lambda: server_lines(server, r"API: refused new connections: .*e\.g\. 127\.0\.0\.40"),
        REPORT_EVERY + 10,
        what="the refusals' report",
    )


def test_api_times_the_head_only_not_a_slow_body(hostile: tuple[CoveServer, User]) -> None:
    """What a long git push needs: once the head is in, the body may take its time."""
    server, _ = hostile
    body = json.dumps({"name": "slow-body"}).encode()
    head = (
        f"POST /apps HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {server.admin_token}"
        "\r\nAccept: application/vnd.heroku+json; version=3\r\nContent-Type: application/json"
        f"\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    with (
        socket.create_connection(("127.0.0.1", port_of(server.api_url)), timeout=30) as tcp,
        tls_client(server).wrap_socket(tcp, server_hostname="127.0.0.1") as s,
    ):
        s.sendall(head)
        started = time.monotonic()
        for i, byte in enumerate(body):  # the body over longer than the header timeout
            s.sendall(bytes([byte]))
            if i < len(body) - 1:
                time.sleep((HEADER_TIMEOUT * 1.5) / len(body))  # (the slow client's pace)
        assert time.monotonic() - started > HEADER_TIMEOUT
        status = read_response(s)[0]
    assert status == 201


def test_api_refuses_an_oversized_head_with_431(hostile: tuple[CoveServer, User]) -> None:
    server, _ = hostile
    data = (
        f"GET /account HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {server.admin_token}"
        f"\r\nX-Big: {'a' * 100_000}\r\n\r\n"
    ).encode()
    status, headers, body = send_raw(server, data, port=port_of(server.api_url), tls=True)
    assert status == 431 and headers["connection"] == "close"
    assert json.loads(body) == {"id": "bad_request", "message": "The request head is over 64 KB."}


def test_api_refuses_an_oversized_head_that_arrives_whole(tmp_path: Path) -> None:
    """A head past the limit that completes in the read that takes it there (one write on
    a fast connection; TLS records read together) is refused too, first on a connection or
    after another request: it never reaches the app."""
    with running_server(tmp_path, COVE_TLS="off") as server:

        def account(extra: str = "") -> bytes:
            return (
                f"GET /account HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                f"Authorization: Bearer {server.admin_token}\r\n{extra}\r\n"
            ).encode()

        big = account(f"X-Big: {'a' * 70_000}\r\n")
        for first in (None, account()):
            with socket.create_connection(("127.0.0.1", port_of(server.api_url)), 30) as s:
                if first is not None:
                    s.sendall(first)
                    assert read_response(s)[0] == 200
                s.sendall(big)
                status, headers, body = read_response(s)
                assert s.recv(1) == b""
            assert status == 431 and headers["connection"] == "close"
            assert json.loads(body)["id"] == "bad_request"


# -- requests that break HTTP or the head limits --------------------------------------------------


def read_response(s: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """One whole response (Content-Length framed), or an error if the connection breaks."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        assert chunk, f"connection closed before a response head: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = s.recv(65536)
        assert chunk, "connection closed in the middle of the response body"
        body += chunk
    return int(lines[0].split(" ")[1]), headers, body


def tls_client(server: CoveServer) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(server.ca_file))


def send_raw(
    server: CoveServer, data: bytes, piece: int = 1024, port: int = 0, tls: bool = False
) -> tuple[int, dict[str, str], bytes]:
    """Send ``data`` in pieces, as a client over a network would, then read the answer
    (from the router, or the listener on ``port``; with ``tls``, over TLS)."""
    port = port or port_of(server.router_url)
    with contextlib.ExitStack() as stack:
        s = stack.enter_context(socket.create_connection(("127.0.0.1", port), timeout=30))
        if tls:
            s = stack.enter_context(tls_client(server).wrap_socket(s, server_hostname="127.0.0.1"))
        for i in range(0, len(data), piece):
            s.sendall(data[i : i + piece])
        response = read_response(s)
        assert s.recv(1) == b""  # and the router closes the connection
        return response


def head(*lines: str) -> bytes:
    return ("\r\n".join(["GET / HTTP/1.1", f"Host: {APP}.localhost", *lines]) + "\r\n\r\n").encode()


CASES = {
    "a 64 KB header": (431, head("X-Big: " + "a" * 65536)),
    "10,000 headers": (431, head(*["X-Many: 1"] * 10_000)),
    "a bad chunk size": (
        400,
        head("Transfer-Encoding: chunked").replace(b"GET", b"POST", 1)
        + b"zz\r\nhello\r\n0\r\n\r\n",
    ),
    "an HTTP/0.9 request": (400, b"GET /\r\n"),
    "two Host headers": (400, head("Host: other.localhost")),
}


@pytest.mark.parametrize("case", list(CASES))
def test_malformed_request_is_answered_not_reset(
    hostile: tuple[CoveServer, User], case: str
) -> None:
    server, _ = hostile
    status, data = CASES[case]
    got, headers, body = send_raw(server, data)
    assert got == status
    assert headers["connection"] == "close"
    title = {400: b"Bad Request", 431: b"Request Header Fields Too Large"}[status]
    assert b"<h1>" + title + b"</h1>" in body
    assert app_answers(server)  # and the router carries on


def test_malformed_requests_are_logged_for_their_app(hostile: tuple[CoveServer, User]) -> None:
    server, dev = hostile
    send_raw(server, head("X-Marker: big", "X-Big: " + "b" * 65536).replace(b"/", b"/big", 1))
    chunked = head("Transfer-Encoding: chunked").replace(b"GET /", b"POST /chunk", 1)
    send_raw(server, chunked + b"zz\r\n")

    def lines() -> list[str]:
        out = dev.cove("logs", "-a", APP, "-d", "router", "-n", "200").stdout
        return [ln for ln in out.splitlines() if "code=H26" in ln]

    logged = wait_for(lambda: len(lines()) >= 2 and lines(), 30, what="H26 router lines")
    big = next(ln for ln in logged if 'path="/big"' in ln)
    assert 'at=error code=H26 desc="Request Error" cause="bad header" method=GET' in big
    assert f"host={APP}.localhost" in big and "status=431" in big and "dyno= " in big
    chunk = next(ln for ln in logged if 'path="/chunk"' in ln)
    assert 'cause="bad chunk" method=POST' in chunk and "status=400" in chunk


# -- the router alone, in this process (real sockets, a real upstream) ---------------------------


@e2e
async def test_a_head_started_after_a_response_has_the_header_timeout_not_the_idle_one() -> None:
    async with router_env(header_timeout=0.5, idle_timeout=60) as env:
        await env.app("alpha")
        c = await env.client()
        assert (await c.request("GET", "/", env.host("alpha"))).status == 200
        await asyncio.sleep(1.0)  # idle for longer than the header timeout: kept
        assert (await c.request("GET", "/", env.host("alpha"))).status == 200
        c.writer.write(f"GET / HTTP/1.1\r\nHost: {env.host('alpha')}\r\n".encode())

        async def trickle() -> None:
            while True:
                c.writer.write(b"X-Slow: 1\r\n")
                await asyncio.sleep(0.1)  # (the slow client's pace)

        task = asyncio.create_task(trickle())
        try:
            assert await c.closed_by_peer()  # at the header timeout, not the idle one
        finally:
            task.cancel()


@e2e
async def test_a_long_request_body_is_not_taken_for_the_next_head() -> None:
    """A keep-alive POST whose body (no newline in it) is longer than a header line may be
    read with its head: it must not count against the next request's head."""
    async with router_env() as env:
        await env.app("alpha")
        c = await env.client()
        body = b"x" * 20_000
        response = await c.request("POST", "/echo", env.host("alpha"), body=body)
        assert response.body.startswith(b"20000 ")
        assert (await c.request("GET", "/", env.host("alpha"))).status == 200
