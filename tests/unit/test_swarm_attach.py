"""`cove run` on Swarm without Docker: the stack image's real ``dyno-attach`` script, run
here as a process, calls a real rendezvous listener back with its secret (``DialIns``), and
a client attached with the client's secret drives the command through ``SwarmTerminal``:
pipes and EOT, a PTY with its size and a resize, TLS against Cove's CA, a hang-up, signals
passed on, and a dyno secret nobody waits for."""

from __future__ import annotations

import asyncio
import os
import ssl
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cove import tls
from cove.limits import Caps
from cove.rendezvous import GREETING, RendezvousListener
from cove.swarm.attach import DialIns, SwarmTerminal
from cove.swarm.stack_image import ATTACH
from tests.unit.test_rendezvous import SECRET, Claims, Client, run, server_tls

__all__ = ["run"]  # (the fixture: every scenario on asyncio's loop and on uvloop's)
MARKER = "\uffff heroku-command-exit-status: %d\r\n"


class AttachedProcess:
    """A dyno handle for ``dyno-attach`` run here: its terminal is the call back."""

    def __init__(self, proc: asyncio.subprocess.Process, terminal: SwarmTerminal) -> None:
        self.proc = proc
        self.terminal = terminal

    async def wait_exit(self) -> int:
        return await self.proc.wait()

    def has_exited(self) -> bool:
        return self.proc.returncode is not None

    def signal(self, sig: int) -> None:
        if self.proc.returncode is None:
            self.proc.send_signal(sig)


@dataclass
class DialingAttachment:
    """What ``claim`` gives the listener: ``dyno-attach`` started on attach, which calls
    the listener back; started once its call came, as the swarm backend's start is."""

    dial_ins: DialIns
    port: int
    command: str
    tty: bool = False
    size: str = "80x24"
    ca_file: str = ""
    name: str = "run.1234"
    process: AttachedProcess | None = None
    stops: int = 0
    started: asyncio.Event = field(default_factory=asyncio.Event)

    async def start(self) -> Any:
        secret = "dyno-" + "y" * 40
        link = self.dial_ins.expect(secret)
        env = {
            "PATH": os.environ["PATH"],
            "COVE_ATTACH_ADDRESS": f"127.0.0.1:{self.port}",
            "COVE_ATTACH_SECRET": secret,
            "COVE_ATTACH_TTY": "1" if self.tty else "0",
            "COVE_ATTACH_SIZE": self.size,
            "COVE_CA_FILE": self.ca_file,
        }
        proc = await asyncio.create_subprocess_exec(
            sys.executable, str(ATTACH), "--", "/bin/sh", "-c", self.command, env=env
        )
        self.process = AttachedProcess(proc, SwarmTerminal(self.tty, await link))
        self.started.set()
        return self.process

    def stop(self) -> None:
        self.stops += 1
        if self.process is not None:
            self.process.signal(9)


class Attached:
    def __init__(
        self, command: str, tty: bool = False, size: str = "80x24", tls_dir: Path | None = None
    ) -> None:
        self.command, self.tty, self.size, self.tls_dir = command, tty, size, tls_dir
        self.dial_ins = DialIns()
        context = server_tls(tls_dir) if tls_dir else None
        self.claims = Claims(None)
        self.listener = RendezvousListener(
            self.claims, Caps(16, 4), context, dial_in=self.dial_ins.answer
        )

    async def __aenter__(self) -> tuple[Client, DialingAttachment]:
        await self.listener.start("127.0.0.1", 0)
        ca_file = str(tls.TlsFiles(self.tls_dir / "tls").ca_cert) if self.tls_dir else ""
        attachment = DialingAttachment(
            self.dial_ins, self.listener.port, self.command, self.tty, self.size, ca_file
        )
        self.claims.attachment = attachment  # type: ignore[assignment]
        context = None
        if self.tls_dir:
            context = ssl.create_default_context(cafile=ca_file)
        reader, writer = await asyncio.open_connection(
            "127.0.0.1",
            self.listener.port,
            ssl=context,
            server_hostname="localhost" if context else None,
        )
        client = Client(reader, writer)
        await client.send(SECRET.encode() + b"\r\n")
        assert await reader.readexactly(len(GREETING)) == GREETING
        return client, attachment

    async def __aexit__(self, *exc: object) -> None:
        await self.listener.close()


