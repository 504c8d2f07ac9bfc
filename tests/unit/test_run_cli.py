"""`cove run`'s pure logic (exit marker, CRLF, command joining, --env) and its rendezvous
client against a small in-test stand-in server (TLS with a Cove CA, or plain TCP)."""

from __future__ import annotations

import io
import itertools
import json
import random
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click
import httpx
import pytest

from cove import tls
from cove.cli.ps import ps_lines
from cove.cli.run import join_command, parse_env
from cove.client.rendezvous import (
    MARKER_PREFIX,
    Attachment,
    AttachUrl,
    CrlfToLf,
    ExitMarkerFilter,
    RendezvousError,
)
from cove.client.trust import client_context
from tests.unit.cli_env import FakeApi, cli_in_utc, created

MARKER = "\uffff heroku-command-exit-status: ".encode()


def marker(status: int) -> bytes:
    return MARKER + str(status).encode() + b"\r\n"


def run_filter(chunks: list[bytes]) -> tuple[bytes, int | None]:
    f = ExitMarkerFilter()
    out = b"".join(f.feed(c) for c in chunks) + f.flush()
    return out, f.status


def splits(data: bytes) -> Iterator[list[bytes]]:
    """Every way of cutting ``data`` in two, and in single bytes."""
    for i in range(len(data) + 1):
        yield [data[:i], data[i:]]
    yield [data[i : i + 1] for i in range(len(data))]


# -- the exit marker --------------------------------------------------------------------------


def test_marker_constant_is_herokus() -> None:
    assert MARKER_PREFIX == MARKER


@pytest.mark.parametrize(
    "stream, output, status",
    [
        (b"hello\r\n" + marker(7), b"hello\r\n", 7),
        (marker(0), b"", 0),
        (b"no newline\r\n" + MARKER + b"42\n", b"no newline\r\n", 42),
        (b"a\r\n" + MARKER + b"3", b"a\r\n", 3),  # at the end of the stream without its CRLF
        (b"done\n", b"done\n", None),
        # U+FFFF that isn't the marker, at a line start or in a line: output as it is.
        ("\uffff hello\n".encode(), "\uffff hello\n".encode(), None),
        (b"x" + marker(5), b"x" + marker(5), None),  # not at a line start
        (MARKER + b"\r\n", MARKER + b"\r\n", None),  # no digits
        (MARKER + b"12345678901\r\n", MARKER + b"12345678901\r\n", None),  # absurd status
        (MARKER + b"1x\r\n", MARKER + b"1x\r\n", None),
        (MARKER[:5], MARKER[:5], None),  # cut short at the end: output
        (b"\xef\xbc\x81\n", b"\xef\xbc\x81\n", None),  # another \xef... character (U+FF01)
    ],
)
def test_marker_filter_at_every_chunk_boundary(
    stream: bytes, output: bytes, status: int | None
) -> None:
    for chunks in splits(stream):
        assert run_filter(chunks) == (output, status), chunks


def test_marker_filter_never_delays_ordinary_output() -> None:
    f = ExitMarkerFilter()
    assert f.feed(b"prompt$ ") == b"prompt$ "  # no newline yet: still passed on at once
    assert f.feed(b"x\xef") == b"x\xef"  # U+FFFF's first byte mid-line: not held
    assert f.feed(b"\r\nline\r\n\xef\xbf") == b"\r\nline\r\n"  # held from U+FFFF on
    assert f.feed(b"\xbf heroku") == b""
    assert f.feed(b"-command") == b""
    assert f.feed(b"-exit-status: 1") == b""
    assert f.feed(b"3\r") == b""
    assert f.feed(b"\n") == b""
    assert f.status == 13


def test_marker_filter_passes_binary_output_through() -> None:
    rng = random.Random(12)
    data = bytes(rng.randrange(256) for _ in range(20000)) + b"\n\xef\xbf\xbf\n"
    for size in (1, 7, 4096):
        chunks = [data[i : i + size] for i in range(0, len(data), size)]
        assert run_filter([*chunks, b"\n", marker(2)]) == (data + b"\n", 2)


def test_crlf_rewritten_across_chunk_boundaries() -> None:
    data = b"a\r\nb\r\r\nc\rd\r"
    expected = b"a\nb\r\nc\rd\r"
    for chunks in splits(data):
        f = CrlfToLf()
        assert b"".join(f.feed(c) for c in chunks) + f.flush() == expected


