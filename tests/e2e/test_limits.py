"""Builds have a time limit and slugs a size limit, each with a clear error (the running
release is untouched); `cove server` says which isolation is in force."""

from __future__ import annotations

import os
from pathlib import Path

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
        assert len(list((server.home / "slugs").glob("*.tgz"))) == 1  # the oversized one is gone
        assert [r["version"] for r in server.api("GET", "/apps/small/releases").json()] == [1, 2]


def test_build_time_limit(tmp_path: Path) -> None:
    with running_server(tmp_path, COVE_BUILD_TIMEOUT="3") as server:
        user = User.logged_in(tmp_path / "dev", server)
        repo = user.new_repo("crashy", "slow")
        (repo / "bin").mkdir()
        hook = repo / "bin" / "post_compile"
        hook.write_text("#!/usr/bin/env bash\necho compiling slowly\nsleep 30\n")
        hook.chmod(0o755)
        user.commit_all(repo, "a slow build")
        user.cove("apps:create", "slow", cwd=repo)
        push = user.push(repo, check=False)
        assert push.returncode != 0
        assert "compiling slowly" in push.stderr
        assert "The build took longer than 3 seconds and was stopped" in push.stderr
        assert len(server.api("GET", "/apps/slow/releases").json()) == 1


def test_server_says_which_isolation_is_in_force(server: CoveServer) -> None:
    log = server.log_path.read_text()
    assert "Isolation in force: each build and dyno in its own PID, IPC, UTS and mount" in log
    assert "Isolation in force: ephemeral /app per dyno" in log
    # What is not there yet is said, not hidden.
    assert "Isolation NOT in force: per-dyno memory, CPU and process limits" in log
    assert "Isolation NOT in force: per-app Unix users" in log


def test_server_files_are_private(server: CoveServer) -> None:
    home = server.home
    assert home.stat().st_mode & 0o777 == 0o711  # traversable for add-on servers, no listing
    for private in (home / "cove.db", home / "admin-token", home / "slugs"):
        assert private.stat().st_mode & 0o077 == 0, private  # nothing for other local users
