"""Python versions the stack lacks are installed by the server when a build asks for them,
from a download source (here a local mirror: no network), once for every app; where that
can't be done the build says how to add the interpreter. Sandboxes see the installs at
/cove/pythons, never COVE_HOME's path, so their slugs survive COVE_HOME moving. And the
app's environment has Heroku's packaging tools: pkg_resources imports on Python 3.12 and
older."""

from __future__ import annotations

import json
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from cove.builder.layers import venv_layers
from tests.e2e.harness import CoveServer, User, running_server, wait_for
from tests.e2e.python_mirror import Mirror, serve, session_archive, system_python

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def mirror(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mirror]:
    with serve(session_archive(tmp_path_factory)) as served:
        yield served


def pinned_app(user: User, name: str, pin: tuple[str, str]) -> Path:
    repo = user.new_repo("python-info", name)
    (repo / pin[0]).write_text(pin[1] + "\n")
    user.commit_all(repo, "Pin the Python version")
    user.cove("apps:create", name, cwd=repo)
    return repo


def venvs(server: CoveServer) -> list[Path]:
    """The virtualenvs of the unpacked slugs (read in COVE_HOME): the venv layer a slug
    stacks on (its upper layer is empty when the build didn't change the venv), or the
    slug's own."""
    found = []
    for slug in (server.home / "slugs").iterdir():
        if not slug.is_dir() or "." in slug.name:  # beside the slugs: their upper layers
            continue
        layers = venv_layers(slug) or ()
        holding = [d for d in reversed(layers) if (d / "pyvenv.cfg").is_file()]
        found.append(holding[0] if holding else slug / ".heroku" / "python")
    return found


def python_info(server: CoveServer, app: str) -> dict[str, str]:
    response = server.get(app)
    assert response.status_code == 200, response.text
    info: dict[str, str] = json.loads(response.text)
    return info


