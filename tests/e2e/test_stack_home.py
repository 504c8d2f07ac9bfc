"""The stack is a recorded set: restarting `cove server` with another $HOME keeps the
interpreters slugs were built against, and a release whose interpreter is gone is named at
start and its dyno says why it can't start."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from cove.builder.slug import venv_interpreter
from tests.e2e.harness import CoveServer, User, server_env, wait_for


def system_python() -> tuple[Path, str]:
    """The host's /usr/bin/python3.X and its X.Y (Debian always has one)."""
    for exe in sorted(Path("/usr/bin").glob("python3.*")):
        match = re.fullmatch(r"python(3\.\d+)", exe.name)
        if match and Path(f"/usr/lib/python{match[1]}/os.py").is_file():
            return exe, match[1]
    pytest.skip("no /usr/bin/python3.X with its standard library in /usr/lib")


def python_in_home(home: Path) -> tuple[Path, str]:
    """A Python installed only under ``home``, where the server finds it through $HOME
    (``~/.pyenv/versions/<v>/bin``): the system interpreter's binary copied in (6 MB)
    and its standard library linked, so its sys.prefix is this directory."""
    exe, version = system_python()
    prefix = home / ".pyenv" / "versions" / f"{version}-home"
    (prefix / "bin").mkdir(parents=True)
    (prefix / "lib").mkdir()
    (prefix / "lib" / f"python{version}").symlink_to(f"/usr/lib/python{version}")
    shutil.copy2(exe, prefix / "bin" / exe.name)
    for path in (prefix, prefix / "bin", prefix / "lib"):
        path.chmod(0o755)  # app users run it
    return prefix / "bin" / exe.name, version


def venv_pythons(server: CoveServer) -> list[str | None]:
    """Where the unpacked slugs' virtualenvs link their interpreter (read in COVE_HOME,
    through their venv layers)."""
    slugs = (server.home / "slugs").iterdir()
    return [venv_interpreter(s) for s in slugs if s.is_dir() and "." not in s.name]


def test_restart_with_another_home_keeps_the_stack(tmp_path: Path) -> None:
    first_home, second_home = tmp_path / "home-a", tmp_path / "home-b"
    second_home.mkdir()
    python, version = python_in_home(first_home)
    home = tmp_path / "cove-home"
    server = CoveServer(home, tmp_path / "server.log", server_env(home) | {"HOME": str(first_home)})
    server.start()
    try:
        user = User.logged_in(tmp_path / "dev", server)
        repo = user.new_repo("crashy", "homeless")
        (repo / ".python-version").write_text(version + "\n")
        user.commit_all(repo, "Pin the Python version")
        user.cove("apps:create", "homeless", cwd=repo)
        user.cove("config:set", "TEXT=served", cwd=repo)
        user.push(repo)
        assert server.get("homeless").text == "served"
        # The honest reproduction: the venv was built against the interpreter under $HOME.
        assert venv_pythons(server) == [str(python)]

        server.stop()
        server.env["HOME"] = str(second_home)  # another user's HOME: no ~/.pyenv there
        server.start()
        wait_for(
            lambda: server.get("homeless").text == "served", 60, what="the app after a restart"
        )
        assert "needs the Python interpreter" not in server.log_path.read_text()

        # The interpreter is removed: the release that needs it is named at start, and its
        # dyno's failure to start says why, instead of crash-looping silently.
        server.stop()
        shutil.rmtree(python.parent.parent)
        server.start()
        report = server.log_path.read_text().rsplit("Cove is running", 1)[1]
        assert (
            f"Warning: homeless v3 needs the Python interpreter {python}, which the stack no "
            "longer has: its dynos can't start." in report
        )

        def logs() -> str:
            return user.cove("logs", "-n", "200", "-a", "homeless").stdout

        wait_for(lambda: "Failed to start" in logs(), 60, what="the dyno's start failure")
        assert (
            f"heroku[web.1]: Failed to start: the slug's virtualenv needs the Python "
            f"interpreter {python}, which the stack no longer has." in logs()
        )
        assert [d["state"] for d in server.api("GET", "/apps/homeless/dynos").json()] == ["crashed"]
    finally:
        server.stop()
