"""Per-dyno resource limits with Linux cgroups, v1 or v2, whichever the host offers.

Cove's cgroups live beneath the cgroup the server itself is in, in every hierarchy: that
is all a delegated subtree allows, and it keeps any limits on the server in force for its
dynos. Detection happens once at server start; what could not be set up is reported in
plain sentences (``Cgroups.problems``) rather than failing the server.
"""

from __future__ import annotations

import contextlib
import errno
import os
import posixpath
import re
import signal
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

CONTROLLERS = ("memory", "pids", "cpu")
_EFFECT = {
    "memory": "dyno memory is not limited",
    "pids": "dyno process count is not limited",
    "cpu": "dyno CPU share is not set",
}

# Run as `sh -c _CGEXEC cove-cgexec N PROCS_1 .. PROCS_N ARGV...`: the shell moves itself
# into every cgroup before it execs ARGV, so nothing the dyno forks can start outside them.
_CGEXEC = """n=$1; shift
while [ "$n" -gt 0 ]; do
  echo $$ > "$1" || { echo "cove-cgexec: cannot join the cgroup of $1" >&2; exit 125; }
  n=$((n - 1)); shift
done
exec "$@"
"""


class CgroupError(RuntimeError):
    """A dyno's cgroup could not be created or given its limits."""


@dataclass(frozen=True)
class Limits:
    memory_bytes: int | None = None
    pids: int | None = None
    cpu_weight: int | None = None  # cgroup v2 scale: 1..10000, 100 is the default


@dataclass(frozen=True)
class CgroupMount:
    root: str  # the mount's root within its hierarchy (not "/" in a bind mount or container)
    mount_point: str
    fstype: str  # "cgroup" (v1) or "cgroup2"
    super_options: frozenset[str]  # for v1, these include the hierarchy's controllers

    def dir_of(self, path: str) -> str:
        """Where hierarchy path ``path`` (from /proc/<pid>/cgroup) is under this mount."""
        root = self.root.rstrip("/")
        if root and (path == root or path.startswith(root + "/")):
            path = path[len(root) :]
        rel = path.strip("/")
        return posixpath.join(self.mount_point, rel) if rel else self.mount_point


def _unescape(field: str) -> str:
    # mountinfo writes space, tab, newline and backslash as octal escapes.
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m[1], 8)), field)


def parse_mountinfo(text: str) -> list[CgroupMount]:
    """The cgroup and cgroup2 mounts listed in a /proc/<pid>/mountinfo text."""
    mounts = []
    for line in text.splitlines():
        # The optional fields before " - " vary in number; the mount's own come after it.
        before, sep, after = line.partition(" - ")
        fields, tail = before.split(), after.split()
        if sep and len(fields) >= 5 and tail and tail[0] in ("cgroup", "cgroup2"):
            options = frozenset(tail[2].split(",")) if len(tail) > 2 else frozenset()
            mounts.append(CgroupMount(_unescape(fields[3]), _unescape(fields[4]), tail[0], options))
    return mounts


def parse_proc_cgroup(text: str) -> dict[str, str]:
    """Controller -> this process's path, from a /proc/<pid>/cgroup text. The cgroup v2
    path is under the key "" (v2's line has no controller list)."""
    paths = {}
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) == 3:
            for controller in parts[1].split(",") if parts[1] else [""]:
                paths[controller] = parts[2]
    return paths


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def _write(path: Path, text: str) -> None:
    # A module-level function so tests can simulate the kernel refusing a write.
    path.write_text(text)


def _problem(controller: str, why: str) -> str:
    return f"no {controller} controller: {_EFFECT[controller]} ({why})"


