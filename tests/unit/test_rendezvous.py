"""The rendezvous listener (``cove run``'s attach point) in-process, with real sockets and
real processes behind real pipes and PTYs: the secret line and its deadline, the greeting,
the exit marker, EOT, the connection caps, both directions' bounds; and the single-use,
expiring secrets of ``OneOffDynos``."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import ssl
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
import uvloop

from cove import rendezvous, tls
from cove.dynos.backend import Attach, DynoSpec
from cove.dynos.one_off_dynos import OneOffDynos, RunRequest
from cove.dynos.terminal import LocalTerminal, close_child_ends, open_terminal
from cove.limits import Caps
from cove.logs import LogFilter, LogRouter, ProcessOutput
from cove.rendezvous import GREETING, RendezvousListener, Session, exit_marker
from cove.services import accounts, apps
from cove.settings import Settings
from cove.store import Account, Dyno, Release, Slug, Store

T = TypeVar("T")
SECRET = "s3cr3t-" + "x" * 36
MARKER = "\uffff heroku-command-exit-status: %d\r\n"


@pytest.fixture(params=["asyncio", "uvloop"])
def run(request: pytest.FixtureRequest) -> Callable[[Callable[[], Awaitable[T]]], T]:
    """Run a scenario on asyncio's loop and on uvloop's (the server's, where installed)."""
    factory = uvloop.new_event_loop if request.param == "uvloop" else asyncio.new_event_loop

    def runner(scenario: Callable[[], Awaitable[T]]) -> T:
        with asyncio.Runner(loop_factory=factory) as r:
            return r.run(asyncio.wait_for(scenario(), 60))  # type: ignore[arg-type]

    return runner


# -- a process behind a terminal ------------------------------------------------------------
class LocalProcess:
    """A dyno handle for a plain local process (the listener's side of the protocol only
    needs the terminal and the exit status)."""

    def __init__(self, proc: asyncio.subprocess.Process, terminal: LocalTerminal) -> None:
        self.proc = proc
        self.terminal = terminal

    async def wait_exit(self) -> int:
        status = await self.proc.wait()
        return status if status >= 0 else 128 - status

    def has_exited(self) -> bool:
        return self.proc.returncode is not None

    def signal(self, sig: int) -> None:
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)

    def terminate(self) -> None:
        self.signal(signal.SIGTERM)

    def kill(self) -> None:
        self.signal(signal.SIGKILL)

    def hangup(self) -> None:
        self.signal(signal.SIGHUP)

    def memory_usage(self) -> int | None:
        return None


STARTED: list[LocalProcess] = []


@pytest.fixture(autouse=True)
def no_process_left() -> Iterator[None]:
    """Whatever a test started is gone after it (even if the test failed midway)."""
    yield
    for process in STARTED:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.proc.pid, signal.SIGKILL)
    STARTED.clear()


async def start_process(
    command: str, attach: Attach, env: dict[str, str] | None = None
) -> LocalProcess:
    terminal, child_in, child_out = open_terminal(attach, None)
    try:
        proc = await asyncio.create_subprocess_exec(
            "/bin/sh",
            "-c",
            command,
            stdin=child_in,
            stdout=child_out,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
            env=env,
        )
    finally:
        close_child_ends(child_in, child_out)
    STARTED.append(LocalProcess(proc, terminal))
    return STARTED[-1]


@dataclass
class FakeAttachment:
    """What ``claim`` gives the listener: here, a local process started on attach."""

    command: str
    tty: bool = False
    name: str = "run.1234"
    process: LocalProcess | None = None
    stops: int = 0
    started: asyncio.Event = field(default_factory=asyncio.Event)

    async def start(self) -> Any:
        self.process = await start_process(self.command, Attach(self.tty))
        self.started.set()
        return self.process

    def stop(self) -> None:
        self.stops += 1
        if self.process is not None:
            self.process.kill()


@dataclass
class Claims:
    """A claim function: the one secret, for one attachment, once."""

    attachment: FakeAttachment | None
    asked: list[str] = field(default_factory=list)

    def __call__(self, secret: str) -> Any:
        self.asked.append(secret)
        found = self.attachment if secret == SECRET else None
        self.attachment = None if found else self.attachment
        return found


