"""The stack's record of its interpreters, and what a slug's virtualenv needs from it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from cove.builder import stack as stack_module
from cove.builder.slug import slug_interpreter, venv_interpreter
from cove.builder.stack import Interpreter, MissingInterpreter, discover, read_record


def this_python() -> Interpreter:
    """The interpreter running the tests, as discovery sees it."""
    bin_dir = Path(sys.executable).parent
    stack = discover("test", (bin_dir,))
    return stack.interpreters[0]


def test_a_recorded_interpreter_stays_in_the_stack_when_discovery_no_longer_finds_it(
    tmp_path: Path,
) -> None:
    record = tmp_path / "stack" / "interpreters.json"
    found = discover("test", (Path(sys.executable).parent,), record=record)
    interp = found.interpreters[0]
    assert read_record(record) == [interp]

    # Started again where discovery finds nothing (another $HOME): the record keeps it.
    empty = tmp_path / "empty"
    empty.mkdir()
    again = discover("test", (empty,), record=record)
    assert again.interpreters == (interp,)
    assert again.provides(str(interp.path))


def test_a_gone_interpreter_leaves_the_stack_but_stays_recorded(tmp_path: Path) -> None:
    record = tmp_path / "interpreters.json"
    interp = this_python()
    gone = Interpreter("3.99.0", tmp_path / "gone/bin/python3.99", tmp_path / "gone")
    record.write_text(
        json.dumps(
            {
                "interpreters": [
                    {"version": i.version, "path": str(i.path), "prefix": str(i.prefix)}
                    for i in (interp, gone)
                ]
            }
        )
    )
    stack = discover("test", (tmp_path,), record=record)
    assert stack.interpreters == (interp,)
    assert not stack.provides(str(gone.path))
    assert read_record(record) == [interp, gone]  # used again if it comes back


def test_an_interpreter_reached_through_links_is_probed_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # uv lays out its installs with a minor-version directory linking to each one.
    real = this_python()
    install = tmp_path / "cpython-3.x.y" / "bin"
    install.mkdir(parents=True)
    (install / real.path.name).symlink_to(real.path)
    (tmp_path / "cpython-3.x").symlink_to(tmp_path / "cpython-3.x.y")
    record = tmp_path / "interpreters.json"
    discover("test", (install,), record=record)  # records the resolved path
    probed: list[Path] = []
    original = stack_module._probe

    def probe(exe: Path) -> Interpreter | None:
        probed.append(exe)
        return original(exe)

    monkeypatch.setattr(stack_module, "_probe", probe)
    stack = discover("test", (install, tmp_path / "cpython-3.x" / "bin"), record=record)
    assert probed == [real.path]
    assert stack.interpreters == (real,)


def test_an_unreadable_record_is_rebuilt_from_what_is_found(tmp_path: Path) -> None:
    record = tmp_path / "interpreters.json"
    record.write_text("{not json")
    stack = discover("test", (Path(sys.executable).parent,), record=record)
    assert read_record(record) == list(stack.interpreters)


def test_the_system_interpreters_are_always_provided() -> None:
    stack = discover("test", (Path(sys.executable).parent,))
    assert stack.provides("/usr/bin/python3.11")
    assert not stack.provides("/opt/elsewhere/bin/python3.11")
    assert not stack.provides("/usrx/bin/python3")


def make_venv(app: Path, target: str) -> None:
    bin_dir = app / ".heroku" / "python" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "python").symlink_to(target)


def test_a_dyno_of_a_slug_whose_interpreter_is_gone_fails_to_start_saying_which(
    tmp_path: Path,
) -> None:
    stack = discover("test", (Path(sys.executable).parent,))
    ok, stale, none = tmp_path / "ok", tmp_path / "stale", tmp_path / "none"
    make_venv(ok, str(stack.interpreters[0].path))
    make_venv(stale, "/home/someone/.pyenv/versions/3.12.1/bin/python3.12")
    none.mkdir()
    assert stack.dyno_mounts(ok) == stack.mounts()
    assert stack.dyno_mounts(none) == stack.mounts()
    with pytest.raises(MissingInterpreter) as failure:
        stack.dyno_mounts(stale)
    assert str(failure.value).startswith(
        "the slug's virtualenv needs the Python interpreter "
        "/home/someone/.pyenv/versions/3.12.1/bin/python3.12, which the stack no longer has."
    )


def test_the_venv_interpreter_is_read_without_following_the_slugs_symlinks(
    tmp_path: Path,
) -> None:
    # A hostile slug's .heroku pointing into the host must not make Cove read there.
    host = tmp_path / "host"
    make_venv(host, "/secret/target")
    app = tmp_path / "app"
    app.mkdir()
    (app / ".heroku").symlink_to(host / ".heroku")
    assert venv_interpreter(host) == "/secret/target"
    assert venv_interpreter(app) is None
    relative = tmp_path / "relative"
    make_venv(relative, "python3.12")
    assert venv_interpreter(relative) is None


def test_the_slug_interpreter_is_read_from_the_archive_when_not_unpacked(
    tmp_path: Path,
) -> None:
    build = tmp_path / "build"
    make_venv(build, "/root/.pyenv/versions/3.12.1/bin/python3.12")
    (build / "app.py").write_text("print('hi')\n")
    slugs = tmp_path / "slugs"
    slugs.mkdir()
    slug = slugs / "abc.tar.zst"
    subprocess.run(
        ["tar", "--use-compress-program=zstd -1 -q", "-cf", str(slug), "-C", str(build), "."],
        check=True,
    )
    assert slug_interpreter(slug) == "/root/.pyenv/versions/3.12.1/bin/python3.12"
    assert slug_interpreter(slugs / "missing.tar.zst") is None
