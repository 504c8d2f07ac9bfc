"""The bubblewrap sandbox that builds and dynos run in.

The host system is visible read-only, ``/app`` is the only writable tree besides a private
``/tmp``, and each sandbox has its own PID, IPC and UTS namespaces. Dynos share the host
network namespace so they can bind ``$PORT`` where the router reaches them.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Mount:
    source: Path
    target: str
    writable: bool = False


class SandboxUnavailable(RuntimeError):
    pass


def bwrap_path() -> str:
    path = shutil.which("bwrap")
    if path is None:
        raise SandboxUnavailable(
            "bubblewrap (bwrap) is not installed; install the Debian package `bubblewrap`."
        )
    return path


def _system_mounts() -> list[str]:
    """Read-only views of the host's OS. On merged-/usr systems /bin, /lib... are symlinks
    into /usr and are recreated as symlinks."""
    args = ["--ro-bind", "/usr", "/usr"]
    for top in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        path = Path("/") / top
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), f"/{top}"]
        elif path.is_dir():
            args += ["--ro-bind", str(path), f"/{top}"]
    args += ["--ro-bind", "/etc", "/etc"]
    return args


def command(
    argv: Sequence[str],
    *,
    mounts: Sequence[Mount],
    env: Mapping[str, str],
    hostname: str,
    cwd: str = "/app",
) -> list[str]:
    """The full ``bwrap ...`` argv that runs ``argv`` in a fresh sandbox."""
    args = [
        bwrap_path(),
        "--die-with-parent",
        "--unshare-pid",
        "--unshare-ipc",
        "--unshare-uts",
        "--hostname",
        hostname,
        *_system_mounts(),
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--tmpfs",
        "/tmp",
    ]
    for mount in mounts:
        args += ["--bind" if mount.writable else "--ro-bind", str(mount.source), mount.target]
    args += ["--chdir", cwd, "--clearenv"]
    for key, value in env.items():
        args += ["--setenv", key, value]
    args.append("--")
    args.extend(argv)
    return args