class Cgroups:
    """The host's cgroup setup, detected once at server start."""

    def __init__(self, version: str, bases: dict[str, Path], problems: list[str]) -> None:
        self.version = version  # "v1", "v2" or "none"
        self.bases = bases  # controller -> the directory Cove's cgroups are created in
        self.controllers = frozenset(bases)
        self.problems = problems

    @classmethod
    def detect(
        cls,
        *,
        mountinfo: str | None = None,
        proc_cgroup: str | None = None,
        fs_root: Path = Path("/"),
        name: str = "cove",
    ) -> Cgroups:
        if mountinfo is None:
            mountinfo = Path("/proc/self/mountinfo").read_text()
        if proc_cgroup is None:
            proc_cgroup = Path("/proc/self/cgroup").read_text()
        mounts, paths = parse_mountinfo(mountinfo), parse_proc_cgroup(proc_cgroup)

        def own_dir(mount: CgroupMount, path: str) -> Path:
            return fs_root / mount.dir_of(path).lstrip("/")

        v2 = next((m for m in mounts if m.fstype == "cgroup2"), None)
        v2_dir = own_dir(v2, paths.get("", "/")) if v2 else None
        offered = set(_read(v2_dir / "cgroup.controllers").split()) if v2_dir else set()
        if v2_dir and offered & set(CONTROLLERS):
            return cls._detect_v2(v2_dir / name, offered)

        v1 = [m for m in mounts if m.fstype == "cgroup"]
        reasons = [f"cgroup v2 at {v2_dir} has no controllers"] if v2_dir else []
        reasons += ["no cgroup v1 hierarchy has it"] if v1 else []
        missing = " and ".join(reasons) or "no cgroup filesystem is mounted"
        bases, problems = {}, []
        for controller in CONTROLLERS:
            mount = next((m for m in v1 if controller in m.super_options), None)
            if mount is None or controller not in paths:
                problems.append(_problem(controller, missing))
                continue
            base = own_dir(mount, paths[controller]) / name
            try:
                base.mkdir(exist_ok=True)  # no parents: the server's own cgroup must exist
            except OSError as e:
                problems.append(_problem(controller, f"cannot create {base}: {e.strerror}"))
                continue
            bases[controller] = base
        return cls("v1" if bases else "none", bases, problems)

    @classmethod
    def _detect_v2(cls, base: Path, offered: set[str]) -> Cgroups:
        own = base.parent
        usable = [c for c in CONTROLLERS if c in offered]
        problems = [
            _problem(c, f"cgroup v2 at {own} does not offer it")
            for c in CONTROLLERS
            if c not in offered
        ]
        enable = " ".join(f"+{c}" for c in usable)
        try:
            try:
                _write(own / "cgroup.subtree_control", enable)
            except OSError as e:
                if e.errno != errno.EBUSY:
                    raise
                # "No internal processes": a non-root cgroup that holds processes cannot
                # give controllers to its children, so the server moves into a leaf first.
                server = own / "cove-server"
                server.mkdir(exist_ok=True)
                _write(server / "cgroup.procs", str(os.getpid()))
                _write(own / "cgroup.subtree_control", enable)
            base.mkdir(exist_ok=True)
            _write(base / "cgroup.subtree_control", enable)
        except OSError as e:
            why = (
                f"{own} holds other processes, and cgroup v2 only lets leaf cgroups hold them"
                if e.errno == errno.EBUSY
                else f"cannot enable it beneath {own}: {e.strerror or e}"
            )
            return cls("none", {}, problems + [_problem(c, why) for c in usable])
        return cls("v2", dict.fromkeys(usable, base), problems)

    def create(self, group: str, limits: Limits) -> Cgroup | None:
        """A new cgroup ``group`` (one path component, unique among live dynos) with
        ``limits``; None when no controller is available."""
        if not self.bases:
            return None
        if not group or "/" in group or group in (".", ".."):
            raise CgroupError(f"invalid cgroup name {group!r}")
        cgroup = Cgroup(group, self.version, {c: b / group for c, b in self.bases.items()})
        try:
            for directory in cgroup.hierarchies:
                directory.mkdir(exist_ok=True)
        except OSError as e:
            cgroup.remove()
            raise CgroupError(f"cannot create cgroup {e.filename}: {e.strerror}") from e
        for controller, file, value in _limit_files(self.version, limits):
            path = cgroup.dirs[controller] / file if controller in cgroup.dirs else None
            if path is None or (file == "memory.memsw.limit_in_bytes" and not path.exists()):
                continue
            try:
                _write(path, str(value))
            except OSError as e:
                cgroup.remove()
                raise CgroupError(f"cannot set {path} to {value}: {e.strerror or e}") from e
        return cgroup

    def close(self) -> None:
        """Remove the (empty) base directories when the server stops."""
        for base in set(self.bases.values()):
            with contextlib.suppress(OSError):
                base.rmdir()

    def sweep(self) -> None:
        """Remove the cgroups a previous server run left behind, killing what is in them."""
        names: set[str] = set()
        for base in set(self.bases.values()):
            with contextlib.suppress(OSError):
                names.update(p.name for p in base.iterdir() if p.is_dir())
        for group in sorted(names):
            leftover = Cgroup(group, self.version, {c: b / group for c, b in self.bases.items()})
            with contextlib.suppress(Exception):
                leftover.kill()
                leftover.remove()