class Listening:
    def __init__(self, listener: RendezvousListener) -> None:
        self.listener = listener

    async def connect(self, context: ssl.SSLContext | None = None) -> Client:
        reader, writer = await asyncio.open_connection(
            "127.0.0.1",
            self.listener.port,
            ssl=context,
            server_hostname="localhost" if context else None,
        )
        return Client(reader, writer)

    def session(self) -> Session:
        (session,) = self.listener.sessions
        return session


@contextlib.asynccontextmanager
async def listening(
    claim: Callable[[str], Any], caps: Caps | None = None, tls_context: ssl.SSLContext | None = None
) -> Any:
    listener = RendezvousListener(claim, caps or Caps(16, 4), tls_context)
    await listener.start("127.0.0.1", 0)
    try:
        yield Listening(listener)
    finally:
        await listener.close()


class Client:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def read_all(self) -> bytes:
        """Everything until the server closes (b"" also for a reset: nothing came)."""
        data = bytearray()
        try:
            while chunk := await self.reader.read(65536):
                data += chunk
        except (ConnectionResetError, ssl.SSLError):
            pass
        return bytes(data)

    def close(self) -> None:
        self.writer.close()


async def eventually(condition: Callable[[], object], what: str, timeout: float = 20) -> None:
    """Wait for a condition the loop's own callbacks make true (no fixed sleeps)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


# -- the exit marker -------------------------------------------------------------------------
def test_the_exit_marker_is_on_a_line_of_its_own() -> None:
    assert exit_marker(0, b"\n") == b"\xef\xbf\xbf heroku-command-exit-status: 0\r\n"
    assert exit_marker(7, b"x") == b"\r\n\xef\xbf\xbf heroku-command-exit-status: 7\r\n"
    assert exit_marker(130, b"\r") == b"\r\n" + (MARKER % 130).encode()
    assert exit_marker(255, b"") == b"\r\n" + (MARKER % 255).encode()


# -- the secret -------------------------------------------------------------------------------
def test_the_right_secret_gets_the_greeting_then_the_output_and_the_marker(run: Any) -> None:
    async def scenario() -> None:
        attachment = FakeAttachment("printf no-newline; exit 3")
        claims = Claims(attachment)
        async with listening(claims) as server:
            client = await server.connect()
            await client.send(SECRET.encode() + b"\r\n")
            data = await client.read_all()
        assert data == GREETING + b"no-newline\r\n" + (MARKER % 3).encode()
        assert claims.asked == [SECRET]  # the line without its CRLF
        assert attachment.stops == 0

    run(scenario)


@pytest.mark.parametrize(
    "sent",
    [
        b"wrong\r\n",
        SECRET.encode()[:-1] + b"\n",
        b"\xff\xfe\r\n",  # not even text
        b"\r\n",
        b"x" * (rendezvous.SECRET_MAX + 10),  # too long for a secret: refused at once
    ],
)
def test_a_wrong_secret_is_closed_without_a_greeting(run: Any, sent: bytes) -> None:
    async def scenario() -> None:
        attachment = FakeAttachment("echo never")
        claims = Claims(attachment)
        async with listening(claims) as server:
            client = await server.connect()
            await client.send(sent)
            assert await client.read_all() == b""
            await eventually(lambda: not server.listener.sessions, "the session to end")
        assert not attachment.started.is_set()
        assert SECRET not in claims.asked

    run(scenario)


def test_a_used_secret_gets_nothing_the_second_time(run: Any) -> None:
    async def scenario() -> None:
        claims = Claims(FakeAttachment("true"))
        async with listening(claims) as server:
            first = await server.connect()
            await first.send(SECRET.encode() + b"\r\n")
            assert await first.read_all() == GREETING + (MARKER % 0).encode()
            second = await server.connect()
            await second.send(SECRET.encode() + b"\r\n")
            assert await second.read_all() == b""
        assert claims.asked == [SECRET, SECRET]

    run(scenario)


def test_a_bare_secret_is_taken_once_the_client_waits(run: Any) -> None:
    """heroku3 sends the secret with no line end: it is whole when the client pauses."""

    async def scenario() -> None:
        claims = Claims(FakeAttachment("echo ok"))
        async with listening(claims) as server:
            client = await server.connect()
            await client.send(SECRET.encode())
            assert await client.read_all() == GREETING + b"ok\n" + (MARKER % 0).encode()
        assert claims.asked == [SECRET]

    run(scenario)


@pytest.mark.parametrize("send", [b"", SECRET.encode()[:10]])
def test_no_secret_line_in_time_closes_the_connection(
    run: Any, monkeypatch: pytest.MonkeyPatch, send: bytes
) -> None:
    monkeypatch.setattr(rendezvous, "SECRET_DEADLINE", 0.3)
    monkeypatch.setattr(rendezvous, "SECRET_PAUSE", 60.0)  # (a partial line stays partial)

    async def scenario() -> None:
        claims = Claims(FakeAttachment("echo never"))
        async with listening(claims, caps=Caps(16, 1)) as server:
            client = await server.connect()
            if send:
                await client.send(send)
            assert await client.read_all() == b""
            # Its place under the per-address cap is given back.
            await eventually(lambda: server.listener.conns.count == 0, "the slot back")
        assert claims.asked == []

    run(scenario)


def test_a_tls_handshake_counts_into_the_secret_deadline(
    run: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(rendezvous, "SECRET_DEADLINE", 0.3)
    context = server_tls(tmp_path)

    async def scenario() -> None:
        claims = Claims(FakeAttachment("echo never"))
        async with listening(claims, tls_context=context) as server:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.listener.port)
            assert await Client(reader, writer).read_all() == b""  # (never said hello)
            await eventually(lambda: server.listener.conns.count == 0, "the slot back")
        assert claims.asked == []

    run(scenario)


def server_tls(tmp_path: Path) -> ssl.SSLContext:
    files = tls.TlsFiles(tmp_path / "tls")
    tls.ensure_server_cert(files, tls.server_names("127.0.0.1", "localhost", []))
    return tls.ServerTls(files, "localhost").context


def test_over_tls_the_stream_ends_with_the_marker_and_close_notify(
    run: Any, tmp_path: Path
) -> None:
    context = server_tls(tmp_path)
    client_context = ssl.create_default_context(cafile=tls.TlsFiles(tmp_path / "tls").ca_cert)

    async def scenario() -> None:
        claims = Claims(FakeAttachment("cat; echo eof-seen"))
        async with listening(claims, tls_context=context) as server:
            client = await server.connect(client_context)
            await client.send(SECRET.encode() + b"\r\n")
            assert await client.reader.readexactly(len(GREETING)) == GREETING
            await client.send(b"in\n\x04")
            # read() returns b"" only on the server's close_notify (a TCP close without
            # it is an SSL error: read_all would give what came, and the assert below
            # that its end is the marker still holds, so check the error separately).
            data = b""
            while chunk := await client.reader.read(65536):
                data += chunk
        assert data == b"in\neof-seen\n" + (MARKER % 0).encode()

    run(scenario)


def test_connections_over_the_per_address_cap_are_refused(run: Any) -> None:
    async def scenario() -> None:
        claims = Claims(FakeAttachment("echo never"))
        async with listening(claims, caps=Caps(16, 2)) as server:
            held = [await server.connect() for _ in range(2)]
            await eventually(lambda: server.listener.conns.count == 2, "two admitted")
            refused = await server.connect()
            assert await refused.read_all() == b""
            assert server.listener.conns.count == 2
            held[0].close()
            await eventually(lambda: server.listener.conns.count == 1, "one gone")
            admitted = await server.connect()
            await admitted.send(SECRET.encode() + b"\r\n")
            assert (await admitted.read_all()).startswith(GREETING)

    run(scenario)


# -- the stream --------------------------------------------------------------------------------
def test_pipes_end_stdin_at_eot_and_drop_what_follows(run: Any) -> None:
    async def scenario() -> None:
        claims = Claims(FakeAttachment("cat; echo cat-done"))
        async with listening(claims) as server:
            client = await server.connect()
            # Input sent with the secret waits for the process.
            await client.send(SECRET.encode() + b"\r\nfirst\n")
            await client.send(b"second\n\x04after eot\n")
            data = await client.read_all()
        assert data == GREETING + b"first\nsecond\ncat-done\n" + (MARKER % 0).encode()

    run(scenario)


def test_a_tty_passes_control_characters_to_the_terminal(run: Any) -> None:
    """^C on a PTY is the terminal's interrupt: the foreground program gets SIGINT."""

    async def scenario() -> None:
        command = "trap 'echo got-int; exit 9' INT; echo ready; while :; do sleep 0.05; done"
        claims = Claims(FakeAttachment(f"setsid --ctty --wait sh -c {_quote(command)}", tty=True))
        async with listening(claims) as server:
            client = await server.connect()
            await client.send(SECRET.encode() + b"\r\n")
            seen = await client.reader.readuntil(b"ready\r\n")
            assert seen == GREETING + b"ready\r\n"
            await client.send(b"\x03")
            data = await client.read_all()
        assert data.endswith(b"got-int\r\n" + (MARKER % 9).encode())

    run(scenario)


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


