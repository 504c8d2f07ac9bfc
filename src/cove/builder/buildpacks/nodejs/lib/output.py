"""The build output, in Heroku's shape: ``-----> step``, 7-space indented detail, and
`` !     `` blocks for warnings and errors (on stderr). Commands stream through here too,
indented, and their last lines are kept so a failure can be explained."""

from __future__ import annotations

import collections
import subprocess
import sys
from collections.abc import Mapping, Sequence

PAD = "       "
BANG = " !     "
TAIL_LINES = 200
# A command's stdout and stderr, as one stream.
_MERGED: dict[str, int] = {"stdout": subprocess.PIPE, "stderr": subprocess.STDOUT}


class BuildError(Exception):
    """A failure the developer can fix: printed as an error block, then bin/compile exits 1."""


def _emit(text: str, stream: object = None) -> None:
    print(text, file=stream or sys.stdout, flush=True)  # type: ignore[arg-type]


def step(text: str) -> None:
    _emit(f"-----> {text}")


def detail(text: str) -> None:
    for line in text.splitlines() or [""]:
        _emit((PAD + line).rstrip())


def warning(text: str) -> None:
    _block(text, "Warning: ")


def error(text: str) -> None:
    _block(text, "")


def _block(text: str, label: str) -> None:
    sys.stdout.flush()
    lines = text.strip("\n").splitlines() or [""]
    body = [BANG + label + lines[0]] + [(BANG + line).rstrip() for line in lines[1:]]
    _emit("\n" + "\n".join(body) + "\n", sys.stderr)


def stream(cmd: Sequence[str], env: Mapping[str, str], cwd: str) -> tuple[int, str]:
    """Run ``cmd`` with its output (stdout and stderr) shown indented as it comes; returns
    its exit status and its last lines."""
    try:
        proc = subprocess.Popen(
            list(cmd), cwd=cwd, env=dict(env), stdin=subprocess.DEVNULL, **_MERGED
        )
    except OSError as exc:
        raise BuildError(f"Couldn't start {cmd[0]}: {exc.strerror or exc}") from None
    tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
    assert proc.stdout is not None
    with proc.stdout:
        for raw in iter(proc.stdout.readline, b""):
            line = raw.decode(errors="replace").rstrip("\n")
            tail.append(line)
            sys.stdout.write(PAD + line + "\n" if line.strip() else "\n")
            sys.stdout.flush()
    return proc.wait(), "\n".join(tail)


def quiet(cmd: Sequence[str], env: Mapping[str, str], cwd: str) -> tuple[int, str]:
    """Run ``cmd`` without showing it; returns (status, stdout and stderr)."""
    try:
        done = subprocess.run(
            list(cmd), env=dict(env), cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True
        )
    except OSError as exc:
        return 127, str(exc)
    out = (done.stdout + done.stderr).decode(errors="replace")
    return done.returncode, out