# -- command line and --env ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, command",
    [
        (["bash"], "bash"),
        (["rake test"], "rake test"),  # one argument is the command line as it is
        (["python", "manage.py", "migrate"], "python manage.py migrate"),
        (["python", "-c", "print(1+1)"], 'python -c "print(1+1)"'),
        (["echo", "$HOME"], "echo $HOME"),  # expands in the dyno, as with heroku run
        (["echo", "a b", 'say "hi"'], 'echo "a b" "say \\"hi\\""'),
        (["echo", "it's"], 'echo "it\'s"'),
        (["printf", "a\\nb", ""], 'printf "a\\\\nb" ""'),
        (["ls", "*.py", "a;b", "#x"], 'ls *.py "a;b" "#x"'),
    ],
)
def test_join_command(args: list[str], command: str) -> None:
    assert join_command(args) == command


def test_join_command_round_trips_through_a_shell() -> None:
    import subprocess

    args = ["printf", "%s|", "a b", 'q"uote', "it's", "back\\slash", "(x)", "", "a;b"]
    out = subprocess.run(
        ["sh", "-c", join_command(args)], capture_output=True, text=True, check=True
    ).stdout
    assert out == "|".join(args[2:]) + "|"


def test_parse_env() -> None:
    assert parse_env(["A=1;B=two words;C=x=y;"]) == {"A": "1", "B": "two words", "C": "x=y"}
    assert parse_env(["A=1", " B =2"]) == {"A": "1", "B": "2"}
    assert parse_env([]) == {}


@pytest.mark.parametrize("value", ["A=1;s3cretvalue", "=x", "1A=x", "A-B=s3cretvalue"])
def test_parse_env_refuses_bad_entries_without_echoing_them(value: str) -> None:
    with pytest.raises(click.UsageError) as caught:
        parse_env([value])
    assert "s3cret" not in caught.value.message
    assert "KEY=VALUE" in caught.value.message


def test_attach_url() -> None:
    url = AttachUrl.parse("rendezvous://cove.example.com:5056/abc-DEF_1")
    assert url == AttachUrl("cove.example.com", 5056, "abc-DEF_1")
    assert AttachUrl.parse("rendezvous://h/s?x=1") == AttachUrl("h", 443, "s?x=1")
    for bad in ("https://h:1/s", "rendezvous://h:1/", "", "rendezvous://h:99999/s"):
        with pytest.raises(RendezvousError):
            AttachUrl.parse(bad)


# -- ps lists one-off dynos as Heroku does ------------------------------------------------------


def test_ps_lists_one_off_dynos_with_size_age_and_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    when = (datetime.now(UTC) - timedelta(seconds=90)).strftime("%Y-%m-%dT%H:%M:%SZ")
    dyno: Any = {
        "name": "run.1234",
        "type": "run",
        "size": "Standard-1X",
        "state": "up",
        "command": "bash",
        "updated_at": when,
    }
    with cli_in_utc(monkeypatch, tmp_path):
        lines = ps_lines([dyno])
    stamp = when.replace("-", "/").replace("T", " ").removesuffix("Z")
    assert lines == [
        "=== run: one-off processes (1)",
        "",
        f"run.1234 (Standard-1X): up {stamp} +0000 (~ 1m ago): bash",
    ]


# -- the rendezvous client against a stand-in ---------------------------------------------------

Script = Callable[[socket.socket, "StandIn"], None]


class StandIn:
    """A one-connection rendezvous server in a thread, following ``script``."""

    def __init__(self, script: Script, context: ssl.SSLContext | None) -> None:
        self.script, self.context = script, context
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.secret_line = b""
        self.stdin = b""
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        conn, _ = self.listener.accept()
        self.listener.close()
        try:
            if self.context is not None:
                conn = self.context.wrap_socket(conn, server_side=True)
            conn.settimeout(20)
            self.script(conn, self)
        except (OSError, ssl.SSLError) as exc:
            self.error = exc
        finally:
            conn.close()

    def url(self, secret: str = "s3cret") -> AttachUrl:
        return AttachUrl("localhost", self.port, secret)

    def read_secret(self, conn: socket.socket) -> None:
        while not self.secret_line.endswith(b"\n"):
            chunk = conn.recv(64)
            if not chunk:
                return
            self.secret_line += chunk

    def read_stdin_until_eot(self, conn: socket.socket) -> None:
        while b"\x04" not in self.stdin:
            chunk = conn.recv(4096)
            if not chunk:
                return
            self.stdin += chunk


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> tls.TlsFiles:
    files = tls.TlsFiles(tmp_path_factory.mktemp("tls"))
    tls.ensure_server_cert(files, tls.server_names("127.0.0.1", "example.test"))
    return files


def server_context(files: tls.TlsFiles) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(files.cert, files.key)
    return context


