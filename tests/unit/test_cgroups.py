"""Per-dyno cgroups: parsing, detection and limits on fake cgroupfs trees, then the real
kernel (when running as root on a host whose cgroups enforce memory and pids limits)."""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from cove.sandbox import cgroups
from cove.sandbox.cgroups import (
    Cgroup,
    CgroupError,
    CgroupMount,
    Cgroups,
    Limits,
    parse_mountinfo,
    parse_proc_cgroup,
)

MiB = 1024 * 1024

# Like this project's CI host: v1 hierarchies plus a cgroup2 tree with no controllers.
HYBRID_MOUNTINFO = """\
22 27 0:21 / /proc rw,relatime - proc proc rw
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
"""
HYBRID_PROC_CGROUP = """\
9:name=systemd:/
8:pids:/
4:memory:/process_api/abc
2:cpuacct:/
1:cpu:/
0::/
"""

# A systemd host on cgroup v1 with the usual combined cpu,cpuacct hierarchy.
COMBINED_MOUNTINFO = """\
25 18 0:22 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
29 25 0:26 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:11 - cgroup cgroup rw,cpu,cpuacct
30 25 0:27 / /sys/fs/cgroup/memory rw,nosuid shared:12 - cgroup cgroup rw,memory
31 25 0:28 / /sys/fs/cgroup/pids rw,nosuid shared:13 - cgroup cgroup rw,pids
"""
COMBINED_PROC_CGROUP = """\
11:pids:/system.slice/cove.service
5:memory:/system.slice/cove.service
3:cpu,cpuacct:/system.slice/cove.service
"""

V2_MOUNTINFO = """\
35 24 0:30 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 \
rw,nsdelegate,memory_recursiveprot
"""
V2_PROC_CGROUP = "0::/user.slice/user-1000.slice/session-2.scope\n"

NO_CGROUPS_MOUNTINFO = """\
22 27 0:21 / /proc rw,relatime - proc proc rw
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw
"""


# --- parsing -------------------------------------------------------------------------


def test_parse_hybrid_mountinfo() -> None:
    mounts = parse_mountinfo(HYBRID_MOUNTINFO)
    assert [(m.mount_point, m.fstype) for m in mounts] == [
        ("/sys/fs/cgroup/cpu", "cgroup"),
        ("/sys/fs/cgroup/cpuacct", "cgroup"),
        ("/sys/fs/cgroup/memory", "cgroup"),
        ("/sys/fs/cgroup/pids", "cgroup"),
        ("/sys/fs/cgroup/systemd", "cgroup"),
        ("/sys/fs/cgroup/unified", "cgroup2"),
    ]
    memory = mounts[2]
    assert memory.root == "/"
    assert memory.super_options == {"rw", "memory"}
    assert "name=systemd" in mounts[4].super_options


def test_parse_hybrid_proc_cgroup() -> None:
    assert parse_proc_cgroup(HYBRID_PROC_CGROUP) == {
        "name=systemd": "/",
        "pids": "/",
        "memory": "/process_api/abc",
        "cpuacct": "/",
        "cpu": "/",
        "": "/",
    }


def test_parse_combined_cpu_cpuacct() -> None:
    (cpu,) = [m for m in parse_mountinfo(COMBINED_MOUNTINFO) if "cpu" in m.super_options]
    assert cpu.mount_point == "/sys/fs/cgroup/cpu,cpuacct"
    assert {"cpu", "cpuacct"} <= cpu.super_options
    paths = parse_proc_cgroup(COMBINED_PROC_CGROUP)
    assert paths["cpu"] == paths["cpuacct"] == "/system.slice/cove.service"


def test_parse_pure_v2() -> None:
    (mount,) = parse_mountinfo(V2_MOUNTINFO)
    assert (mount.root, mount.mount_point, mount.fstype) == ("/", "/sys/fs/cgroup", "cgroup2")
    assert parse_proc_cgroup(V2_PROC_CGROUP) == {"": "/user.slice/user-1000.slice/session-2.scope"}
    assert mount.dir_of("/user.slice/user-1000.slice/session-2.scope") == (
        "/sys/fs/cgroup/user.slice/user-1000.slice/session-2.scope"
    )
    assert mount.dir_of("/") == "/sys/fs/cgroup"


