"""Multi-buildpack builds: the export hand-over between buildpacks, each build's private
copies of its buildpacks, and Heroku's URLs of the built-in buildpacks."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from cove.api.routes.buildpack_registry import registry_buildpack
from cove.builder import buildpacks
from cove.builder.buildpacks import Buildpack, builtin_name, compile_argv, stage, validate_url
from cove.domain.errors import InvalidParams, NotFound


def _pack(root: Path, index: int, compile_body: str = "") -> Buildpack:
    """A buildpack as staged for a build: its directory is ``root/<index>``."""
    bin_dir = root / str(index) / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "compile").write_text(f"#!/usr/bin/env bash\n{compile_body}\n")
    (bin_dir / "compile").chmod(0o755)
    return Buildpack(f"bp{index}", root / str(index), index)


def _run_compile(root: Path, pack: Buildpack, earlier: list[Buildpack]) -> str:
    """The compile command line as the sandbox runs it, with /buildpacks at ``root``."""
    argv = [arg.replace("/buildpacks/", f"{root}/") for arg in compile_argv(pack, earlier)]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=True)
    return result.stdout


def test_later_buildpacks_see_the_earlier_exports_in_order(tmp_path: Path) -> None:
    first, second = _pack(tmp_path, 0), _pack(tmp_path, 1)
    (tmp_path / "0" / "export").write_text(
        'export PATH="/opt/node/bin:$PATH"\nexport TOOL=node\nexport ORDER=first\nLOCAL=x\n'
    )
    (tmp_path / "1" / "export").write_text("export ORDER=second\n")
    third = _pack(tmp_path, 2, 'echo "$PATH|$TOOL|$ORDER|${LOCAL:-unset}|$#|$1 $2 $3"')
    path, tool, order, local, argc, args = (
        _run_compile(tmp_path, third, [first, second]).strip().split("|")
    )
    assert path.startswith("/opt/node/bin:")
    assert (tool, order, argc, args) == ("node", "second", "3", "/app /cache /env")
    # Only what an export file exports reaches the next compile, as on Heroku.
    assert local == "unset"


def test_a_buildpack_without_an_export_file_is_skipped(tmp_path: Path) -> None:
    first = _pack(tmp_path, 0)
    second = _pack(tmp_path, 1, 'echo "ran in $PWD with ${TOOL:-nothing}"')
    assert _run_compile(tmp_path, second, [first]).strip().endswith("with nothing")


def test_the_first_buildpack_sources_nothing(tmp_path: Path) -> None:
    assert compile_argv(Buildpack("bp", tmp_path, 0), []) == [
        "/bin/bash",
        "-c",
        buildpacks._SOURCE_EXPORTS,
        "--",
        "--",
        "/buildpacks/0/bin/compile",
        "/app",
        "/cache",
        "/env",
    ]


def test_an_export_that_changes_directory_does_not_move_the_compile(tmp_path: Path) -> None:
    first = _pack(tmp_path, 0)
    (tmp_path / "0" / "export").write_text("cd /\n")
    second = _pack(tmp_path, 1, 'echo "$PWD"')
    argv = [a.replace("/buildpacks/", f"{tmp_path}/") for a in compile_argv(second, [first])]
    out = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=30)
    assert out.stdout.strip() == str(tmp_path)


def test_the_compile_exit_status_is_the_build_step_status(tmp_path: Path) -> None:
    first = _pack(tmp_path, 0)
    (tmp_path / "0" / "export").write_text("false\n")  # a failing last line is no failure
    second = _pack(tmp_path, 1, "exit 7")
    argv = [a.replace("/buildpacks/", f"{tmp_path}/") for a in compile_argv(second, [first])]
    assert subprocess.run(argv, capture_output=True, timeout=30).returncode == 7


def test_stage_copies_each_buildpack_without_git_or_a_stale_export(tmp_path: Path) -> None:
    source = tmp_path / "original"
    (source / "bin").mkdir(parents=True)
    (source / "bin" / "compile").write_text("#!/bin/sh\n")
    (source / "bin" / "compile").chmod(0o755)
    (source / "export").write_text("export STALE=1\n")
    (source / "lib").mkdir()
    (source / "lib" / "export").write_text("kept: not the hand-over file\n")
    (source / ".git").mkdir()
    (source / ".git" / "HEAD").write_text("ref\n")
    (source / "link").symlink_to("/etc/hostname")
    os.mkfifo(source / "lib" / "fifo")  # would block the copy forever
    packs = [
        Buildpack("/x", source, 0),
        Buildpack("heroku/python", buildpacks.BUILTIN_DIR / "python", 1),
    ]

    mount = stage(packs, tmp_path / "staged")

    assert (mount.source, mount.target, mount.writable) == (
        tmp_path / "staged",
        "/buildpacks",
        True,
    )
    copy = tmp_path / "staged" / "0"
    assert (copy / "bin" / "compile").stat().st_mode & 0o111
    assert (copy / "lib" / "export").is_file()
    assert not (copy / "export").exists() and not (copy / ".git").exists()
    assert (copy / "link").is_symlink()  # copied as a link, never followed on the host
    assert not (copy / "lib" / "fifo").exists()
    assert (tmp_path / "staged" / "1" / "bin" / "release").is_file()
    assert (source / "export").exists()  # the original is untouched


@pytest.mark.parametrize(
    "url",
    [
        "heroku/python",
        "https://buildpack-registry.s3.amazonaws.com/buildpacks/heroku/python.tgz",
        "https://codon-buildpacks.s3.amazonaws.com/buildpacks/heroku/python.tgz",
        "https://github.com/heroku/heroku-buildpack-python",
        "https://github.com/heroku/heroku-buildpack-python.git",
        "https://github.com/heroku/heroku-buildpack-python#v351",
    ],
)
def test_heroku_urls_of_a_built_in_buildpack_name_it(url: str) -> None:
    assert builtin_name(url) == "heroku/python"
    assert validate_url(url) == "heroku/python"
    assert buildpacks.resolve([url])[0].path == buildpacks.BUILTIN["heroku/python"]


@pytest.mark.parametrize(
    "url",
    [
        "https://buildpack-registry.s3.amazonaws.com/buildpacks/heroku/no-such-pack.tgz",
        "https://buildpack-registry.s3.amazonaws.com/buildpacks/someone/python.tgz",
        "https://github.com/someone/heroku-buildpack-python",
    ],
)
def test_other_urls_are_not_taken_for_a_built_in(url: str) -> None:
    assert builtin_name(url) == url
    with pytest.raises(InvalidParams, match="is not supported"):
        validate_url(url)


def test_the_registry_lookup_gives_the_cli_a_url_cove_reads_as_the_built_in() -> None:
    answer = registry_buildpack("heroku", "python")
    assert answer["blob_url"] == (
        "https://buildpack-registry.s3.amazonaws.com/buildpacks/heroku/python.tgz"
    )
    assert validate_url(answer["blob_url"]) == "heroku/python"
    # Cove's own names aren't Heroku's registry's: the CLI installs the name itself.
    assert registry_buildpack("cove", "python")["blob_url"] == "cove/python"


def test_the_registry_lookup_of_another_buildpack_is_not_found() -> None:
    with pytest.raises(NotFound, match="heroku/ruby is not a built-in buildpack"):
        registry_buildpack("heroku", "ruby")
