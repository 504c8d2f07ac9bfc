"""Dyno sizes and memory verdicts, per-app users, the sandbox command and uid allocation."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config

from cove import sandbox
from cove.builder.stack import Interpreter, discover, open_to_others
from cove.domain.dyno_sizes import MB, SIZES, dyno_size, memory_verdict, parse_size
from cove.domain.errors import InvalidParams
from cove.dynos.local import size_limits
from cove.sandbox import seccomp
from cove.sandbox.bwrap import LOAD_ENV, _resolver_mounts
from cove.sandbox.users import SandboxUser, Users
from cove.services import accounts, apps
from cove.services.apps import FIRST_APP_UID
from cove.store import Store
from cove.store.db import MIGRATIONS


def test_sizes_follow_heroku() -> None:
    assert parse_size("Standard-2X") == "standard-2x"
    with pytest.raises(InvalidParams, match="Invalid dyno size 'huge'"):
        parse_size("huge")
    one_x = dyno_size("standard-1x")
    assert (one_x.memory_mb, one_x.kill_bytes) == (512, 1024 * MB)
    assert dyno_size("performance-l").memory_mb == 14336
    assert dyno_size("unknown") == one_x  # rows from before a size existed
    assert [SIZES[s].cpu_share for s in ("standard-1x", "standard-2x")] == [1, 2]


def test_size_limits_cap_memory_at_the_r15_threshold() -> None:
    limits = size_limits(dyno_size("standard-2x"))
    assert limits.memory_bytes == 2048 * MB
    assert limits.pids == 512
    assert limits.cpu_weight == 200


def test_memory_verdicts() -> None:
    size = dyno_size("standard-1x")
    assert memory_verdict(size, None, False) is None
    assert memory_verdict(size, 512 * MB, False) is None  # at the quota is fine
    assert memory_verdict(size, 513 * MB, False) == "R14"
    assert memory_verdict(size, 1024 * MB, False) == "R15"
    assert memory_verdict(size, 100 * MB, True) == "R15"  # the kernel killed a process


def test_sandbox_user_drops_everything(tmp_path: Path) -> None:
    user = SandboxUser(200007, tmp_path)
    argv = user.drop_argv()
    assert argv[0] == "/usr/bin/setpriv" and argv[-1] == "--"
    for flag in ("--reuid=200007", "--regid=200007", "--clear-groups", "--no-new-privs"):
        assert flag in argv
    assert "--bounding-set=-all" in argv and "--inh-caps=-all" in argv


def test_users_write_a_private_passwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    users = Users(tmp_path)
    monkeypatch.setattr(users, "enabled", True)
    user = users.for_uid(200001)
    assert user is not None and user.name == "u200001"
    passwd = (tmp_path / "200001" / "passwd").read_text().splitlines()
    assert "u200001:x:200001:200001:u200001:/app:/bin/bash" in passwd
    assert len(passwd) == 3  # root, the app's user, nobody: no host accounts
    assert (tmp_path / "200001" / "group").stat().st_mode & 0o777 == 0o644
    assert users.for_uid(None) is None
    monkeypatch.setattr(users, "enabled", False)  # Cove not root: apps run as Cove's user
    assert users.for_uid(200001) is None


def test_sandbox_command_runs_as_the_user(tmp_path: Path) -> None:
    user = SandboxUser(200003, tmp_path)
    with sandbox.command(
        ["python", "app.py"],
        mounts=[
            sandbox.Mount(tmp_path, "/app", writable=True),
            sandbox.Mount(tmp_path, "/root/.pyenv/versions/3.12.1"),
        ],
        env={},
        hostname="h",
        user=user,
    ) as launch:
        argv, app_env_fd = launch.argv, launch.pass_fds[0]
    tail = argv[argv.index("--") + 1 :]
    # The app's environment is loaded once the command runs as the app's user.
    loader = ["/bin/bash", "--noprofile", "--norc", "-c", LOAD_ENV, "cove-env", str(app_env_fd)]
    assert tail == [*user.drop_argv(), *loader, "python", "app.py"]
    assert ["--ro-bind", str(tmp_path / "passwd"), "/etc/passwd"] == argv[
        argv.index(str(tmp_path / "passwd")) - 1 : argv.index(str(tmp_path / "passwd")) + 2
    ]
    # Every directory leading to a mount is created crossable, ancestors first.
    dirs = [argv[i + 1] for i, a in enumerate(argv) if a == "--dir"]
    resolver = _resolver_mounts(Path("/etc/resolv.conf"))  # where it links into /run
    host_dirs = [resolver[i + 1] for i, a in enumerate(resolver) if a == "--dir"]
    assert dirs == [*host_dirs, "/root", "/root/.pyenv", "/root/.pyenv/versions"]
    assert argv[argv.index("/tmp") - 3 : argv.index("/tmp")] == ["--perms", "1777", "--tmpfs"]
    # Without a user, nothing changes identity.
    with sandbox.command(["true"], mounts=[], env={}, hostname="h") as launch:
        plain = launch.argv
    assert "/usr/bin/setpriv" not in plain and "/etc/passwd" not in plain


def test_apps_get_distinct_uids(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'cove.db'}")
    store.migrate()
    owner = accounts.ensure_admin(store)
    assert owner is not None
    admin = accounts.authenticate(store, owner)
    first = apps.create(store, admin.id, "first")
    second = apps.create(store, admin.id, "second")
    assert (first.uid, second.uid) == (FIRST_APP_UID, FIRST_APP_UID + 1)
    apps.destroy(store, "first")
    assert apps.create(store, admin.id, "third").uid == FIRST_APP_UID + 2


def test_migration_gives_existing_apps_uids(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cove.db'}"
    store = Store(url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url)
    config.attributes["connection_url"] = url
    command.upgrade(config, "0002")
    with sqlite3.connect(tmp_path / "cove.db") as db:
        db.execute(
            "INSERT INTO accounts (id, email, name, created_at, updated_at) "
            "VALUES ('u', 'a@b', 'a', '2026-01-01', '2026-01-01')"
        )
        for app_id in ("a1", "a2"):
            db.execute(
                "INSERT INTO apps (id, name, owner_id, maintenance, config, buildpacks, restarts, "
                "created_at, updated_at) VALUES (?, ?, 'u', 0, '{}', '[]', '{}', "
                "'2026-01-01', '2026-01-01')",
                (app_id, app_id),
            )
    store.migrate()
    with sqlite3.connect(tmp_path / "cove.db") as db:
        uids = sorted(row[0] for row in db.execute("SELECT uid FROM apps"))
    assert uids == [FIRST_APP_UID, FIRST_APP_UID + 1]


def test_seccomp_filter_refuses_user_namespaces_and_keeps_the_rest() -> None:
    if seccomp.program() is None:
        pytest.skip("no filter for this architecture")
    script = (
        "unshare -Ur true 2>/dev/null && echo userns-allowed || echo userns-refused; "
        'python3 -c \'import threading; t = threading.Thread(target=print, args=("threads",)); '
        "t.start(); t.join()'; "
        'python3 -c \'import subprocess; subprocess.run(["echo", "spawn"])\''
    )
    with sandbox.command(
        ["/bin/sh", "-c", script],
        mounts=[],
        env={"PATH": "/usr/bin:/bin"},
        hostname="h",
        cwd="/",
        seccomp_program=seccomp.program(),
    ) as launch:
        argv = launch.argv
        assert int(argv[argv.index("--seccomp") + 1]) in launch.pass_fds
        done = subprocess.run(
            argv, capture_output=True, text=True, pass_fds=launch.pass_fds, check=True
        )
    assert done.stdout.split() == ["userns-refused", "threads", "spawn"]


def fake_interpreter(root: Path, mode: int) -> Interpreter:
    prefix = root / "python"
    (prefix / "lib" / "python3.12").mkdir(parents=True)
    (prefix / "bin").mkdir()
    exe = prefix / "bin" / "python3.12"
    exe.write_text("")
    exe.chmod(0o755)
    prefix.chmod(mode)
    return Interpreter("3.12.1", exe, prefix)


def test_stack_interpreters_must_be_open_to_app_users(tmp_path: Path) -> None:
    assert open_to_others(fake_interpreter(tmp_path / "open", 0o755))
    # e.g. a pyenv build installed under umask 077: only its owner can run it.
    assert not open_to_others(fake_interpreter(tmp_path / "closed", 0o700))


def test_discover_leaves_out_what_app_users_cannot_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bin_dir = Path(sys.executable).parent
    assert discover("test", (bin_dir,)).skipped == ()
    monkeypatch.setattr("cove.builder.stack.open_to_others", lambda _: False)
    assert discover("test", (bin_dir,)).interpreters  # only checked for shared stacks
    with pytest.raises(RuntimeError) as failure:
        discover("test", (bin_dir,), shared=True)
    message = str(failure.value)
    assert message.startswith("No Python 3.8+ interpreters were found for the stack.")
    assert "is left out of the stack: app users can't run it (chmod -R a+rX " in message
