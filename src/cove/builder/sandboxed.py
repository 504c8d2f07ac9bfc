"""Running one command of a build in the sandbox, streaming its output."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence

from cove import sandbox
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

    async def pump() -> None:
        assert proc.stdout is not None
        async for raw in proc.stdout:
            line = raw.decode(errors="replace").rstrip("\r\n")
            if on_line is None:
                captured.append(line)
            else:
                on_line(line)

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