def attach(
    stand_in: StandIn,
    client_tls: ssl.SSLContext | None,
    stdin: bytes = b"",
    crlf_to_lf: bool = False,
    secret: str = "s3cret",
) -> tuple[int | None, bytes, list[str]]:
    out = io.BytesIO()
    events: list[str] = []
    session = Attachment(
        stand_in.url(secret),
        client_tls,
        read_stdin=io.BytesIO(stdin).read1,
        stdout=out,
        tty=False,
        crlf_to_lf=crlf_to_lf,
        on_attached=lambda: events.append("attached"),
    )
    outcome = session.run()
    stand_in.thread.join(20)
    assert outcome.signal is None
    return outcome.status, out.getvalue(), events


def echo_script(conn: socket.socket, s: StandIn) -> None:
    """What the real server does in non-TTY mode: greeting, output, stdin echoed back after
    EOT, the marker line, then a TLS goodbye."""
    s.read_secret(conn)
    conn.sendall(b"rendezvous\r\n")
    conn.sendall(b"starting\r\n")
    s.read_stdin_until_eot(conn)
    conn.sendall(b"got " + s.stdin.split(b"\x04")[0] + b"\r\n" + marker(3))
    if isinstance(conn, ssl.SSLSocket):
        conn.unwrap()


def test_attach_over_tls_streams_both_ways_and_reports_the_status(
    certs: tls.TlsFiles,
) -> None:
    stand_in = StandIn(echo_script, server_context(certs))
    status, out, events = attach(stand_in, client_context(certs.ca_cert), stdin=b"x" * 100000)
    assert stand_in.error is None
    assert stand_in.secret_line == b"s3cret\r\n"
    assert stand_in.stdin == b"x" * 100000 + b"\x04"  # all of stdin, then EOT
    assert out == b"starting\r\ngot " + b"x" * 100000 + b"\r\n"
    assert (status, events) == (3, ["attached"])


def test_attach_plain_tcp_and_crlf_rewritten_for_a_file(certs: tls.TlsFiles) -> None:
    stand_in = StandIn(echo_script, None)
    status, out, _ = attach(stand_in, None, stdin=b"in", crlf_to_lf=True)
    assert (status, out) == (3, b"starting\ngot in\n")


def test_output_coalesced_with_the_greeting_is_kept() -> None:
    def script(conn: socket.socket, s: StandIn) -> None:
        s.read_secret(conn)
        conn.sendall(b"rendezvous\r\nearly\r\n" + marker(0))

    status, out, _ = attach(StandIn(script, None), None)
    assert (status, out) == (0, b"early\r\n")


def test_closed_without_marker_reports_no_status(certs: tls.TlsFiles) -> None:
    def script(conn: socket.socket, s: StandIn) -> None:
        s.read_secret(conn)
        conn.sendall(b"rendezvous\r\npartial output")

    status, out, _ = attach(StandIn(script, server_context(certs)), client_context(certs.ca_cert))
    assert (status, out) == (None, b"partial output")


def test_refused_secret_is_a_clear_error(certs: tls.TlsFiles) -> None:
    def script(conn: socket.socket, s: StandIn) -> None:
        s.read_secret(conn)  # and close without a word, as the server does for a bad secret

    stand_in = StandIn(script, server_context(certs))
    with pytest.raises(RendezvousError, match="closed the connection without a greeting") as e:
        attach(stand_in, client_context(certs.ca_cert), secret="n0t-the-s3cret")
    assert "n0t-the" not in str(e.value)  # the secret is never shown


def test_not_a_rendezvous_server() -> None:
    def script(conn: socket.socket, s: StandIn) -> None:
        s.read_secret(conn)
        conn.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")

    with pytest.raises(RendezvousError, match="is not a rendezvous server"):
        attach(StandIn(script, None), None)


def test_untrusted_certificate(certs: tls.TlsFiles) -> None:
    stand_in = StandIn(echo_script, server_context(certs))
    with pytest.raises(RendezvousError, match="doesn't trust"):
        attach(stand_in, ssl.create_default_context())


