"""The unprivileged Unix user each app's builds and dynos run as.

When `cove server` runs as root, every sandbox drops to its app's own uid (``u<uid>``, also
its gid) with no capabilities and ``no_new_privs`` before the app's code runs, so file
permissions and the kernel separate apps as they separate users. The user needs no entry in
the host's /etc/passwd: each sandbox gets a small passwd/group of its own (which also hides
the host's accounts). When Cove is not root, sandboxes run as Cove's own user.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

SETPRIV = "/usr/bin/setpriv"


@dataclass(frozen=True)
class SandboxUser:
    uid: int
    etc_dir: Path  # holds this user's passwd and group files, bound over /etc's

    @property
    def name(self) -> str:
        return f"u{self.uid}"

    @property
    def gid(self) -> int:
        return self.uid

    def drop_argv(self) -> list[str]:
        """Prefix that becomes this user inside the sandbox: no supplementary groups, no
        capabilities (not even inheritable or in the bounding set), and setuid binaries
        can't give any back."""
        return [
            SETPRIV,
            f"--reuid={self.uid}",
            f"--regid={self.gid}",
            "--clear-groups",
            "--inh-caps=-all",
            "--bounding-set=-all",
            "--no-new-privs",
            "--",
        ]

    def give_argv(self, paths: Sequence[str]) -> list[str]:
        """Prefix, run as root before ``drop_argv``, that gives ``paths`` (mount points
        inside the sandbox) to this user: the root of an overlay belongs to root, and the
        app's user must own /app, as on Heroku. Only the mount's root changes owner: the
        lower layer (the pristine slug) is never written."""
        if not paths:
            return []
        script = (
            'owner=$0; while [ "$1" != -- ]; do chown -h -- "$owner" "$1" || exit; shift; '
            'done; shift; exec "$@"'
        )
        return ["/bin/sh", "-c", script, f"{self.uid}:{self.gid}", *paths, "--"]

    def bind_args(self) -> list[str]:
        return [
            "--ro-bind",
            str(self.etc_dir / "passwd"),
            "/etc/passwd",
            "--ro-bind",
            str(self.etc_dir / "group"),
            "/etc/group",
        ]

    def chown(self, *paths: Path, recursive: bool = False) -> None:
        """Give paths to this user (``recursive``: whole trees, via chown -R)."""
        if recursive:
            subprocess.run(
                ["chown", "-R", "--no-dereference", f"{self.uid}:{self.gid}", *map(str, paths)],
                check=True,
                capture_output=True,
            )
            return
        for path in paths:
            os.chown(path, self.uid, self.gid, follow_symlinks=False)

    def owns(self, path: Path) -> bool:
        return path.lstat().st_uid == self.uid


class Users:
    """Hands out SandboxUsers, writing each one's passwd/group files once."""

    def __init__(self, etc_root: Path) -> None:
        self.etc_root = etc_root
        self.enabled = os.geteuid() == 0 and os.access(SETPRIV, os.X_OK)

    def for_uid(self, uid: int | None) -> SandboxUser | None:
        """The user for an app's uid; None when sandboxes can't change user (Cove is not
        root) or the app has none."""
        if not self.enabled or uid is None:
            return None
        user = SandboxUser(uid, self.etc_root / str(uid))
        if not (user.etc_dir / "group").is_file():
            _write_identity(user)
        return user


def _write_identity(user: SandboxUser) -> None:
    user.etc_dir.mkdir(parents=True, exist_ok=True)
    passwd = (
        "root:x:0:0:root:/root:/usr/sbin/nologin\n"
        f"{user.name}:x:{user.uid}:{user.gid}:{user.name}:/app:/bin/bash\n"
        "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
    )
    group = f"root:x:0:\n{user.name}:x:{user.gid}:\nnogroup:x:65534:\n"
    for name, text in (("passwd", passwd), ("group", group)):
        tmp = user.etc_dir / f".{name}.tmp"
        tmp.write_text(text)
        tmp.chmod(0o644)
        tmp.replace(user.etc_dir / name)


def closed_to_others(paths: Iterable[Path]) -> Path | None:
    """The first of ``paths`` that users other than its owner can't read and cross (or
    that is missing), or None: what an app's user needs from the host must be open."""
    for path in paths:
        try:
            if path.stat().st_mode & 0o005 != 0o005:
                return path
        except OSError:
            return path
    return None
