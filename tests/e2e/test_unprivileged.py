"""`cove server` run as an ordinary user (least privilege): apps still deploy and run in
sandboxes (bubblewrap over unprivileged user namespaces), the server says at start which
isolation is then missing, and memory is still watched (by polling, without cgroups)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import uv

from tests.e2e.harness import ROOT, CoveServer, User, running_server, wait_for

NOBODY = 65534
SYSTEM_PYTHON = Path("/usr/bin/python3")


def _system_python_ok() -> bool:
    if not SYSTEM_PYTHON.exists():
        return False
    version = subprocess.run(
        [SYSTEM_PYTHON, "-c", "import sys; print(sys.version_info >= (3, 11))"],
        capture_output=True,
        text=True,
    )
    return version.stdout.strip() == "True"


@pytest.fixture(scope="module")
def unprivileged(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[CoveServer, User]]:
    if os.geteuid() != 0 or not _system_python_ok():
        pytest.skip("needs root to set up, and a system Python >= 3.11 other users can run")
    # Outside pytest's 0700 temporary root, with a Python and a virtualenv that `nobody`
    # can read (this test's own interpreter may live under a private home). Cove is
    # installed as a copy, not editable: the checkout may sit under a 0700 home too. uv
    # caches a directory's build by its pyproject.toml alone, so it is built afresh.
    base = Path(tempfile.mkdtemp(prefix="cove-unprivileged-"))
    try:
        base.chmod(0o755)
        venv = base / "venv"
        uv_bin = uv.find_uv_bin()
        subprocess.run(
            [uv_bin, "venv", "-q", "-p", str(SYSTEM_PYTHON), str(venv)],
            check=True,
            capture_output=True,
        )
        subprocess.run(
            [
                uv_bin,
                "pip",
                "install",
                "-q",
                "--python",
                str(venv / "bin/python"),
                "--refresh-package",
                "cove",
                str(ROOT),
            ],
            check=True,
            capture_output=True,
        )
        root = base / "run"
        root.mkdir()
        os.chown(root, NOBODY, NOBODY)
        command = [
            "/usr/bin/setpriv",
            f"--reuid={NOBODY}",
            f"--regid={NOBODY}",
            "--clear-groups",
            str(venv / "bin/python"),
            "-m",
            "cove.server",
        ]
        with running_server(
            root,
            command=command,
            HOME=str(root),
            COVE_PYTHON_DIRS="/usr/bin",
            COVE_MEMORY_CHECK_INTERVAL="0.2",
        ) as server:
            user = User.logged_in(tmp_path_factory.mktemp("unprivileged-dev"), server)
            yield server, user
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_server_as_ordinary_user_says_what_is_missing(
    unprivileged: tuple[CoveServer, User],
) -> None:
    server, _ = unprivileged
    assert server.proc is not None
    assert Path(f"/proc/{server.proc.pid}").stat().st_uid == NOBODY
    log = server.log_path.read_text()
    assert "Isolation in force: each build and dyno in its own PID, IPC, UTS and mount" in log
    assert "Isolation NOT in force: per-app Unix users: Cove is not running as root" in log
    assert "Isolation NOT in force: no memory controller" in log
    assert "Isolation NOT in force: hard memory limits: dyno memory is polled" in log
    assert "Isolation NOT in force: network isolation (Cove is not running as root)" in log


def test_apps_deploy_and_stay_sandboxed_without_root(
    unprivileged: tuple[CoveServer, User],
) -> None:
    server, user = unprivileged
    repo = user.new_repo("hostile", "plain")
    user.cove("apps:create", "plain", cwd=repo)
    assert "Verifying deploy... done." in user.push(repo).stderr
    whoami = server.get("plain", "/whoami").json()
    assert whoami["uid"] == NOBODY  # Cove's own user: there are no per-app users here
    assert int(whoami["cap_eff"], 16) == 0
    assert len(whoami["pids"]) < 10  # its own PID namespace
    for private in (server.home / "cove.db", server.home / "admin-token", server.home):
        result = server.get("plain", "/read", params={"path": str(private)}).json()
        assert result["ok"] is False, private
    # No memory cgroup: the quota is watched by polling the sandbox's resident memory.
    server.get("plain", "/alloc", params={"mb": 600})
    wait_for(
        lambda: "Error R14 (Memory quota exceeded)" in user.cove("logs", "-a", "plain").stdout,
        timeout=30,
        what="R14 from the polled memory",
    )
    assert "mem=6" in user.cove("ps", "-a", "plain").stdout

    # A redeploy stacks the cached venv under the build through a writable overlay, which
    # here is mounted in a user namespace.
    (repo / "redeployed.txt").write_text("yes\n")
    user.commit_all(repo, "Redeploy")
    out = user.push(repo).stderr
    assert "Restoring cache" in out and "Verifying deploy... done." in out, out
    assert server.get("plain", "/read", params={"path": "/app/redeployed.txt"}).json()["ok"]
