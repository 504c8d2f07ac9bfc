"""A sandbox that changes user (Cove as root): the app's user owns its /app overlay, the
pristine slug underneath is never written, and the steps that still run as root never see
the app's environment. Real bwrap; the root-only tests are skipped otherwise."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from cove import sandbox
from cove.sandbox import seccomp
from cove.sandbox.bwrap import environ_block
from cove.sandbox.users import SandboxUser, Users

UID = 200011
needs_root = pytest.mark.skipif(
    os.geteuid() != 0 or not sandbox.supports_ephemeral_mounts(),
    reason="needs root (per-app users) and overlays",
)


def _user(tmp_path: Path) -> SandboxUser:
    users = Users(tmp_path / "etc")
    user = users.for_uid(UID)
    assert user is not None
    return user


def _slug(tmp_path: Path, user: SandboxUser) -> Path:
    slug = tmp_path / "slug"
    (slug / "static").mkdir(parents=True)
    (slug / "app.py").write_text("print('hi')\n")
    user.chown(slug, recursive=True)
    return slug


def _run(
    script: str, slug: Path, user: SandboxUser, env: dict[str, str], argv: list[str] | None = None
) -> subprocess.CompletedProcess[str]:
    with sandbox.command(
        argv or ["/bin/bash", "-c", script],
        mounts=[sandbox.Mount(slug, "/app", ephemeral=True)],
        env=env,
        hostname="h",
        user=user,
        seccomp_program=seccomp.program(),
    ) as launch:
        return subprocess.run(
            launch.argv, capture_output=True, text=True, pass_fds=launch.pass_fds, timeout=60
        )


def test_environ_block_is_nul_terminated_and_refuses_what_an_environment_cannot_hold() -> None:
    assert environ_block({"A": "1 2", "B": "x=y\nz", "E": ""}) == b"A=1 2\0B=x=y\nz\0E=\0"
    with pytest.raises(ValueError, match="NUL"):
        environ_block({"A": "a\0b"})
    with pytest.raises(ValueError, match="name"):
        environ_block({"A=B": "1"})


@needs_root
def test_the_app_user_owns_app_and_the_slug_stays_pristine(tmp_path: Path) -> None:
    user = _user(tmp_path)
    slug = _slug(tmp_path, user)
    before = sorted(
        (p.relative_to(slug), p.stat().st_mode, p.stat().st_uid) for p in slug.rglob("*")
    )
    root_stat = slug.stat()
    script = (
        "stat -c '%u %g' /app; mkdir /app/logs && echo x > /app/logs/x.log && "
        "mkdir /app/.gunicorn && echo y > /app/static/new && rm /app/app.py && echo wrote; "
        "touch /etc/x /usr/x 2>/dev/null || echo read-only"
    )
    done = _run(script, slug, user, {"PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:3] == [f"{UID} {UID}", "wrote", "read-only"]
    after = sorted(
        (p.relative_to(slug), p.stat().st_mode, p.stat().st_uid) for p in slug.rglob("*")
    )
    assert after == before  # the writes went to the dyno's own layer
    assert (slug.stat().st_uid, slug.stat().st_mode) == (root_stat.st_uid, root_stat.st_mode)
    # The next sandbox starts from the pristine slug again.
    again = _run("ls -A /app", slug, user, {"PATH": "/usr/bin:/bin"})
    assert again.stdout.split() == ["app.py", "static"]


@needs_root
def test_root_steps_never_see_the_app_environment(tmp_path: Path) -> None:
    """LD_DEBUG_OUTPUT makes the dynamic loader write a file per process it starts, owned
    by that process's user: had a step that runs as root (chown, setpriv) seen the app's
    environment, a root-owned file would appear, and LD_PRELOAD would have run the app's
    code there with every capability."""
    user = _user(tmp_path)
    slug = _slug(tmp_path, user)
    secret = "s3cret with spaces\nand=equals"
    env = {
        "PATH": "/usr/bin:/bin",
        "LD_DEBUG": "files",
        "LD_DEBUG_OUTPUT": "/tmp/ld",
        "SECRET": secret,
        "TMOUT": "1",  # would make the loader's `read` time out, were it exported first
        "EMPTY": "",
    }
    script = "env -0 > /app/env; ls /proc/self/fd > /app/fds; stat -c 'owner=%u' /tmp/ld.*"
    done = _run(script, slug, user, env)
    assert done.returncode == 0, done.stderr
    owners = {word for word in done.stdout.split() if word.startswith("owner=")}
    assert owners == {f"owner={UID}"}
    seen = _run("cat /app/env 2>/dev/null; ls /app", slug, user, {"PATH": "/usr/bin:/bin"})
    assert "env" not in seen.stdout.split()  # (each sandbox has its own /app layer)
    plain = {k: v for k, v in env.items() if "LD_" not in k}
    environ = _run("", slug, user, plain, ["/usr/bin/env", "-0"]).stdout
    entries = dict(item.split("=", 1) for item in environ.split("\0") if item)
    # Exactly the app's environment (but for the SHLVL bash insists on), and the memfd it
    # came from is closed: the app inherits nothing but stdio.
    assert entries == plain | {"SHLVL": "0"}
    fds = _run("", slug, user, plain, ["/bin/ls", "/proc/self/fd"]).stdout
    assert fds.split() == ["0", "1", "2", "3"]  # 3: ls's own directory handle