def test_parse_no_cgroups() -> None:
    assert parse_mountinfo(NO_CGROUPS_MOUNTINFO) == []
    assert parse_mountinfo("") == []
    assert parse_proc_cgroup("") == {}


def test_parse_mountinfo_unescapes_mount_points() -> None:
    text = r"40 31 0:37 / /mnt/my\040cgroups rw - cgroup cgroup rw,pids" + "\n"
    assert parse_mountinfo(text)[0].mount_point == "/mnt/my cgroups"


def test_mount_root_is_stripped_from_the_process_path() -> None:
    # A container's bind mount of its own subtree: the mount's root is /docker/abc.
    mount = CgroupMount("/docker/abc", "/sys/fs/cgroup/memory", "cgroup", frozenset({"memory"}))
    assert mount.dir_of("/docker/abc") == "/sys/fs/cgroup/memory"
    assert mount.dir_of("/docker/abc/web") == "/sys/fs/cgroup/memory/web"
    # Only whole path components are stripped.
    assert mount.dir_of("/docker/abcdef") == "/sys/fs/cgroup/memory/docker/abcdef"
    root = CgroupMount("/", "/sys/fs/cgroup/memory", "cgroup", frozenset({"memory"}))
    assert root.dir_of("/process_api/abc") == "/sys/fs/cgroup/memory/process_api/abc"


def test_mount_root_stripping_in_detection(tmp_path: Path) -> None:
    mountinfo = "35 31 0:32 /docker/abc /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
    (tmp_path / "sys/fs/cgroup/memory").mkdir(parents=True)
    found = Cgroups.detect(
        mountinfo=mountinfo, proc_cgroup="4:memory:/docker/abc\n", fs_root=tmp_path, name="c"
    )
    assert found.bases == {"memory": tmp_path / "sys/fs/cgroup/memory/c"}


# --- fake cgroupfs trees -----------------------------------------------------------


def fake_hybrid(tmp_path: Path) -> Path:
    """The directories a hybrid host like this project's CI has for HYBRID_PROC_CGROUP."""
    cgroup = tmp_path / "sys/fs/cgroup"
    for d in ("cpu", "cpuacct", "memory/process_api/abc", "pids", "systemd", "unified"):
        (cgroup / d).mkdir(parents=True)
    (cgroup / "unified/cgroup.controllers").write_text("\n")
    return cgroup


def detect_hybrid(tmp_path: Path) -> Cgroups:
    return Cgroups.detect(
        mountinfo=HYBRID_MOUNTINFO, proc_cgroup=HYBRID_PROC_CGROUP, fs_root=tmp_path
    )


def fake_v2(tmp_path: Path, controllers: str = "cpuset cpu io memory hugetlb pids") -> Path:
    own = tmp_path / "sys/fs/cgroup/user.slice/user-1000.slice/session-2.scope"
    own.mkdir(parents=True)
    (own / "cgroup.controllers").write_text(controllers + "\n")
    return own


def detect_v2(tmp_path: Path) -> Cgroups:
    return Cgroups.detect(mountinfo=V2_MOUNTINFO, proc_cgroup=V2_PROC_CGROUP, fs_root=tmp_path)


def test_detect_hybrid_uses_v1_under_the_servers_own_cgroups(tmp_path: Path) -> None:
    cgroup = fake_hybrid(tmp_path)
    found = detect_hybrid(tmp_path)
    assert found.version == "v1"
    assert found.controllers == {"memory", "pids", "cpu"}
    assert found.problems == []
    assert found.bases == {
        "memory": cgroup / "memory/process_api/abc/cove",
        "pids": cgroup / "pids/cove",
        "cpu": cgroup / "cpu/cove",
    }
    assert all(base.is_dir() for base in found.bases.values())
    assert Cgroups.detect(  # detecting again (a server restart) is fine
        mountinfo=HYBRID_MOUNTINFO, proc_cgroup=HYBRID_PROC_CGROUP, fs_root=tmp_path
    ).controllers == {"memory", "pids", "cpu"}


