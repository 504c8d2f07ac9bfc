"""Running one command of a build in the sandbox, streaming its output."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence

from cove import sandbox
from cove.logs import READ_CHUNK
from cove.logs.lines import LineSplitter
from cove.sandbox.cgroups import Cgroup


class CommandTimeout(Exception):
    pass


async def run(
    argv: Sequence[str],
    *,
    mounts: Sequence[sandbox.Mount],
    env: Mapping[str, str],
    on_line: Callable[[str], None] | None,
    timeout: float,
    hostname: str = "build",
    user: sandbox.SandboxUser | None = None,
    cgroup: Cgroup | None = None,
) -> tuple[int, str]:
    """Run ``argv`` sandboxed, as ``user`` and inside ``cgroup`` when given; return (exit
    status, captured output when ``on_line`` is None)."""
    proc = await sandbox.spawn(
        argv, mounts=mounts, env=env, hostname=hostname, user=user, cgroup=cgroup
    )
    assert proc.stdout is not None
    captured: list[str] = []

    def emit(raw: bytes) -> None:
        line = raw.decode(errors="replace").rstrip("\r")
        if on_line is None:
            captured.append(line)
        else:
            on_line(line)

    async def pump() -> None:
        """Output in chunks, so a line of any length is split (Logplex's 10000 bytes)
        rather than failing the build."""
        assert proc.stdout is not None
        lines = LineSplitter()
        while chunk := await proc.stdout.read(READ_CHUNK):
            for raw in lines.feed(chunk)[0]:
                emit(raw)
        last = lines.flush()
        if last is not None:
            emit(last)

    try:
        await asyncio.wait_for(asyncio.gather(pump(), proc.wait()), timeout)
    except TimeoutError:
        sandbox.kill_sandbox(proc.pid)
        await proc.wait()
        raise CommandTimeout(f"timed out after {timeout:.0f} seconds") from None
    except BaseException:
        sandbox.kill_sandbox(proc.pid)
        await proc.wait()
        raise
    return proc.returncode or 0, "\n".join(captured)
