"""Secrets stay off command lines: the sandbox's environment goes to bwrap through an fd,
add-on servers and clients get passwords from files and environment variables."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from cove import sandbox
from cove.addons.postgres import PostgresProvider
from cove.addons.redis import cli_invocation, config_text
from cove.sandbox.bwrap import env_args
from cove.sandbox.cgroups import Cgroup

SECRET = "s3cret value with spaces\nand=equals"


def test_env_args_are_nul_separated_bwrap_options() -> None:
    data = env_args({"A": "1", "EMPTY": "", "MULTI": SECRET})
    assert data.split(b"\0") == [
        b"--clearenv",
        *(b"--setenv", b"A", b"1"),
        *(b"--setenv", b"EMPTY", b""),
        *(b"--setenv", b"MULTI", SECRET.encode()),
        b"",  # every word is NUL-terminated
    ]
    with pytest.raises(ValueError, match="NUL"):
        env_args({"BAD": "a\0b"})


def test_sandbox_gets_its_environment_but_no_command_line_shows_it(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "SECRET": SECRET, "EMPTY": "", "BIG": "x" * 100_000}
    script = "env -0; ls /proc/self/fd > /tmp/fds; echo; cat /tmp/fds"
    # Through the cgroup wrapper shell too (its "cgroup.procs" is a plain file here): the
    # inherited fds must survive its exec of bwrap.
    cgroup = Cgroup("t", "v2", {"memory": tmp_path})
    with sandbox.command(
        ["/bin/sh", "-c", script], mounts=[], env=env, hostname="h", cwd="/"
    ) as launch:
        assert not any("SECRET" in a or SECRET in a for a in launch.argv)
        assert launch.argv[launch.argv.index("--args") + 1] == str(launch.pass_fds[0])
        done = subprocess.run(
            cgroup.wrap(launch.argv), capture_output=True, pass_fds=launch.pass_fds, check=True
        )
    environ, _, fds = done.stdout.rpartition(b"\0")
    seen = dict(item.split(b"=", 1) for item in environ.split(b"\0"))
    assert {k.decode(): v.decode() for k, v in seen.items()} == env | {"PWD": "/"}
    # bwrap closes the fd it read: the app does not inherit it.
    assert fds.split() == [b"0", b"1", b"2", b"3"]  # 3: ls's own directory handle


def test_memfds_are_closed_after_the_launch() -> None:
    with sandbox.command(["true"], mounts=[], env={"A": "b"}, hostname="h") as launch:
        (fd,) = launch.pass_fds
        assert os.pread(fd, 100, 0) == env_args({"A": "b"})
    with pytest.raises(OSError):
        os.fstat(fd)


def test_redis_password_goes_in_a_file_and_the_environment() -> None:
    resource = {"id": "r1", "port": 6380, "password": "pw-123"}
    argv, env = cli_invocation("/usr/bin/redis-cli", resource, ["PING"])
    assert "pw-123" not in " ".join(argv) and "-a" not in argv
    assert env["REDISCLI_AUTH"] == "pw-123"
    assert "requirepass pw-123\n" in config_text(resource)
    assert 'save ""\n' in config_text(resource)


def test_postgres_clients_get_the_password_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PGSERVICE", "stray")
    resource = {"database": "d1", "role": "u1", "password": "p/w@1", "host": "h", "port": 5432}
    assert PostgresProvider.client_url(resource) == "postgresql://u1@h:5432/d1"
    env = PostgresProvider.client_env(resource)
    assert env["PGPASSWORD"] == "p/w@1" and "PGSERVICE" not in env