def test_create_v1_writes_limits(tmp_path: Path) -> None:
    cgroup = fake_hybrid(tmp_path)
    found = detect_hybrid(tmp_path)
    memory = cgroup / "memory/process_api/abc/cove/web.1"
    memory.mkdir()  # as the kernel would, with swap accounting on
    (memory / "memory.memsw.limit_in_bytes").write_text("9223372036854771712\n")
    group = found.create("web.1", Limits(memory_bytes=512 * MiB, pids=256, cpu_weight=50))
    assert group is not None
    assert group.name == "web.1"
    assert (memory / "memory.limit_in_bytes").read_text() == str(512 * MiB)
    assert (memory / "memory.memsw.limit_in_bytes").read_text() == str(512 * MiB)
    assert (cgroup / "pids/cove/web.1/pids.max").read_text() == "256"
    assert (cgroup / "cpu/cove/web.1/cpu.shares").read_text() == "512"
    assert not (cgroup / "cpu/cove/web.1/cpu.weight").exists()


def test_create_v1_without_swap_accounting_skips_memsw(tmp_path: Path) -> None:
    cgroup = fake_hybrid(tmp_path)
    group = detect_hybrid(tmp_path).create(
        "web.1", Limits(memory_bytes=MiB, pids=None, cpu_weight=None)
    )
    assert group is not None
    memory = cgroup / "memory/process_api/abc/cove/web.1"
    assert (memory / "memory.limit_in_bytes").read_text() == str(MiB)
    assert not (memory / "memory.memsw.limit_in_bytes").exists()
    # Unset limits are left alone.
    assert list((cgroup / "pids/cove/web.1").iterdir()) == []
    assert list((cgroup / "cpu/cove/web.1").iterdir()) == []


@pytest.mark.parametrize(
    ("weight", "shares"), [(100, "1024"), (1, "10"), (0, "2"), (10000, "102400")]
)
def test_v1_cpu_shares_from_weight(tmp_path: Path, weight: int, shares: str) -> None:
    cgroup = fake_hybrid(tmp_path)
    detect_hybrid(tmp_path).create("w", Limits(memory_bytes=None, pids=None, cpu_weight=weight))
    assert (cgroup / "cpu/cove/w/cpu.shares").read_text() == shares


def test_detect_v1_combined_cpu_cpuacct(tmp_path: Path) -> None:
    cgroup = tmp_path / "sys/fs/cgroup"
    for d in ("cpu,cpuacct", "memory", "pids"):
        (cgroup / d / "system.slice/cove.service").mkdir(parents=True)
    found = Cgroups.detect(
        mountinfo=COMBINED_MOUNTINFO, proc_cgroup=COMBINED_PROC_CGROUP, fs_root=tmp_path
    )
    assert found.version == "v1"
    assert found.problems == []
    assert found.bases["cpu"] == cgroup / "cpu,cpuacct/system.slice/cove.service/cove"


def test_v1_controllers_sharing_a_hierarchy_get_one_directory(tmp_path: Path) -> None:
    mountinfo = "35 31 0:32 / /cg rw - cgroup cgroup rw,memory,pids\n"
    (tmp_path / "cg").mkdir()
    found = Cgroups.detect(mountinfo=mountinfo, proc_cgroup="4:memory,pids:/\n", fs_root=tmp_path)
    assert found.controllers == {"memory", "pids"}
    assert found.problems == [
        "no cpu controller: dyno CPU share is not set (no cgroup v1 hierarchy has it)"
    ]
    group = found.create("web.1", Limits(memory_bytes=MiB, pids=10, cpu_weight=100))
    assert group is not None
    assert group.hierarchies == [tmp_path / "cg/cove/web.1"]
    assert (tmp_path / "cg/cove/web.1/pids.max").read_text() == "10"
    assert group.wrap(["true"])[4:] == ["1", str(tmp_path / "cg/cove/web.1/cgroup.procs"), "true"]


