"""Starting an app's code (a build step, a release command, a dyno) in a sandbox."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from pathlib import Path

from cove.sandbox import seccomp
from cove.sandbox.bwrap import Mount, command
from cove.sandbox.cgroups import Cgroup
from cove.sandbox.users import SandboxUser


async def spawn(
    argv: Sequence[str],
    *,
    mounts: Sequence[Mount],
    env: Mapping[str, str],
    hostname: str,
    user: SandboxUser | None = None,
    cgroup: Cgroup | None = None,
    pass_fds: Sequence[int] = (),
    stdin: int = asyncio.subprocess.DEVNULL,
    stdout: int = asyncio.subprocess.PIPE,
    netns: Path | None = None,
) -> asyncio.subprocess.Process:
    """Start ``argv`` in a fresh sandbox, as ``user`` and inside ``cgroup`` when given,
    under the seccomp filter; stdout and stderr share one pipe (or the file descriptor
    ``stdout``: a PTY, a pipe of the caller's), in a session of its own (without a
    controlling terminal: a command that wants one takes it inside the sandbox, where its
    process groups are visible). ``pass_fds`` are inherited by the sandboxed command.
    The environment reaches bwrap through an inherited fd, never the command line (the
    cgroup wrapper shell passes inherited fds on when it execs bwrap). With ``netns`` (a
    named network namespace, ``cove.sandbox.netns``) bwrap starts inside it: nsenter joins
    it as root and execs bwrap, so the sandboxed command never holds the right to leave."""
    with command(
        argv,
        mounts=mounts,
        env=env,
        hostname=hostname,
        user=user,
        seccomp_program=seccomp.program(),
    ) as launch:
        argv = launch.argv
        if netns is not None:
            argv = ["nsenter", f"--net={netns}", "--", *argv]
        return await asyncio.create_subprocess_exec(
            *(cgroup.wrap(argv) if cgroup else argv),
            stdin=stdin,
            stdout=stdout,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
            pass_fds=(*launch.pass_fds, *pass_fds),
        )
