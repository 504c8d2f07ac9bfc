"""Running one command of a build in the sandbox, streaming its output."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Mapping, Sequence

from cove import sandbox
from cove.logs import READ_CHUNK
from cove.logs.budget import Drops, LineBudget, overflow_notice
from cove.logs.lines import LineSplitter
from cove.logs.output import DROPPING_READ_BYTES_PER_SECOND
from cove.logs.router import BURST_SECONDS, LINES_PER_SECOND, NOTICE_DELAY
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
        rather than failing the build. Streamed output has a line budget like a dyno's: a
        flood is dropped (and said so) and read slower, not fed line by line to the push."""
        assert proc.stdout is not None
        lines = LineSplitter()
        budget = LineBudget(LINES_PER_SECOND, LINES_PER_SECOND * BURST_SECONDS)
        drops = Drops()
        loop = asyncio.get_running_loop()
        report_at = 0.0

        def report() -> None:
            dropped = drops.take()
            if dropped is not None and on_line is not None:
                on_line(f" !     {overflow_notice(*dropped)}")

        while chunk := await proc.stdout.read(READ_CHUNK):
            keep = budget.available(loop.time()) if on_line is not None else sys.maxsize
            kept, skipped = lines.feed(chunk, keep)
            budget.spend(len(kept))
            for raw in kept:
                emit(raw)
            if skipped and drops.add(skipped):
                report_at = loop.time() + NOTICE_DELAY
            if drops.count and (not skipped or loop.time() >= report_at):
                report()
                report_at = loop.time() + NOTICE_DELAY
            if skipped and proc.returncode is None:
                await asyncio.sleep(len(chunk) / DROPPING_READ_BYTES_PER_SECOND)
        last = lines.flush()
        if last is not None:
            emit(last)
        report()

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
