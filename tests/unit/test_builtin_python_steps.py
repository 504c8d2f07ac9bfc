"""The server answers two of Cove's own Python buildpack's steps without a sandbox: bin/detect
(from the names in the app's root, never following the app's symlinks) and bin/release (it
declares no process types)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from cove import sandbox
from cove.builder import buildpacks
from cove.builder.buildpacks import BUILTIN, Buildpack, BuildSandbox

PYTHON = Buildpack("heroku/python", BUILTIN["heroku/python"], 0)
DETECT = buildpacks._python_detect()


class RecordingSandbox(BuildSandbox):
    """Records the steps that would have run in a sandbox; each "succeeds" printing Python."""

    ran: list[str]

    async def run(self, argv: Sequence[str], *args: Any, **kwargs: Any) -> tuple[int, str]:
        self.ran.append(argv[0])
        return 0, "Python\n"


def _box(app: Path) -> RecordingSandbox:
    box = RecordingSandbox([sandbox.Mount(app, "/app", writable=True)], {}, 60)
    box.ran = []
    return box


@pytest.mark.parametrize("name", [*DETECT.DETECT_FILES, *DETECT.DETECT_DIRS])
def test_the_server_detects_a_python_app_as_bin_detect_does(tmp_path: Path, name: str) -> None:
    if name in DETECT.DETECT_DIRS:
        (tmp_path / name).mkdir()
    else:
        (tmp_path / name).write_text("")
    box = _box(tmp_path)
    assert asyncio.run(box.detect(PYTHON)) == "Python"
    assert box.ran == []
    assert DETECT.is_python_app(str(tmp_path))


def test_the_server_rejects_an_app_without_python_names(tmp_path: Path) -> None:
    (tmp_path / "package.json").write_text("{}")
    (tmp_path / "requirements.txt").mkdir()  # a directory of that name is no requirements file
    box = _box(tmp_path)
    assert asyncio.run(box.detect(PYTHON)) is None
    assert box.ran == []
    assert not DETECT.is_python_app(str(tmp_path))


def test_a_symlinked_name_is_left_to_the_sandboxed_bin_detect(tmp_path: Path) -> None:
    """The server never follows an app's symlink (it could point at a file only root may
    see): the buildpack's bin/detect decides, as the app's user."""
    app = tmp_path / "app"
    app.mkdir()
    (app / "requirements.txt").symlink_to(tmp_path / "secret")
    box = _box(app)
    assert asyncio.run(box.detect(PYTHON)) == "Python"
    assert box.ran == [f"{PYTHON.mount_point}/bin/detect"]


def test_other_buildpacks_detect_in_the_sandbox(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("")
    box = _box(tmp_path)
    node = Buildpack("heroku/nodejs", BUILTIN["heroku/nodejs"], 0)
    asyncio.run(box.detect(node))
    assert box.ran == [f"{node.mount_point}/bin/detect"]


def test_the_python_buildpacks_release_declares_no_process_types_without_a_sandbox(
    tmp_path: Path,
) -> None:
    box = _box(tmp_path)
    assert asyncio.run(box.release(PYTHON)) == {}
    assert box.ran == []
