"""Commands the server runs for a build (runtime installs), their lines shown as they come."""

from __future__ import annotations

import asyncio
from asyncio.subprocess import DEVNULL, PIPE, STDOUT
from collections.abc import Callable, Mapping, Sequence


async def run_streamed(
    cmd: Sequence[str], env: Mapping[str, str], on_line: Callable[[str], None], timeout: float
) -> tuple[int, str]:
    """Run ``cmd`` (stdout and stderr merged), passing each non-empty line to ``on_line``;
    returns (exit status, every line). Past ``timeout`` it is killed and fails."""
    proc = await asyncio.create_subprocess_exec(
        *cmd, stdin=DEVNULL, stdout=PIPE, stderr=STDOUT, env=dict(env)
    )
    assert proc.stdout is not None
    lines: list[str] = []
    try:
        async with asyncio.timeout(timeout):
            while raw := await proc.stdout.readline():
                line = raw.decode(errors="replace").strip()
                lines.append(line)
                if line:
                    on_line(line)
            await proc.wait()
    except TimeoutError:
        proc.kill()
        await proc.wait()
        lines.append(f"error: {cmd[0].rsplit('/', 1)[-1]} took longer than {timeout:.0f} seconds")
        return 1, "\n".join(lines)
    return proc.returncode or 0, "\n".join(lines)


def last_error(out: str) -> str:
    """uv's own error, without its progress lines (an ``error:`` line and its causes)."""
    lines = [line.strip() for line in out.splitlines() if line.strip()]
    for i, line in enumerate(lines):
        if line.startswith("error:"):
            return " ".join(lines[i:])[:600]
    return (lines[-1] if lines else "uv failed without saying why")[:600]