@pytest.mark.parametrize("tty", [False, True])
def test_a_client_that_goes_away_stops_the_dyno(run: Any, tty: bool) -> None:
    async def scenario() -> None:
        attachment = FakeAttachment("echo up; sleep 300", tty=tty)
        async with listening(Claims(attachment)) as server:
            client = await server.connect()
            await client.send(SECRET.encode() + b"\r\n")
            await client.reader.readuntil(b"up")
            client.close()
            await eventually(lambda: attachment.stops == 1, "the dyno stopped")
            assert attachment.process is not None
            assert await attachment.process.wait_exit() == 128 + signal.SIGKILL
            await eventually(lambda: not server.listener.sessions, "the session gone")

    run(scenario)


def test_a_client_that_does_not_read_pauses_the_output(run: Any) -> None:
    """The dyno's output is read only as fast as the client takes it: unsent output stays
    under the high-water mark (plus one read), and all of it arrives in the end."""
    total = 24 * 1024 * 1024  # (more than loopback's socket buffers hold)

    async def scenario() -> None:
        claims = Claims(FakeAttachment(f"head -c {total} /dev/zero"))
        async with listening(claims) as server:
            client = await server.connect()
            await client.send(SECRET.encode() + b"\r\n")
            await eventually(lambda: server.session().output_paused, "the output paused")
            session = server.session()
            assert session.transport is not None
            buffered = session.transport.get_write_buffer_size()
            assert buffered <= rendezvous.OUTPUT_HIGH_WATER + rendezvous.READ_CHUNK
            data = await client.read_all()
        assert data == GREETING + b"\0" * total + b"\r\n" + (MARKER % 0).encode()

    run(scenario)