def test_v1_base_dir_that_cannot_be_created_is_a_problem(tmp_path: Path) -> None:
    fake_hybrid(tmp_path)
    found = Cgroups.detect(
        mountinfo=HYBRID_MOUNTINFO,
        proc_cgroup=HYBRID_PROC_CGROUP.replace("/process_api/abc", "/gone"),
        fs_root=tmp_path,
    )
    assert found.controllers == {"pids", "cpu"}
    base = tmp_path / "sys/fs/cgroup/memory/gone/cove"
    assert found.problems == [
        f"no memory controller: dyno memory is not limited (cannot create {base}: "
        "No such file or directory)"
    ]


def test_detect_v2(tmp_path: Path) -> None:
    own = fake_v2(tmp_path)
    found = detect_v2(tmp_path)
    assert found.version == "v2"
    assert found.controllers == {"memory", "pids", "cpu"}
    assert found.problems == []
    assert found.bases == dict.fromkeys(["memory", "pids", "cpu"], own / "cove")
    assert (own / "cgroup.subtree_control").read_text() == "+memory +pids +cpu"
    assert (own / "cove/cgroup.subtree_control").read_text() == "+memory +pids +cpu"
    assert not (own / "cove-server").exists()


def test_create_v2_writes_limits(tmp_path: Path) -> None:
    own = fake_v2(tmp_path)
    group = detect_v2(tmp_path).create(
        "web.1", Limits(memory_bytes=512 * MiB, pids=256, cpu_weight=50)
    )
    assert group is not None
    d = own / "cove/web.1"
    assert (d / "memory.max").read_text() == str(512 * MiB)
    assert (d / "pids.max").read_text() == "256"
    assert (d / "cpu.weight").read_text() == "50"
    assert sorted(p.name for p in d.iterdir()) == ["cpu.weight", "memory.max", "pids.max"]
    assert group.wrap(["python", "app.py"]) == [
        "/bin/sh",
        "-c",
        cgroups._CGEXEC,
        "cove-cgexec",
        "1",
        str(d / "cgroup.procs"),
        "python",
        "app.py",
    ]


def test_v2_with_some_controllers(tmp_path: Path) -> None:
    own = fake_v2(tmp_path, controllers="memory io")
    found = detect_v2(tmp_path)
    assert found.version == "v2"
    assert found.controllers == {"memory"}
    assert (own / "cgroup.subtree_control").read_text() == "+memory"
    assert found.problems == [
        f"no pids controller: dyno process count is not limited (cgroup v2 at {own} does not "
        "offer it)",
        f"no cpu controller: dyno CPU share is not set (cgroup v2 at {own} does not offer it)",
    ]
    group = found.create("w", Limits(memory_bytes=MiB, pids=10, cpu_weight=100))
    assert group is not None
    assert sorted(p.name for p in (own / "cove/w").iterdir()) == ["memory.max"]


def refuse_once(monkeypatch: pytest.MonkeyPatch, path: Path, times: int) -> list[Path]:
    """Make writes to ``path`` fail with EBUSY ``times`` times; returns every path written."""
    written: list[Path] = []
    real = cgroups._write

    def write(p: Path, text: str) -> None:
        nonlocal times
        written.append(p)
        if p == path and times > 0:
            times -= 1
            raise OSError(errno.EBUSY, os.strerror(errno.EBUSY), str(p))
        real(p, text)

    monkeypatch.setattr(cgroups, "_write", write)
    return written


def test_v2_moves_the_server_into_a_leaf_when_its_cgroup_holds_processes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    own = fake_v2(tmp_path)
    written = refuse_once(monkeypatch, own / "cgroup.subtree_control", times=1)
    found = detect_v2(tmp_path)
    assert found.version == "v2"
    assert found.controllers == {"memory", "pids", "cpu"}
    assert (own / "cove-server/cgroup.procs").read_text() == str(os.getpid())
    assert written == [
        own / "cgroup.subtree_control",
        own / "cove-server/cgroup.procs",
        own / "cgroup.subtree_control",
        own / "cove/cgroup.subtree_control",
    ]


def test_v2_busy_after_moving_the_server_is_a_problem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    own = fake_v2(tmp_path)
    refuse_once(monkeypatch, own / "cgroup.subtree_control", times=2)
    found = detect_v2(tmp_path)
    assert found.version == "none"
    assert found.controllers == frozenset()
    assert len(found.problems) == 3
    assert found.problems[0] == (
        f"no memory controller: dyno memory is not limited ({own} holds other processes, "
        "and cgroup v2 only lets leaf cgroups hold them)"
    )
    assert found.create("web.1", Limits(memory_bytes=MiB, pids=None, cpu_weight=None)) is None