def test_nothing_listening() -> None:
    sock = socket.create_server(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    session = Attachment(
        AttachUrl("127.0.0.1", port, "s"), None, io.BytesIO().read1, io.BytesIO(), False, False
    )
    with pytest.raises(RendezvousError, match="Could not connect"):
        session.run()


# -- the commands, against a fake API ------------------------------------------------------------


@pytest.fixture
def plain_api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    with cli_in_utc(monkeypatch, tmp_path):
        monkeypatch.setenv("COVE_API_URL", "http://127.0.0.1:5055")  # plain TCP rendezvous
        yield


def dyno_answer(attach_url: str | None) -> Callable[[httpx.Request], httpx.Response]:
    return created({"id": "d1", "name": "run.4821", "type": "run", "attach_url": attach_url})


def test_run_posts_the_dyno_and_exits_with_the_remote_status(plain_api: None) -> None:
    stand_in = StandIn(echo_script, None)
    url = f"rendezvous://127.0.0.1:{stand_in.port}/s3cret"
    api = FakeApi({("POST", "/apps/app1/dynos"): dyno_answer(url)})
    result = api.run(
        [
            *("run", "-a", "app1", "-s", "standard-2x", "-e", "A=1;B=2", "--type", "job", "-x"),
            *("python", "-c", "print(1)"),
        ],
        input="hello",
    )
    assert result.exit_code == 3, result.output
    assert result.stdout == "starting\ngot hello\n"
    assert result.stderr == 'Running python -c "print(1)" on ⬢ app1... up, run.4821\n'
    body = json.loads(api.requests[0].content)
    assert body == {
        "command": 'python -c "print(1)"',
        "attach": True,
        "env": {"A": "1", "B": "2"},
        "force_no_tty": True,  # stdin and stdout aren't terminals here
        "size": "standard-2x",
        "type": "job",
    }
    assert stand_in.secret_line == b"s3cret\r\n"


def test_run_reports_a_connection_closed_before_the_status(plain_api: None) -> None:
    def script(conn: socket.socket, s: StandIn) -> None:
        s.read_secret(conn)
        conn.sendall(b"rendezvous\r\n")

    stand_in = StandIn(script, None)
    url = f"rendezvous://127.0.0.1:{stand_in.port}/s3cret"
    api = FakeApi({("POST", "/apps/app1/dynos"): dyno_answer(url)})
    result = api.run(["run", "-a", "app1", "true"])
    assert result.exit_code == 1
    assert "the connection to run.4821 closed before the process reported its exit status" in (
        result.stderr
    )


def test_run_refused_secret(plain_api: None) -> None:
    stand_in = StandIn(lambda conn, s: s.read_secret(conn), None)
    url = f"rendezvous://127.0.0.1:{stand_in.port}/s3cret"
    api = FakeApi({("POST", "/apps/app1/dynos"): dyno_answer(url)})
    result = api.run(["run", "-a", "app1", "true"])
    assert result.exit_code == 1
    assert result.stderr.startswith("Running true on ⬢ app1... !\n")
    assert "refused the attach secret" in result.stderr
    assert "s3cret" not in result.stderr


def test_run_api_error_is_shown(plain_api: None) -> None:
    refusal = httpx.Response(
        422,
        json={
            "id": "invalid_params",
            "message": "app1 has no release to run yet: deploy with git push first",
        },
    )
    api = FakeApi({("POST", "/apps/app1/dynos"): refusal})
    result = api.run(["run", "-a", "app1", "bash"])
    assert result.exit_code == 1
    assert "Running bash on ⬢ app1... !" in result.stderr
    assert "has no release to run yet" in result.stderr


@pytest.mark.parametrize("command", [["run"], ["run:detached"]])
def test_run_without_a_command_is_a_usage_error(plain_api: None, command: list[str]) -> None:
    api = FakeApi()
    result = api.run([*command, "-a", "app1"])
    assert result.exit_code == 2
    assert "Missing argument 'COMMAND...'" in result.stderr
    assert api.requests == []


def test_run_bad_env_is_a_usage_error_before_any_request(plain_api: None) -> None:
    api = FakeApi()
    result = api.run(["run", "-a", "app1", "-e", "nope", "bash"])
    assert result.exit_code == 2
    assert "Invalid --env entry #1" in result.stderr
    assert api.requests == []


def test_options_end_at_the_command(plain_api: None) -> None:
    api = FakeApi({("POST", "/apps/app1/dynos"): dyno_answer(None)})
    for args in (["ls", "-a", "x"], ["--", "ls", "-a", "x"]):
        assert api.run(["run:detached", "-a", "app1", *args]).exit_code == 0
    bodies = [json.loads(r.content)["command"] for r in api.requests]
    assert bodies == ["ls -a x", "ls -a x"]


def test_run_detached(plain_api: None) -> None:
    api = FakeApi({("POST", "/apps/app1/dynos"): dyno_answer(None)})
    result = api.run(["run:detached", "-a", "app1", "-e", "X=1", "python", "job.py", "--all"])
    assert result.exit_code == 0, result.output
    assert result.stderr == "Running python job.py --all on ⬢ app1... done, run.4821\n"
    assert result.stdout == "Run cove logs --app app1 --dyno run.4821 to view the output.\n"
    body = json.loads(api.requests[0].content)
    assert body == {"command": "python job.py --all", "attach": False, "env": {"X": "1"}}


def test_every_split_of_a_two_marker_stream_keeps_the_last_status() -> None:
    stream = b"a\r\n" + marker(1) + b"b\r\n" + marker(2)
    for a, b in itertools.combinations(range(len(stream) + 1), 2):
        assert run_filter([stream[:a], stream[a:b], stream[b:]]) == (b"a\r\nb\r\n", 2)