def test_a_version_the_stack_lacks_is_downloaded_once_for_every_app(
    tmp_path: Path, mirror: Mirror
) -> None:
    version, major = mirror.archive.version, mirror.archive.major
    no_pythons = tmp_path / "no-pythons"  # the stack has none: not even the system's
    no_pythons.mkdir()
    with running_server(tmp_path, COVE_PYTHON_DIRS=str(no_pythons), **mirror.settings()) as server:
        pythons = server.home / "stack" / "pythons"
        user = User.logged_in(tmp_path / "dev", server)
        repos = {
            "pinned-major": pinned_app(user, "pinned-major", (".python-version", major)),
            "pinned-exact": pinned_app(user, "pinned-exact", ("runtime.txt", f"python-{version}")),
        }
        # Both builds need the version at once: one downloads it, the other waits for it.
        pushes: dict[str, str] = {}

        def push(name: str) -> None:
            pushes[name] = user.push(repos[name]).stderr

        threads = [threading.Thread(target=push, args=(name,)) for name in repos]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=600)
        assert set(pushes) == set(repos), "a push didn't finish"
        assert mirror.downloads == [f"/20990101/{mirror.archive.filename}"]
        downloading = [n for n, out in pushes.items() if "-----> Downloading Python" in out]
        assert len(downloading) == 1, pushes
        assert (
            f"-----> Downloading Python {version} into the stack (once, for every app)"
            in pushes[downloading[0]]
        )
        # Recorded like every interpreter of the stack (host paths: the server's), open to
        # every app's user.
        record = json.loads((server.home / "stack" / "interpreters.json").read_text())
        [installed] = record["interpreters"]
        assert installed["version"] == version and Path(installed["prefix"]).parent == pythons
        assert Path(installed["path"]).stat().st_mode & 0o777 == 0o755
        # Apps run it from the fixed path every sandbox sees it at, never from COVE_HOME
        # (which no sandbox sees): the venvs and the build output name that path only.
        in_sandbox = Path("/cove/pythons") / Path(installed["prefix"]).name
        in_sandbox_exe = in_sandbox / "bin" / Path(installed["path"]).name
        for name in repos:
            info = python_info(server, name)
            assert info["version"] == version
            assert info["base_prefix"] == str(in_sandbox)
            assert str(server.home) not in pushes[name], pushes[name]
        assert len(venvs(server)) == len(repos)
        for venv in venvs(server):
            assert os.readlink(venv / "bin" / "python") == str(in_sandbox_exe)
            cfg = (venv / "pyvenv.cfg").read_text()
            assert f"home = {in_sandbox}/bin" in cfg and str(server.home) not in cfg, cfg
        assert f"Python {version} is now part of the stack: {in_sandbox}" in pushes[downloading[0]]

        # A version the download source doesn't have: the build says how to add it.
        missing = "3.13" if major != "3.13" else "3.12"
        repo = pinned_app(user, "pinned-missing", (".python-version", missing))
        failed = user.push(repo, check=False)
        assert failed.returncode != 0
        out = failed.stderr
        assert (
            f"Python {missing} was requested in .python-version, but this Cove stack only "
            f"has: {version}" in out
        ), out
        assert f"The download source has no Python {missing} for this machine." in out
        assert f"uv python install {missing} --install-dir {pythons} --no-bin" in out, out
        assert "COVE_PYTHON_INSTALL_MIRROR" in out and "COVE_PYTHON_DIRS" in out
        assert "Traceback" not in out
        assert len(mirror.downloads) == 1

        # COVE_HOME moves (and the server's HOME changes): the slugs built on the install
        # still run, since sandboxes see it at the same path wherever COVE_HOME is.
        server.stop()
        moved = tmp_path / "moved" / "cove-home"
        moved.parent.mkdir()
        server.home.rename(moved)
        (tmp_path / "another-home").mkdir()
        server.home = moved
        server.env.update(COVE_HOME=str(moved), HOME=str(tmp_path / "another-home"))
        server.start()
        for name in repos:
            wait_for(
                lambda name=name: server.get(name).status_code == 200, 60, what=f"{name} serving"
            )
            assert python_info(server, name)["base_prefix"] == str(in_sandbox)
        assert "needs the Python interpreter" not in server.log_path.read_text()

        # The install is gone: the operator is told which releases need it, and where it
        # was on this host.
        server.stop()
        shutil.rmtree(moved / "stack" / "pythons" / in_sandbox.name)
        server.start()
        report = server.log_path.read_text().rsplit("Cove is running", 1)[1]
        on_host = moved / "stack" / "pythons" / in_sandbox.name / "bin" / in_sandbox_exe.name
        assert (
            f"Warning: pinned-major v2 needs the Python interpreter {in_sandbox_exe} "
            f"({on_host} on this host), which the stack no longer has: its dynos can't "
            "start." in report
        ), report


def test_without_downloads_the_build_says_how_to_add_the_version(
    user: User, server: CoveServer
) -> None:
    # The session's server has COVE_PYTHON_DOWNLOADS=never (tests never reach the network).
    repo = pinned_app(user, "no-downloads", ("runtime.txt", "python-3.12.99"))
    failed = user.push(repo, check=False)
    assert failed.returncode != 0
    out = failed.stderr
    assert "Python 3.12.99 was requested in runtime.txt, but this Cove stack only has:" in out
    assert "Downloads are off (COVE_PYTHON_DOWNLOADS=never)." in out
    pythons = server.home / "stack" / "pythons"
    assert f"uv python install 3.12.99 --install-dir {pythons} --no-bin" in out
    assert "Traceback" not in out


def test_an_app_importing_pkg_resources_serves_on_the_system_python(
    user: User, server: CoveServer
) -> None:
    """Heroku installs setuptools 70.3.0 (which has pkg_resources) for pip apps on Python
    3.12 and older; the app imports it at start."""
    _, version = system_python()
    major = ".".join(version.split(".")[:2])
    if tuple(int(p) for p in major.split(".")) > (3, 12):
        pytest.skip(f"Heroku provides no setuptools on Python {major}")
    repo = pinned_app(user, "pkg-resources", (".python-version", major))
    push = user.push(repo)
    assert "-----> Installing pip 26.2.1 and setuptools 70.3.0" in push.stderr
    info = python_info(server, "pkg-resources")
    assert info["setuptools"] == "70.3.0"
    assert info["version"].startswith(major + ".")
