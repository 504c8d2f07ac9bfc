"""A hostile app deployed next to a victim app: every attack on the victim, on Cove and on
the host fails, the victim keeps serving and `cove server` keeps working. The same holds
for code that runs during a build (a malicious setup.py)."""

from __future__ import annotations

import errno
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import CoveServer, User, processes_mentioning, running_server, wait_for

SECRET = "victim-secret-4b1d"


@dataclass
class Neighbours:
    server: CoveServer
    user: User

    def attack(self, endpoint: str, **query: Any) -> dict[str, Any]:
        response = self.server.get("hostile", endpoint, params=query)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    def victim_serves(self) -> bool:
        return self.server.get("victim").text == "ok"

    def dyno_pids(self, app: str) -> list[int]:
        """Host pids of the app's running dynos (sandboxes carry their dyno id)."""
        dynos = self.server.api("GET", f"/apps/{app}/dynos").json()
        return processes_mentioning(*(d["id"] for d in dynos))


@pytest.fixture(scope="module")
def neighbours(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Neighbours]:
    root = tmp_path_factory.mktemp("isolation")
    with running_server(root, COVE_MEMORY_CHECK_INTERVAL="0.2") as server:
        user = User.logged_in(root / "dev", server)
        for name in ("victim", "hostile"):
            repo = user.new_repo("hostile", name)
            user.cove("apps:create", name, cwd=repo)
            if name == "victim":
                user.cove("config:set", f"SECRET={SECRET}", "-a", name)
            user.push(repo)
        yield Neighbours(server, user)


def test_each_app_runs_as_its_own_unprivileged_user(neighbours: Neighbours) -> None:
    victim = neighbours.server.get("victim", "/whoami").json()
    hostile = neighbours.attack("/whoami")
    assert hostile["uid"] != 0 and hostile["euid"] != 0 and hostile["gid"] != 0
    assert hostile["uid"] != victim["uid"]
    assert hostile["groups"] == []  # no supplementary groups (root's are dropped)
    assert hostile["name"] == f"u{hostile['uid']}"
    assert int(hostile["cap_eff"], 16) == 0 and int(hostile["cap_bnd"], 16) == 0
    # The sandbox's own accounts only: the host's users are not listed.
    passwd = neighbours.attack("/read", path="/etc/passwd")["data"]
    assert passwd.count("\n") == 3 and "cove:" not in passwd
    assert neighbours.attack("/read", path="/etc/shadow")["error"] == "PermissionError"
    # /app is the app's own (writable, ephemeral) and owned by its user.
    home = neighbours.server.home
    slugs = [p for p in (home / "slugs").iterdir() if p.is_dir()]
    assert {p.stat().st_uid for p in slugs} == {hostile["uid"], victim["uid"]}


def test_hostile_app_cannot_read_the_victim_or_cove(neighbours: Neighbours) -> None:
    home = neighbours.server.home
    victim_pids = neighbours.dyno_pids("victim")
    assert victim_pids
    targets = [
        home,
        home / "cove.db",
        home / "admin-token",
        home / "repos",
        home / "cache",
        *[p / "server.py" for p in (home / "slugs").iterdir() if p.is_dir()],
        *[f"/proc/{pid}/environ" for pid in victim_pids],
        *[f"/proc/{pid}/root/app/server.py" for pid in victim_pids],
    ]
    for target in targets:
        result = neighbours.attack("/read", path=str(target))
        assert result["ok"] is False, target
    # Its own processes are all it can see, and no environment holds the victim's secret.
    scan = neighbours.attack("/scan", needle=SECRET)
    assert scan["found"] == [] and 0 < len(scan["read"]) < 10
    assert not set(victim_pids) & set(neighbours.attack("/whoami")["pids"]) - {1}
    # Nor can it make a device node for the host's disk to read it raw.
    assert neighbours.attack("/mknod")["error"] == "PermissionError"
    assert neighbours.victim_serves()


def test_kernel_attack_surface_is_filtered(neighbours: Neighbours) -> None:
    # seccomp: no user namespaces (where "root" could mount and reach more kernel code),
    # no kernel keyrings.
    unshare = neighbours.attack("/unshare")
    assert unshare["ok"] is False and "Operation not permitted" in unshare["error"]
    keyctl = neighbours.attack("/keyctl")
    assert keyctl == {"ok": False, "errno": errno.EPERM}
    assert neighbours.victim_serves()


def test_hostile_app_cannot_signal_the_victim(neighbours: Neighbours) -> None:
    victim_pids = neighbours.dyno_pids("victim")
    for pid in victim_pids:
        result = neighbours.attack("/kill", pid=pid)
        # Victim pids don't exist in the hostile sandbox's PID namespace (or are its own
        # init, which it refuses to kill).
        assert result["ok"] is False, (pid, result)
    assert all(Path(f"/proc/{pid}").exists() for pid in victim_pids)
    assert neighbours.victim_serves()


