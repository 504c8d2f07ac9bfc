"""Run a command on a pseudo-terminal and answer its interactive prompts (for CLIs, such as
the real Heroku CLI's inquirer prompts, that only ask when their stdin is a terminal)."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import signal
import struct
import subprocess
import termios
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][0-9A-Za-z]|\x1b[=>]")


@dataclass(frozen=True)
class TerminalRun:
    returncode: int
    output: str  # everything the command wrote to the terminal, escape sequences removed


def run_in_terminal(
    argv: Sequence[str],
    *,
    env: dict[str, str],
    cwd: Path,
    replies: Sequence[tuple[str, bytes]],
    timeout: float = 120,
) -> TerminalRun:
    """Run ``argv`` with a terminal (120x40) as stdin, stdout and stderr; for each
    ``(prompt, keys)`` in turn, wait until ``prompt`` has been shown, then type ``keys``.
    Fails, killing the command's whole session, if it runs past ``timeout``."""
    primary, secondary = pty.openpty()
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    proc = subprocess.Popen(
        list(argv),
        cwd=cwd,
        env=env,
        stdin=secondary,
        stdout=secondary,
        stderr=secondary,
        start_new_session=True,  # its own session: the terminal is its controlling one
    )
    os.close(secondary)
    deadline = time.monotonic() + timeout
    raw = b""
    unanswered = 0  # where the next prompt is looked for: after the last one answered
    pending = list(replies)
    try:
        while True:
            text = ANSI.sub("", raw[unanswered:].decode(errors="replace"))
            if pending and pending[0][0] in text:
                os.write(primary, pending.pop(0)[1])
                unanswered = len(raw)
                continue
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(
                    f"{argv[0]} still running after {timeout}s; it printed: {text[-2000:]}"
                )
            ready, _, _ = select.select([primary], [], [], min(left, 1.0))
            if not ready:
                continue
            try:
                data = os.read(primary, 65536)
            except OSError:  # EIO: every writer of the terminal is gone
                break
            if not data:
                break
            raw += data
        if pending:
            raise AssertionError(f"never prompted {pending[0][0]!r}; it printed: {text[-2000:]}")
        returncode = proc.wait(timeout=max(deadline - time.monotonic(), 1))
    finally:
        os.close(primary)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return TerminalRun(returncode, ANSI.sub("", raw.decode(errors="replace")))