def test_v2_without_controllers_and_no_v1(tmp_path: Path) -> None:
    mountinfo = "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n"
    unified = tmp_path / "sys/fs/cgroup/unified"
    unified.mkdir(parents=True)
    (unified / "cgroup.controllers").write_text("\n")
    found = Cgroups.detect(mountinfo=mountinfo, proc_cgroup="0::/\n", fs_root=tmp_path)
    assert found.version == "none"
    assert found.controllers == frozenset()
    assert found.problems == [
        f"no memory controller: dyno memory is not limited (cgroup v2 at {unified} has no "
        "controllers)",
        f"no pids controller: dyno process count is not limited (cgroup v2 at {unified} has "
        "no controllers)",
        f"no cpu controller: dyno CPU share is not set (cgroup v2 at {unified} has no controllers)",
    ]
    assert not (unified / "cove").exists()


def test_no_cgroups_at_all(tmp_path: Path) -> None:
    found = Cgroups.detect(mountinfo=NO_CGROUPS_MOUNTINFO, proc_cgroup="", fs_root=tmp_path)
    assert found.version == "none"
    assert found.controllers == frozenset()
    assert found.problems == [
        "no memory controller: dyno memory is not limited (no cgroup filesystem is mounted)",
        "no pids controller: dyno process count is not limited (no cgroup filesystem is mounted)",
        "no cpu controller: dyno CPU share is not set (no cgroup filesystem is mounted)",
    ]
    assert found.create("web.1", Limits(memory_bytes=MiB, pids=1, cpu_weight=1)) is None
    found.sweep()


def test_create_fails_clearly_when_a_limit_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cgroup = fake_hybrid(tmp_path)
    found = detect_hybrid(tmp_path)
    pids_max = cgroup / "pids/cove/web.1/pids.max"

    def write(p: Path, text: str) -> None:
        if p == pids_max:
            raise OSError(errno.EINVAL, os.strerror(errno.EINVAL), str(p))
        p.write_text(text)

    monkeypatch.setattr(cgroups, "_write", write)
    with pytest.raises(CgroupError, match=rf"cannot set {pids_max} to -5: Invalid argument"):
        found.create("web.1", Limits(memory_bytes=None, pids=-5, cpu_weight=None))


@pytest.mark.parametrize("name", ["", ".", "..", "a/b"])
def test_create_rejects_names_that_are_not_one_directory(tmp_path: Path, name: str) -> None:
    fake_hybrid(tmp_path)
    with pytest.raises(CgroupError, match="invalid cgroup name"):
        detect_hybrid(tmp_path).create(name, Limits(memory_bytes=MiB, pids=None, cpu_weight=None))


