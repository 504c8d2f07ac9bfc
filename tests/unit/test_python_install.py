"""Installing Python versions the stack lacks: the rules decided before uv runs, the
stack growing while the server runs, and the settings."""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
from pathlib import Path

import pytest

from cove.builder.python_install import PythonInstaller, PythonUnavailable
from cove.builder.stack import Interpreter, Stack, discover, read_record
from cove.builder.streamed import last_error as _last_error
from cove.settings import Settings
from tests.e2e.python_mirror import system_python


def stack_of(tmp_path: Path) -> Stack:
    installs = tmp_path / "stack" / "pythons"
    installs.mkdir(parents=True)
    return discover(
        "test",
        (Path(sys.executable).parent,),
        record=tmp_path / "stack" / "interpreters.json",
        installs=installs,
    )


def refusal(tmp_path: Path, spec: str, **settings: str) -> str:
    stack = stack_of(tmp_path)
    installer = PythonInstaller(Settings(home=tmp_path, **settings), stack)
    lines: list[tuple[str, str]] = []
    with pytest.raises(PythonUnavailable) as raised:
        asyncio.run(installer.provide(spec, "in .python-version", lambda *line: lines.append(line)))
    assert lines == []  # nothing was downloaded
    return str(raised.value)


def test_without_downloads_the_message_says_how_to_add_the_version(tmp_path: Path) -> None:
    message = refusal(tmp_path, "3.14.99", python_downloads="never")
    pythons = tmp_path / "stack" / "pythons"
    assert message.startswith(
        "Python 3.14.99 was requested in .python-version, but this Cove stack only has: "
    )
    assert "Downloads are off (COVE_PYTHON_DOWNLOADS=never)." in message
    assert f"uv python install 3.14.99 --install-dir {pythons} --no-bin" in message
    assert "COVE_PYTHON_INSTALL_MIRROR" in message and "COVE_PYTHON_DIRS" in message


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        (
            "3.9",
            "Python 3.9 has reached its upstream end of life: like Heroku, Cove only "
            "installs Python 3.10 to 3.14.",
        ),
        ("3.15", "Python 3.15 isn't a version Cove recognises: it installs Python 3.10 to 3.14."),
    ],
)
def test_only_heroku_supported_major_versions_are_downloaded(
    tmp_path: Path, spec: str, reason: str
) -> None:
    assert reason in refusal(tmp_path, spec)


def test_an_installed_interpreter_joins_the_stack_and_its_record(tmp_path: Path) -> None:
    stack = stack_of(tmp_path)
    assert stack.installs is not None
    before = stack.interpreters
    prefix = stack.installs / "cpython-3.99.1-linux-x86_64-gnu"
    new = Interpreter("3.99.1", prefix / "bin" / "python3.99", prefix)
    stack.add(new)
    assert stack.find("3.99") == new and stack.find("3.99.1") == new
    assert stack.interpreters == (*before, new)
    # Sandboxes (and so the slugs' venvs) see it under /cove/pythons, not in COVE_HOME.
    assert stack.provides("/cove/pythons/cpython-3.99.1-linux-x86_64-gnu/bin/python3.99")
    assert new in read_record(tmp_path / "stack" / "interpreters.json")
    # The install directory is bound as a whole (what is installed during a build shows
    # up in its sandbox), not each interpreter in it.
    mounts = [(m.source, m.target) for m in stack.mounts()]
    assert (stack.installs, "/cove/pythons") in mounts
    assert not any(source == prefix or str(tmp_path) in target for source, target in mounts)


def test_an_empty_stack_is_allowed_only_with_downloads(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(RuntimeError, match=r"No Python 3.8\+ interpreters"):
        discover("test", (empty,))
    stack = discover("test", (empty,), allow_empty=True)
    assert stack.interpreters == ()
    assert stack.buildpack_python.version.startswith("3.")  # the host's own runs buildpacks
    assert stack.default_version("", "3.14") == "3.14"


def test_download_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COVE_PYTHON_DOWNLOADS", raising=False)
    assert Settings.from_env().python_downloads == "automatic"
    monkeypatch.setenv("COVE_PYTHON_DOWNLOADS", "Never")
    assert Settings.from_env().python_downloads == "never"
    monkeypatch.setenv("COVE_PYTHON_DOWNLOADS", "sometimes")
    with pytest.raises(ValueError, match="COVE_PYTHON_DOWNLOADS must be automatic or never"):
        Settings.from_env()


def test_uv_errors_are_shown_without_progress_lines() -> None:
    out = "Downloading cpython-3.12.1 (download)\nerror: Failed to download\n  cause: 404"
    assert _last_error(out) == "error: Failed to download cause: 404"
    assert _last_error(json.dumps([])) == "[]"


def test_a_version_the_operator_installed_is_found_without_a_restart(tmp_path: Path) -> None:
    """The how-to's `uv python install ... --install-dir COVE_HOME/stack/pythons` puts it
    where the next build finds it, even with downloads off."""
    exe, version = system_python()
    major = ".".join(version.split(".")[:2])
    empty = tmp_path / "empty"
    empty.mkdir()
    installs = tmp_path / "stack" / "pythons"
    installs.mkdir(parents=True)
    stack = discover("test", (empty,), installs=installs, allow_empty=True)
    installer = PythonInstaller(Settings(home=tmp_path, python_downloads="never"), stack)
    # Laid out as uv does (bin/ and lib/pythonX.Y), the system's binary and its stdlib.
    prefix = installs / f"cpython-{version}-linux-x86_64-gnu"
    (prefix / "bin").mkdir(parents=True)
    (prefix / "lib").mkdir()
    (prefix / "lib" / f"python{major}").symlink_to(f"/usr/lib/python{major}")
    shutil.copy2(exe, prefix / "bin" / exe.name)
    found = asyncio.run(installer.provide(major, "in .python-version", lambda *_: None))
    assert found.prefix == prefix and found.version == version
    assert stack.find(major) == found
