"""Builds have a time limit and slugs a size limit, each with a clear error (the running
release is untouched); `cove server` says which isolation is in force."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from cove.sandbox import seccomp
from cove.sandbox.cgroups import Cgroups
from cove.sandbox.netns import DynoNetworks
from tests.e2e.harness import CoveServer, User, running_server


def test_slug_size_limit(tmp_path: Path) -> None:
    with running_server(tmp_path, COVE_SLUG_MAX_BYTES=str(8 * 1024**2)) as server:
        user = User.logged_in(tmp_path / "dev", server)
        repo = user.new_repo("crashy", "small")
        user.cove("apps:create", "small", cwd=repo)
        assert "Released v" in user.push(repo).stderr  # a small slug fits
        (repo / "blob.bin").write_bytes(os.urandom(10 * 1024**2))  # incompressible
        user.commit_all(repo, "a big file")
        push = user.push(repo, check=False)
        assert push.returncode != 0
        assert "is too large (max is 8.0M)" in push.stderr
        assert server.get("small").text == "ok"
        # The oversized slug is gone.
        assert len(list((server.home / "slugs").glob("*.tar.zst"))) == 1
        assert [r["version"] for r in server.api("GET", "/apps/small/releases").json()] == [1, 2]


def push_with_post_compile(server: CoveServer, home: Path, app: str, script: str) -> str:
    """Push an app whose build runs ``script`` (the buildpack's bin/post_compile hook);
    the push must fail and leave only the initial release. Returns the push output."""
    user = User.logged_in(home, server)
    repo = user.new_repo("crashy", app)
    (repo / "bin").mkdir()
    hook = repo / "bin" / "post_compile"
    hook.write_text(f"#!/usr/bin/env bash\n{script}\n")
    hook.chmod(0o755)
    user.commit_all(repo, "a build hook")
    user.cove("apps:create", app, cwd=repo)
    push = user.push(repo, check=False)
    assert push.returncode != 0
    assert len(server.api("GET", f"/apps/{app}/releases").json()) == 1
    return push.stderr


def test_build_time_limit(tmp_path: Path) -> None:
    with running_server(tmp_path, COVE_BUILD_TIMEOUT="3") as server:
        output = push_with_post_compile(
            server, tmp_path / "dev", "slow", "echo compiling slowly\nsleep 30"
        )
        assert "compiling slowly" in output
        assert "The build took longer than 3 seconds and was stopped" in output


def test_build_memory_limit(tmp_path: Path) -> None:
    with running_server(tmp_path, COVE_BUILD_MEMORY_MB="200") as server:
        output = push_with_post_compile(
            server,
            tmp_path / "dev",
            "hungry",
            "echo allocating\npython3 -c \"b = b'x' * 500_000_000\"",
        )
        assert "allocating" in output
        assert "The build ran out of memory (the limit is 200 MB" in output


def test_server_says_which_isolation_is_in_force(server: CoveServer) -> None:
    log = server.log_path.read_text()
    assert "Isolation in force: each build and dyno in its own PID, IPC, UTS and mount" in log
    assert "Isolation in force: ephemeral /app per dyno" in log
    users = "Isolation in force: per-app Unix users"
    assert (users in log) == (os.geteuid() == 0)
    if os.geteuid() != 0:
        assert "Isolation NOT in force: per-app Unix users" in log
    # cgroups as this host has them: in force, or each missing controller said out loud.
    cgroups = Cgroups.detect(name=f"cove-test-{uuid.uuid4().hex[:8]}")
    cgroups.close()
    if cgroups.controllers:
        controllers = ", ".join(sorted(cgroups.controllers))
        assert (
            f"Isolation in force: per-dyno limits with cgroup {cgroups.version} ({controllers})"
            in log
        )
    for problem in cgroups.problems:
        assert f"Isolation NOT in force: {problem}" in log
    seccomp_line = "Isolation in force: seccomp: builds and dynos cannot create user namespaces"
    assert (seccomp_line in log) == (seccomp.program() is not None)
    # What is not there is said, not hidden.
    network = "network isolation: each dyno in its own network namespace"
    if DynoNetworks.unavailable() is None:
        assert f"Isolation in force: {network}" in log
    else:
        assert "Isolation NOT in force: network isolation" in log


def test_server_files_are_private(server: CoveServer) -> None:
    home = server.home
    assert home.stat().st_mode & 0o777 == 0o711  # traversable for add-on servers, no listing
    for private in (home / "cove.db", home / "admin-token", home / "slugs"):
        assert private.stat().st_mode & 0o077 == 0, private  # nothing for other local users