def _limit_files(version: str, limits: Limits) -> list[tuple[str, str, int]]:
    """(controller, file, value) for each limit that is set, in the order to write them."""
    files = []
    if limits.memory_bytes is not None:
        if version == "v2":
            files.append(("memory", "memory.max", limits.memory_bytes))
        else:
            # memsw (memory + swap) comes second because it may never be below the memory
            # limit; without it a v1 dyno over its limit swaps instead of being OOM-killed.
            files.append(("memory", "memory.limit_in_bytes", limits.memory_bytes))
            files.append(("memory", "memory.memsw.limit_in_bytes", limits.memory_bytes))
    if limits.pids is not None:
        files.append(("pids", "pids.max", limits.pids))
    if limits.cpu_weight is not None:
        if version == "v2":
            files.append(("cpu", "cpu.weight", limits.cpu_weight))
        else:
            files.append(("cpu", "cpu.shares", max(2, limits.cpu_weight * 1024 // 100)))
    return files


def memory_cgroup_of(pid: int, name: str = "") -> Cgroup | None:
    """The memory cgroup process ``pid`` is in, for reading its usage and OOM kills (a
    container Docker started on this host, say); None when it can't be found."""
    try:
        mounts = parse_mountinfo(Path("/proc/self/mountinfo").read_text())
        paths = parse_proc_cgroup(Path(f"/proc/{pid}/cgroup").read_text())
    except OSError:
        return None
    v1 = next((m for m in mounts if m.fstype == "cgroup" and "memory" in m.super_options), None)
    if v1 is not None and "memory" in paths:
        return Cgroup(name, "v1", {"memory": Path(v1.dir_of(paths["memory"]))})
    v2 = next((m for m in mounts if m.fstype == "cgroup2"), None)
    if v2 is not None and "" in paths:
        return Cgroup(name, "v2", {"memory": Path(v2.dir_of(paths[""]))})
    return None


class Cgroup:
    """One dyno's cgroup: a directory in each hierarchy Cove uses."""

    def __init__(self, name: str, version: str, dirs: dict[str, Path]) -> None:
        self.name = name
        self.version = version
        self.dirs = dirs  # controller -> directory

    @property
    def hierarchies(self) -> list[Path]:
        # One directory per hierarchy: v2 (or a combined v1 mount) serves several controllers.
        return list(dict.fromkeys(self.dirs.values()))

    def wrap(self, argv: Sequence[str]) -> list[str]:
        """``argv`` run inside this cgroup from its very first instruction."""
        procs = [str(d / "cgroup.procs") for d in self.hierarchies]
        return ["/bin/sh", "-c", _CGEXEC, "cove-cgexec", str(len(procs)), *procs, *argv]

    def memory_usage(self) -> int | None:
        if "memory" not in self.dirs:
            return None
        file = "memory.current" if self.version == "v2" else "memory.usage_in_bytes"
        try:
            return int((self.dirs["memory"] / file).read_text())
        except (OSError, ValueError):
            return None

    def oom_kills(self) -> int:
        if "memory" not in self.dirs:
            return 0
        file = "memory.events" if self.version == "v2" else "memory.oom_control"
        for line in _read(self.dirs["memory"] / file).splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill" and value.strip().isdigit():
                return int(value)
        return 0

    def kill(self) -> None:
        """SIGKILL everything in the cgroup."""
        kill_file = self.hierarchies[0] / "cgroup.kill" if self.dirs else None
        if self.version == "v2" and kill_file and kill_file.exists():
            with contextlib.suppress(OSError):
                _write(kill_file, "1")  # atomic: also catches processes forked meanwhile
                return
        # Without cgroup.kill, a process may fork between our read and its kill: re-read.
        for _ in range(5):
            pids = {int(p) for d in self.hierarchies for p in _read(d / "cgroup.procs").split()}
            if not pids:
                return
            for pid in pids:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)

    def remove(self) -> None:
        """Remove the cgroup's directories, killing what is still in them. Blocks up to 2s."""
        deadline = time.monotonic() + 2
        for directory in self.hierarchies:
            while True:
                try:
                    directory.rmdir()
                except FileNotFoundError:
                    break
                except OSError as e:
                    # EBUSY: processes are still in it (or still exiting after a kill).
                    if e.errno != errno.EBUSY or time.monotonic() > deadline:
                        break
                    self.kill()
                    time.sleep(0.02)
                else:
                    break