def test_memory_usage_and_oom_kills_v1(tmp_path: Path) -> None:
    d = tmp_path / "g"
    d.mkdir()
    group = Cgroup("g", "v1", {"memory": d, "pids": tmp_path / "p"})
    assert group.memory_usage() is None  # unreadable: the cgroup is gone
    assert group.oom_kills() == 0
    (d / "memory.usage_in_bytes").write_text("123456\n")
    (d / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 3\n")
    assert group.memory_usage() == 123456
    assert group.oom_kills() == 3
    no_memory = Cgroup("g", "v1", {"pids": d})
    assert no_memory.memory_usage() is None
    assert no_memory.oom_kills() == 0


def test_memory_usage_and_oom_kills_v2(tmp_path: Path) -> None:
    group = Cgroup("g", "v2", dict.fromkeys(["memory", "pids"], tmp_path))
    (tmp_path / "memory.current").write_text("4096\n")
    (tmp_path / "memory.events").write_text("low 0\nhigh 0\nmax 7\noom 2\noom_kill 2\n")
    assert group.memory_usage() == 4096
    assert group.oom_kills() == 2


def test_kill_v2_uses_cgroup_kill(tmp_path: Path) -> None:
    (tmp_path / "cgroup.kill").write_text("")
    Cgroup("g", "v2", {"memory": tmp_path}).kill()
    assert (tmp_path / "cgroup.kill").read_text() == "1"


def start_sleeper() -> subprocess.Popen[bytes]:
    return subprocess.Popen(["sleep", "60"])


def test_kill_signals_every_listed_process(tmp_path: Path) -> None:
    sleeper = start_sleeper()
    try:
        (tmp_path / "cgroup.procs").write_text(f"{sleeper.pid}\n")
        Cgroup("g", "v1", {"memory": tmp_path}).kill()
        assert sleeper.wait(timeout=10) == -signal.SIGKILL
    finally:
        sleeper.kill()
        sleeper.wait()


def test_sweep_kills_leftovers_and_never_raises(tmp_path: Path) -> None:
    cgroup = fake_hybrid(tmp_path)
    found = detect_hybrid(tmp_path)
    leftover = cgroup / "pids/cove/web.1"
    leftover.mkdir()
    sleeper = start_sleeper()
    try:
        (leftover / "cgroup.procs").write_text(f"{sleeper.pid}\n")
        found.sweep()  # rmdir of a plain directory with files fails: that must not raise
        assert sleeper.wait(timeout=10) == -signal.SIGKILL
    finally:
        sleeper.kill()
        sleeper.wait()


def test_wrap_joins_every_cgroup_before_exec(tmp_path: Path) -> None:
    dirs = {"memory": tmp_path / "m", "pids": tmp_path / "p"}
    for d in dirs.values():
        d.mkdir()
    argv = Cgroup("g", "v1", dirs).wrap(["sh", "-c", 'echo "$$ $0 $1"', "zero", "one"])
    assert argv[:5] == ["/bin/sh", "-c", cgroups._CGEXEC, "cove-cgexec", "2"]
    proc = subprocess.run(argv, capture_output=True, text=True, check=True)
    pid = proc.stdout.split()[0]
    # The same pid: joining the cgroups, then exec, with no fork in between.
    assert proc.stdout == f"{pid} zero one\n"
    assert (tmp_path / "m/cgroup.procs").read_text() == f"{pid}\n"
    assert (tmp_path / "p/cgroup.procs").read_text() == f"{pid}\n"


def test_wrap_exits_125_when_it_cannot_join(tmp_path: Path) -> None:
    argv = Cgroup("g", "v1", {"memory": tmp_path / "gone"}).wrap(["echo", "should not run"])
    proc = subprocess.run(argv, capture_output=True, text=True)
    assert proc.returncode == 125
    assert proc.stdout == ""
    assert f"cove-cgexec: cannot join the cgroup of {tmp_path}/gone/cgroup.procs" in proc.stderr


def test_remove_skips_missing_directories_and_removes_the_rest(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    pids.mkdir()
    Cgroup("g", "v1", {"memory": tmp_path / "gone", "pids": pids}).remove()
    assert not pids.exists()  # the missing hierarchy neither raised nor stopped the others


# --- the real kernel ---------------------------------------------------------------


@pytest.fixture
def host() -> Iterator[Cgroups]:
    if not Path("/proc/self/cgroup").exists() or os.geteuid() != 0:
        pytest.skip("real cgroup tests need Linux and root")
    found = Cgroups.detect(name=f"cove-test-{uuid.uuid4().hex[:8]}")
    try:
        if not {"memory", "pids"} <= found.controllers:
            pytest.skip(f"this host's cgroups lack memory or pids: {found.problems}")
        yield found
    finally:
        found.sweep()
        for base in set(found.bases.values()):
            with contextlib.suppress(FileNotFoundError):
                base.rmdir()
        assert not any(base.exists() for base in found.bases.values())


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for proc in started:
        proc.kill()
        proc.wait()


def python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def wait_for(condition: Callable[[], bool], timeout: float = 20) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_real_memory_limit_oom_kills(host: Cgroups) -> None:
    group = host.create("oom", Limits(memory_bytes=64 * MiB, pids=None, cpu_weight=None))
    assert group is not None
    try:
        proc = subprocess.run(
            group.wrap(python("b = b'x' * (200 * 1024 * 1024)")), capture_output=True, timeout=60
        )
        assert proc.returncode in (-signal.SIGKILL, 137), proc
        assert group.oom_kills() >= 1
    finally:
        group.remove()
    assert not any(d.exists() for d in group.hierarchies)


FORK_UNTIL_REFUSED = """
import os, time
children = []
while len(children) < 200:
    try:
        pid = os.fork()
    except OSError:
        break
    if pid == 0:
        time.sleep(5)
        os._exit(0)
    children.append(pid)
print(len(children), flush=True)
for pid in children:
    os.kill(pid, 9)
    os.waitpid(pid, 0)
"""


def test_real_pids_limit_stops_forks(host: Cgroups) -> None:
    group = host.create("forks", Limits(memory_bytes=None, pids=20, cpu_weight=None))
    assert group is not None
    try:
        proc = subprocess.run(
            group.wrap(python(FORK_UNTIL_REFUSED)), capture_output=True, text=True, timeout=60
        )
        assert proc.returncode == 0, proc.stderr
        # The forking python is one of the 20, so 19 forks at most succeed.
        assert 0 < int(proc.stdout) < 20
    finally:
        group.kill()
        group.remove()
    assert not any(d.exists() for d in group.hierarchies)


HOLD_50MB = """
import sys
held = b'x' * (50 * 1024 * 1024)
print("ready", flush=True)
sys.stdin.read()
"""


def test_real_memory_usage(host: Cgroups, processes: list[subprocess.Popen[str]]) -> None:
    group = host.create("usage", Limits(memory_bytes=256 * MiB, pids=64, cpu_weight=100))
    assert group is not None
    try:
        proc = subprocess.Popen(
            group.wrap(python(HOLD_50MB)), stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        processes.append(proc)
        assert proc.stdout is not None
        assert proc.stdout.readline() == "ready\n"
        assert wait_for(lambda: (group.memory_usage() or 0) >= 40 * MiB), group.memory_usage()
        assert group.oom_kills() == 0
        group.kill()
        assert proc.wait(timeout=10) == -signal.SIGKILL
    finally:
        group.remove()
    assert not any(d.exists() for d in group.hierarchies)
    assert group.memory_usage() is None


def test_real_limits_are_written(host: Cgroups) -> None:
    group = host.create("limits", Limits(memory_bytes=128 * MiB, pids=50, cpu_weight=200))
    assert group is not None
    try:
        memory, pids = group.dirs["memory"], group.dirs["pids"]
        if host.version == "v1":
            assert (memory / "memory.limit_in_bytes").read_text() == f"{128 * MiB}\n"
        else:
            assert (memory / "memory.max").read_text() == f"{128 * MiB}\n"
        assert (pids / "pids.max").read_text() == "50\n"
    finally:
        group.remove()


def test_real_remove_kills_what_is_left_and_removes_every_directory(
    host: Cgroups, processes: list[subprocess.Popen[str]]
) -> None:
    group = host.create("busy", Limits(memory_bytes=64 * MiB, pids=64, cpu_weight=100))
    assert group is not None
    assert all(d.is_dir() for d in group.hierarchies)
    proc = subprocess.Popen(group.wrap(["sleep", "60"]), text=True)
    processes.append(proc)
    assert wait_for(lambda: str(proc.pid) in (group.dirs["pids"] / "cgroup.procs").read_text())
    group.remove()  # EBUSY at first: remove() kills the sleeper and retries
    assert not any(d.exists() for d in group.hierarchies)
    assert proc.wait(timeout=10) == -signal.SIGKILL
    group.remove()  # again: missing directories are fine


def test_real_sweep_removes_leftovers(
    host: Cgroups, processes: list[subprocess.Popen[str]]
) -> None:
    group = host.create("leftover", Limits(memory_bytes=64 * MiB, pids=64, cpu_weight=None))
    assert group is not None
    proc = subprocess.Popen(group.wrap(["sleep", "60"]), text=True)
    processes.append(proc)
    assert wait_for(lambda: str(proc.pid) in (group.dirs["pids"] / "cgroup.procs").read_text())
    host.sweep()
    assert not any(d.exists() for d in group.hierarchies)
    assert proc.wait(timeout=10) == -signal.SIGKILL
