"""Finding every process of a sandbox: daemons that double-forked out of their parent's
tree included, by walking the sandbox's own process tree (real bwrap)."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from cove import sandbox
from cove.sandbox.processes import members, pid_namespace, sandbox_namespace


def test_a_walk_of_the_sandbox_tree_finds_what_a_scan_of_all_processes_finds(
    tmp_path: Path,
) -> None:
    ready = tmp_path / "ready"
    # The main process, a child, and a daemon whose parent exited (an orphan, reparented
    # to the namespace's init).
    script = (
        "sleep 300 & "
        "(setsid sh -c 'sleep 301 & exec sleep 302' & exit 0); "
        "touch /app/ready; exec sleep 303"
    )
    with sandbox.command(
        ["/bin/sh", "-c", script],
        mounts=[sandbox.Mount(tmp_path, "/app", writable=True)],
        env={"PATH": "/usr/bin:/bin"},
        hostname="members",
    ) as launch:
        proc = subprocess.Popen(launch.argv, pass_fds=launch.pass_fds)
    try:
        deadline = time.monotonic() + 30
        namespace = None
        while time.monotonic() < deadline:
            namespace = sandbox_namespace(proc.pid)
            if ready.exists() and namespace and len(members(namespace)) >= 5:
                break
            time.sleep(0.02)
        assert namespace is not None
        scanned = sorted(members(namespace))
        walked = sorted(members(namespace, proc.pid))
        assert walked == scanned
        assert len(walked) >= 5  # init, sh -> sleep 303, sleep 300, sleep 301, sleep 302
        assert all(pid_namespace(pid) == namespace for pid in walked)
    finally:
        sandbox.kill_sandbox(proc.pid)
        proc.wait()
