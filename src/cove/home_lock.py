"""One `cove server` per COVE_HOME.

The server holds an exclusive ``flock`` on ``COVE_HOME/server.lock`` for its whole life,
with its pid written inside. The kernel drops the lock when the process dies, however it
dies, so a lock file left behind by a killed server never blocks the next start. The file
descriptor is close-on-exec: dynos and add-on servers never inherit (and so never keep) it.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

LOCK_FILE = "server.lock"


class HomeInUse(Exception):
    """Another process (a running `cove server`, or `--restore`) holds COVE_HOME."""

    def __init__(self, home: Path, pid: int | None) -> None:
        self.home = home
        self.pid = pid
        holder = f"pid {pid}" if pid else "pid unknown"
        super().__init__(
            f"another cove server ({holder}) is already running on COVE_HOME={home} "
            f"(it holds {home / LOCK_FILE})"
        )


class HomeLock:
    """The held lock; ``release`` (or the process exiting) gives it up."""

    def __init__(self, fd: int) -> None:
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, home: Path) -> HomeLock:
        """Lock ``home`` for this process or raise ``HomeInUse`` naming the holder's pid."""
        home.mkdir(parents=True, exist_ok=True)
        fd = os.open(home / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = _read_pid(fd)
            os.close(fd)
            raise HomeInUse(home, pid) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        return cls(fd)

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the only descriptor drops the flock
            self._fd = None


def holder(home: Path) -> int | None:
    """The pid of the server holding ``home`` (0 if its pid can't be read), or None when
    no server runs there. Takes nothing: a shared lock is tried and given back at once."""
    try:
        fd = os.open(home / LOCK_FILE, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return _read_pid(fd) or 0
    finally:
        os.close(fd)
    return None


def _read_pid(fd: int) -> int | None:
    # The holder writes its pid right after locking: an empty file means "just started".
    text = os.pread(fd, 32, 0).decode(errors="replace").strip()
    return int(text) if text.isdigit() else None
