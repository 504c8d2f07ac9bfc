"""Cove's own Python installs appear in sandboxes at /cove/pythons, whatever COVE_HOME is:
what builds are told, what slugs' venvs record and what dynos are checked against use
that path; the server keeps the host's."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from cove.builder.stack import Interpreter, MissingInterpreter, Stack, discover


def stack_with_install(tmp_path: Path) -> tuple[Stack, Interpreter]:
    installs = tmp_path / "cove-home" / "stack" / "pythons"
    installs.mkdir(parents=True)
    stack = discover("test", (Path(sys.executable).parent,), installs=installs)
    prefix = installs / "cpython-3.99.1-linux-x86_64-gnu"
    installed = Interpreter("3.99.1", prefix / "bin" / "python3.99", prefix)
    stack.add(installed)
    return stack, installed


INSIDE = "/cove/pythons/cpython-3.99.1-linux-x86_64-gnu/bin/python3.99"


def test_builds_are_given_installed_interpreters_at_their_sandbox_path(tmp_path: Path) -> None:
    stack, installed = stack_with_install(tmp_path)
    found = stack.interpreters[0]  # found on the host (pyenv, the system): its own path
    assert stack.in_sandbox(installed.path) == INSIDE
    assert stack.in_sandbox(found.path) == str(found.path)
    versions = json.loads(stack.versions_json())
    assert versions == {found.version: str(found.path), "3.99.1": INSIDE}
    assert str(tmp_path) not in stack.versions_json()
    # The server still works with the host path (probes, permissions, the record).
    assert stack.find("3.99") == installed and installed.path.is_relative_to(tmp_path)


def test_sandboxes_bind_the_installs_at_a_fixed_path_and_others_at_their_own(
    tmp_path: Path,
) -> None:
    stack, _ = stack_with_install(tmp_path)
    found = stack.interpreters[0]
    mounts = {m.target: m.source for m in stack.mounts()}
    assert mounts["/cove/pythons"] == stack.installs
    assert mounts["/cove/bin/uv"] == stack.uv
    if found.prefix != Path("/usr"):  # (the system's /usr is in every sandbox already)
        assert mounts[str(found.prefix)] == found.prefix
    else:
        assert "/usr" not in mounts
    assert not any(str(tmp_path) in target for target in mounts)


def make_venv(app: Path, target: str) -> Path:
    bin_dir = app / ".heroku" / "python" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "python").symlink_to(target)
    return app


def test_a_slug_on_an_installed_interpreter_is_checked_by_its_sandbox_path(
    tmp_path: Path,
) -> None:
    stack, installed = stack_with_install(tmp_path)
    assert stack.provides(INSIDE)
    assert stack.dyno_mounts(make_venv(tmp_path / "new", INSIDE)) == stack.mounts()
    # A venv naming the host path would dangle in a sandbox, which never sees COVE_HOME.
    assert not stack.provides(str(installed.path))
    with pytest.raises(MissingInterpreter):
        stack.dyno_mounts(make_venv(tmp_path / "old", str(installed.path)))


def test_the_operator_is_told_the_host_path_of_an_install(tmp_path: Path) -> None:
    stack, installed = stack_with_install(tmp_path)
    assert stack.on_host(INSIDE) == str(installed.path)
    assert stack.on_host("/opt/python/bin/python3.12") == "/opt/python/bin/python3.12"


def test_the_installs_move_with_cove_home_and_keep_their_sandbox_path(tmp_path: Path) -> None:
    """Moving COVE_HOME moves the host path only: slugs built before still find theirs."""
    first, _ = stack_with_install(tmp_path / "a")
    second, _ = stack_with_install(tmp_path / "b")
    assert first.versions_json() == second.versions_json()
    assert second.provides(INSIDE)
