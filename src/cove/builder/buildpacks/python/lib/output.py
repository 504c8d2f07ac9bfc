"""Heroku-style build output and subprocess helpers.

Steps are printed as ``-----> text``, details and command output are indented by 7 spaces,
errors as `` !     text`` on stderr. Everything is flushed at once so the builder's merged
stream stays in order.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence

INDENT = " " * 7


class BuildError(Exception):
    """A user-facing build failure: the message is printed as an error block, then exit 1."""


def step(message: str) -> None:
    print(f"-----> {message}", flush=True)


def detail(message: str) -> None:
    for line in message.splitlines() or [""]:
        print(f"{INDENT}{line}".rstrip(), flush=True)


def warning(message: str) -> None:
    _block(" !     Warning: ", message)


def error(message: str) -> None:
    _block(" !     ", message)


def _block(first_prefix: str, message: str) -> None:
    sys.stdout.flush()
    lines = message.strip("\n").splitlines()
    out = ["", first_prefix + lines[0] if lines else first_prefix.rstrip()]
    out += [(" !     " + line).rstrip() for line in lines[1:]]
    print("\n".join([*out, ""]), file=sys.stderr, flush=True)


def run(
    cmd: Sequence[str],
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
    indent: bool = True,
) -> int:
    """Run ``cmd`` streaming its merged stdout/stderr (indented) to our stdout; return the code."""
    try:
        proc = subprocess.Popen(
            list(cmd),
            env=dict(env) if env is not None else None,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
    except OSError as exc:
        raise BuildError(f"Couldn't run '{cmd[0]}': {exc.strerror or exc}") from exc
    assert proc.stdout is not None
    prefix = INDENT.encode() if indent else b""
    out = sys.stdout.buffer
    for raw in proc.stdout:
        out.write(prefix + raw if raw.strip() else raw)
        out.flush()
    return proc.wait()


def capture(cmd: Sequence[str], env: Mapping[str, str] | None = None) -> str:
    """Run ``cmd`` and return its stripped stdout ('' on any failure)."""
    try:
        done = subprocess.run(
            list(cmd),
            env=dict(env) if env is not None else None,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError:
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def display_path(path: str, root: str) -> str:
    """``path`` relative to ``root`` when inside it (for messages), else unchanged."""
    rel = os.path.relpath(path, root)
    return path if rel.startswith("..") else rel