@pytest.mark.parametrize("sent", [4 * 1024 * 1024, 192 * 1024])
def test_input_the_dyno_does_not_take_is_bounded(
    run: Any, monkeypatch: pytest.MonkeyPatch, sent: int
) -> None:
    """Reading the client stops while the dyno is behind; a client that goes away then
    (its FIN behind the unread input) still takes the dyno down."""
    monkeypatch.setattr(rendezvous, "PEER_CHECK", 0.05)

    async def scenario() -> None:
        attachment = FakeAttachment("sleep 300")  # (never reads its stdin)
        async with listening(Claims(attachment)) as server:
            client = await server.connect()
            await client.send(SECRET.encode() + b"\r\n")
            assert await client.reader.readexactly(len(GREETING)) == GREETING
            client.writer.write(b"y" * sent)  # (not drained: it can't be)
            await eventually(lambda: server.session().client_paused, "reading paused")
            held = len(server.session().stdin)
            assert held <= rendezvous.INPUT_MAX + 256 * 1024  # (+ one read of the client)
            if sent < 1024 * 1024:  # (all of it fits in the server's socket buffer)
                client.writer.transport.abort()  # (close() would wait for the unsent input)
                await eventually(lambda: attachment.stops == 1, "the dyno stopped")
                await eventually(lambda: not server.listener.sessions, "the session gone")

    run(scenario)


