"""Signalling every process of a sandbox, wherever it forked to.

A sandbox has its own PID namespace; every process in it (including daemons that
double-forked and left our process group) shares that namespace's inode, which is how we
find them. Killing the outer bwrap kills the namespace's init, and with it everything.
"""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path


def pid_namespace(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/ns/pid")
    except OSError:
        return None


def children(pid: int) -> list[int]:
    result: list[int] = []
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return result
    for task in tasks:
        with contextlib.suppress(OSError):
            result += [int(p) for p in (task / "children").read_text().split()]
    return result


def sandbox_namespace(bwrap_pid: int) -> str | None:
    """The PID namespace of the sandbox started by the outer bwrap process ``bwrap_pid``."""
    outer = pid_namespace(bwrap_pid)
    for child in children(bwrap_pid):
        ns = pid_namespace(child)
        if ns and ns != outer:
            return ns
    return None


def members(namespace: str, bwrap_pid: int | None = None) -> list[int]:
    """Every process in PID namespace ``namespace``. Given the sandbox's outer bwrap
    process, a walk of its process tree (a daemon's orphans are reparented to the
    namespace's init, bwrap's child, so the tree holds them all), which costs the sandbox's
    size, not a scan of every process on the host per call (per dyno start and stop)."""
    if bwrap_pid is not None:
        found: list[int] = []
        todo = [bwrap_pid]
        while todo:
            below = children(todo.pop())
            found += [pid for pid in below if pid_namespace(pid) == namespace]
            todo += below
        return found
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and pid_namespace(int(entry.name)) == namespace:
            pids.append(int(entry.name))
    return pids


def signal_sandbox(bwrap_pid: int, namespace: str | None, sig: signal.Signals) -> None:
    """Send ``sig`` to every process in the sandbox except bwrap's own init (which would
    take the namespace down with it, skipping the app's graceful shutdown). The sandbox's
    main process must outlive its children for the same reason: dynos run under a
    launcher shell that traps SIGTERM (see ``cove.dynos.local.LAUNCHER``)."""
    if namespace is None:
        return
    init = {c for c in children(bwrap_pid) if pid_namespace(c) == namespace}
    for pid in members(namespace, bwrap_pid):
        if pid not in init:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)


def kill_sandbox(bwrap_pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(bwrap_pid, signal.SIGKILL)


def resident_bytes(namespace: str | None) -> int | None:
    """Resident memory of every process in a sandbox (where there is no memory cgroup to
    ask). Shared pages count once per process, so this over-counts forked servers a little."""
    if namespace is None:
        return None
    page = os.sysconf("SC_PAGE_SIZE")
    total = 0
    for pid in members(namespace):
        with contextlib.suppress(OSError, ValueError, IndexError):
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * page
    return total