def test_fork_bomb_is_capped_by_the_dyno_size(neighbours: Neighbours) -> None:
    result = neighbours.attack("/forkbomb")
    # standard-1x: at most 256 processes and threads in the whole dyno.
    assert result["error"] == "BlockingIOError"
    assert 0 < result["forks"] < 256
    assert neighbours.victim_serves()
    assert neighbours.server.api("GET", "/apps").status_code == 200
    assert neighbours.attack("/whoami")["uid"]  # the hostile dyno itself survives too


def test_memory_quota_r14_then_r15(neighbours: Neighbours) -> None:
    server, user = neighbours.server, neighbours.user
    # Over the 512 MB quota of a standard-1x: R14, and the dyno keeps running.
    assert neighbours.attack("/alloc", mb=600)["held_mb"] == 600
    wait_for(
        lambda: "Error R14 (Memory quota exceeded)" in user.cove("logs", "-a", "hostile").stdout,
        timeout=30,
        what="R14 in the logs",
    )
    logs = user.cove("logs", "-a", "hostile").stdout
    assert "heroku[web.1]: Process running mem=" in logs
    ps = user.cove("ps", "-a", "hostile").stdout
    assert "web.1: up" in ps and "mem=6" in ps  # ~600 MB of 512 MB
    # Past twice the quota: the kernel stops the allocation at the cgroup's hard limit,
    # Cove logs R15 and the dyno is killed and restarted.
    response = server.get("hostile", "/alloc", params={"mb": 600})
    assert response.status_code == 503
    wait_for(
        lambda: (
            "Error R15 (Memory quota vastly exceeded)" in user.cove("logs", "-a", "hostile").stdout
        ),
        timeout=30,
        what="R15 in the logs",
    )
    wait_for(lambda: server.get("hostile").text == "ok", timeout=60, what="hostile restarted")
    assert neighbours.victim_serves()
    assert server.api("GET", "/apps").status_code == 200


def test_procfile_symlink_out_of_the_app_is_refused(neighbours: Neighbours) -> None:
    user, home = neighbours.user, neighbours.server.home
    repo = user.new_repo("hostile", "linker")
    (repo / "Procfile").unlink()
    (repo / "Procfile").symlink_to(home / "admin-token")
    user.commit_all(repo, "a Procfile pointing at Cove's admin token")
    user.cove("apps:create", "linker", cwd=repo)
    push = user.push(repo, check=False)
    assert push.returncode != 0
    assert "The Procfile is a symbolic link to a file outside the app." in push.stderr
    assert neighbours.server.admin_token not in push.stderr


def test_malicious_setup_py_is_sandboxed_like_a_dyno(neighbours: Neighbours) -> None:
    user, home = neighbours.user, neighbours.server.home
    victim_pids = neighbours.dyno_pids("victim")
    reads = [
        str(home / "cove.db"),
        str(home / "admin-token"),
        str(home / "cache"),
        *[str(p / "server.py") for p in (home / "slugs").iterdir() if p.is_dir()],
        *[f"/proc/{pid}/environ" for pid in victim_pids],
        "/etc/shadow",
    ]
    repo = user.new_repo("evil-build", "evil")
    user.cove("apps:create", "evil", cwd=repo)
    targets = {"read": reads, "kill": victim_pids, "needle": SECRET}
    user.cove("config:set", f"TARGETS={json.dumps(targets)}", "-a", "evil")
    push = user.push(repo, check=False)
    assert push.returncode != 0
    report = next(line for line in push.stderr.splitlines() if "EVIL-REPORT" in line)
    evil_uid = int(report.split("uid=", 1)[1].split()[0])
    assert evil_uid not in (0, os.getuid())
    for path in reads:
        assert f"DENIED {path}" in report, (path, report)
    for pid in victim_pids:
        assert f"NOKILL {pid}" in report
    assert "READ " not in report and "KILLED" not in report and "FOUND-SECRET" not in report
    assert neighbours.victim_serves()


def test_resizing_replaces_dynos_with_the_new_limits(neighbours: Neighbours) -> None:
    server, user = neighbours.server, neighbours.user
    bad = user.cove("ps:type", "web=huge", "-a", "hostile", check=False)
    assert bad.returncode != 0
    assert "Invalid dyno size 'huge'" in bad.stderr
    user.cove("ps:type", "web=standard-2x", "-a", "hostile")

    def resized() -> bool:
        dynos = server.api("GET", "/apps/hostile/dynos").json()
        return [(d["size"], d["state"]) for d in dynos] == [("Standard-2X", "up")]

    wait_for(resized, timeout=60, what="web.1 replaced by a Standard-2X dyno")
    assert "=== web (Standard-2X): python server.py (1)" in user.cove("ps", "-a", "hostile").stdout
    # standard-2x: 512 processes and threads, where standard-1x had 256.
    result = neighbours.attack("/forkbomb")
    assert 256 < result["forks"] < 512
    assert neighbours.victim_serves()