async def read_until(client: Client, wanted: bytes) -> bytes:
    data = b""
    while wanted not in data:
        chunk = await client.reader.read(65536)
        assert chunk, f"the stream ended without {wanted!r}: {data!r}"
        data += chunk
    return data


def test_pipes_carry_input_until_eot_then_the_output_and_the_exit_status(run: Any) -> None:
    async def scenario() -> None:
        async with Attached("tr a-z A-Z; echo done >&2; exit 3") as (client, attachment):
            await client.send(b"hello\nswarm\n\x04")
            data = await client.read_all()
        assert data == b"HELLO\nSWARM\ndone\n" + (MARKER % 3).encode()
        assert attachment.stops == 0

    run(scenario)


def test_a_pty_has_the_clients_size_and_follows_a_resize(run: Any) -> None:
    async def scenario() -> None:
        command = "stty size; read line; stty size; echo got-$line; exit 5"
        async with Attached(command, tty=True, size="100x30") as (client, attachment):
            assert b"30 100\r\n" in await read_until(client, b"30 100\r\n")
            assert attachment.process is not None
            # The resize frame goes before the input that makes the command look again.
            attachment.process.terminal.resize(120, 40)
            await client.send(b"x\r")
            data = await client.read_all()
        assert b"40 120\r\ngot-x\r\n" in data
        assert data.endswith((MARKER % 5).encode())

    run(scenario)


def test_over_tls_against_coves_ca(run: Any, tmp_path: Path) -> None:
    async def scenario() -> None:
        async with Attached("head -c 200000 /dev/zero | tr '\\0' z; exit 0", tls_dir=tmp_path) as (
            client,
            _,
        ):
            data = await client.read_all()
        assert data == b"z" * 200000 + b"\r\n" + (MARKER % 0).encode()

    run(scenario)


def test_a_hang_up_reaches_the_command(run: Any) -> None:
    async def scenario() -> None:
        command = "trap 'echo hung-up; exit 9' HUP; echo ready; while :; do sleep 0.05; done"
        async with Attached(command, tty=True) as (client, attachment):
            await read_until(client, b"ready")
            assert attachment.process is not None
            attachment.process.terminal.hang_up()
            data = await client.read_all()
        assert b"hung-up" in data and data.endswith((MARKER % 9).encode())

    run(scenario)


def test_signals_for_the_dyno_go_on_to_the_command(run: Any) -> None:
    async def scenario() -> None:
        command = "echo ready; exec sleep 60"
        async with Attached(command, tty=True) as (client, attachment):
            await read_until(client, b"ready")
            assert attachment.process is not None
            attachment.process.signal(15)  # (tini passes SIGTERM to dyno-attach)
            data = await client.read_all()
            assert await attachment.process.wait_exit() == 143
        assert data.endswith((MARKER % 143).encode())

    run(scenario)


def test_a_dyno_secret_nobody_waits_for_gets_nothing(run: Any) -> None:
    async def scenario() -> None:
        listener = RendezvousListener(Claims(None), Caps(16, 4), None, DialIns().answer)
        await listener.start("127.0.0.1", 0)
        try:
            env = {
                "PATH": os.environ["PATH"],
                "COVE_ATTACH_ADDRESS": f"127.0.0.1:{listener.port}",
                "COVE_ATTACH_SECRET": "dyno-unknown",
            }
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                str(ATTACH),
                "--",
                "/bin/true",
                env=env,
                stderr=asyncio.subprocess.PIPE,
            )
            _, err = await proc.communicate()
        finally:
            await listener.close()
        assert proc.returncode == 1
        assert err == b"dyno-attach: Cove refused this dyno's secret\n"

    run(scenario)


def test_dial_in_secrets_are_single_use(run: Any) -> None:
    async def scenario() -> None:
        dial_ins = DialIns()
        waiting = dial_ins.expect("a-secret")
        assert dial_ins.answer("another") is None
        assert dial_ins.answer("a-secret") is not None
        assert dial_ins.answer("a-secret") is None  # used
        dial_ins.expect("late")
        dial_ins.forget("late")  # (the start gave up waiting)
        assert dial_ins.answer("late") is None
        waiting.cancel()

    run(scenario)