# -- OneOffDynos' secrets ----------------------------------------------------------------------
class LocalBackend:
    """Starts a one-off dyno as a plain local process (a test stand-in for the sandbox)."""

    def __init__(self) -> None:
        self.started: list[DynoSpec] = []

    async def start(
        self, spec: DynoSpec, output: ProcessOutput | None, on_system: Any = None
    ) -> LocalProcess:
        assert spec.attach is not None and output is None
        self.started.append(spec)
        env = {"PATH": os.environ["PATH"], **spec.config}
        return await start_process(spec.command, spec.attach, env)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = Store(f"sqlite:///{tmp_path / 'cove.db'}")
    store.migrate()
    accounts.ensure_admin(store)
    yield store


def deployed_app(store: Store) -> str:
    with store.session() as s:
        owner = s.query(Account).one().id
    app = apps.create(store, owner, "runs")
    with store.session() as s:
        slug = Slug(app_id=app.id, checksum="SHA256:0", size=0, stack="cove-24")
        s.add(slug)
        s.flush()
        s.add(
            Release(
                app_id=app.id,
                version=2,  # (v1: the app's creation)
                description="Deploy",
                status="succeeded",
                slug_id=slug.id,
                config={"MYVAR": "from-config"},
                user_id=owner,
            )
        )
    return app.id


def rows(store: Store) -> list[str]:
    with store.session() as s:
        return [d.name for d in s.query(Dyno)]


def test_one_off_secrets_are_single_use_and_expire(run: Any, store: Store, tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, run_attach_timeout=0.5)
    app_id = deployed_app(store)

    async def scenario() -> None:
        logs = LogRouter()
        logs.bind_loop(asyncio.get_running_loop())
        backend = LocalBackend()
        one_offs = OneOffDynos(settings, store, backend, logs)  # type: ignore[arg-type]
        request = RunRequest("echo $MYVAR $TERM", attach=True, tty=False, env={"TERM": "dumb"})
        created = await one_offs.create(app_id, request)
        assert created.secret is not None and len(created.secret) >= 43
        assert created.row.state == "starting" and rows(store) == [created.row.name]
        assert backend.started == []  # nothing runs before the client is there
        async with listening(one_offs.claim) as server:
            assert one_offs.claim("x" * len(created.secret)) is None
            client = await server.connect()
            await client.send(created.secret.encode() + b"\r\n")
            data = await client.read_all()
            assert data == GREETING + b"from-config dumb\n" + (MARKER % 0).encode()
            assert one_offs.claim(created.secret) is None  # used
            await eventually(lambda: rows(store) == [], "the row gone")

            # One nobody attaches to expires: its secret finds nothing, its row goes.
            waiting = await one_offs.create(app_id, request)
            assert waiting.secret is not None
            await eventually(lambda: rows(store) == [], "the secret to expire", timeout=30)
            assert one_offs.claim(waiting.secret) is None
            late = await server.connect()
            await late.send(waiting.secret.encode() + b"\r\n")
            assert await late.read_all() == b""
        name = waiting.row.name
        logged = logs.recent(app_id, 100, LogFilter())
        assert any(
            line.endswith(
                f" heroku[{name}]: Error R13 (Attach error) -> Failed to attach to process"
            )
            for line in logged
        ), logged
        assert len(backend.started) == 1
        await one_offs.close()

    run(scenario)


def test_a_one_off_stopped_before_its_client_came_never_starts(
    run: Any, store: Store, tmp_path: Path
) -> None:
    settings = Settings(home=tmp_path)
    app_id = deployed_app(store)

    async def scenario() -> None:
        logs = LogRouter()
        logs.bind_loop(asyncio.get_running_loop())
        backend = LocalBackend()
        one_offs = OneOffDynos(settings, store, backend, logs)  # type: ignore[arg-type]
        created = await one_offs.create(app_id, RunRequest("true", attach=True))
        assert created.secret is not None
        await one_offs.close()  # (the server stopping)
        assert rows(store) == [] and one_offs.claim(created.secret) is None
        assert backend.started == []

    run(scenario)
