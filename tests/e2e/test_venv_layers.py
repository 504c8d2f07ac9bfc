"""A Python app's cached virtualenv is a read-only layer that warm builds and their dynos
stack under /app/.heroku/python instead of copying it (cove.builder.layers): deploys,
dependency changes, rollbacks across them, promotion to another app (whose user unpacks
the archive), a server restart and destroying the app."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import CoveServer, User, running_server, wait_for


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[CoveServer]:
    with running_server(tmp_path) as srv:  # this test restarts it
        yield srv


@pytest.fixture
def own_user(tmp_path: Path, own_server: CoveServer) -> User:
    return User.logged_in(tmp_path / "dev", own_server)


def _change(user: User, repo: Path, old: str, new: str, file: str = "app.py") -> None:
    path = repo / file
    path.write_text(path.read_text().replace(old, new))
    user.commit_all(repo, new)


def _released(out: str) -> int:
    found = re.search(r"Released v(\d+)", out)
    assert found, out
    return int(found.group(1))


def _serves(server: CoveServer, app: str, text: str) -> None:
    def check() -> bool:
        try:
            return server.get(app).text == text
        except OSError:
            return False

    wait_for(check, 60, what=f"{app} serving {text!r}")


def _manifests(server: CoveServer) -> dict[str, dict[str, object]]:
    slugs = server.home / "slugs"
    return {p.name: json.loads(p.read_text()) for p in slugs.glob("*.layers.json")}


def test_warm_builds_stack_the_cached_venv_and_every_release_keeps_its_own(
    own_user: User, own_server: CoveServer
) -> None:
    user, server = own_user, own_server
    repo = user.new_repo("flask-hello", "layered")
    user.cove("apps:create", "layered", cwd=repo)
    app_id = server.api("GET", "/apps/layered").json()["id"]
    # Cold: the venv installed by this build moves out of it to be the app's layer (no
    # copy into the cache), and this slug already stacks on it.
    v1 = _released(user.push(repo).stderr)
    _serves(server, "layered", "Hello World!")
    layers_dir = server.home / "layers" / app_id
    (layer,) = [p for p in layers_dir.iterdir() if p.is_dir()]
    assert not (server.home / "cache" / app_id / "python-venv").exists()
    (first,) = _manifests(server).values()
    # Named relative to the slugs directory, so that COVE_HOME can move.
    assert first["layers"] == [os.path.relpath(layer, server.home / "slugs")]

    _change(user, repo, "Hello World!", "Hello layered!")
    push = user.push(repo).stderr
    v2 = _released(push)
    assert "Restoring cache" in push and "Installing dependencies" not in push
    _serves(server, "layered", "Hello layered!")
    assert [p for p in layers_dir.iterdir() if p.is_dir()] == [layer]
    (manifest,) = [m for m in _manifests(server).values() if m != first]
    assert manifest["layers"] == first["layers"]
    assert (layer / "pyvenv.cfg").is_file()

    # A dependency change: installed afresh over the layer, which stays for v2.
    (repo / "requirements.txt").write_text(
        (repo / "requirements.txt").read_text() + "\nsix==1.16.0\n"
    )
    _change(user, repo, 'return "Hello layered!"', 'import six; return f"six {six.__version__}"')
    push = user.push(repo).stderr
    v3 = _released(push)
    assert "Discarding cache" in push and "Installing dependencies" in push
    _serves(server, "layered", "six 1.16.0")
    # The next warm build gets the new venv as its layer.
    _change(user, repo, "six {six.__version__}", "still six {six.__version__}")
    push = user.push(repo).stderr
    assert "Restoring cache" in push and "Installing dependencies" not in push
    _serves(server, "layered", "still six 1.16.0")
    assert len([p for p in layers_dir.iterdir() if p.is_dir()]) == 2

    # Rollbacks across all of them: v2 on the first venv, v1, v3 on the second.
    for version, text in ((v2, "Hello layered!"), (v1, "Hello World!"), (v3, "six 1.16.0")):
        user.cove("releases:rollback", f"v{version}", "-a", "layered")
        _serves(server, "layered", text)

    # A one-off dyno sees the same venv as the web dyno.
    run = user.cove("run", "-a", "layered", "python -c 'import six, flask; print(six.__name__)'")
    assert "six" in run.stdout

    # Another app (another user) gets the layered slug by promotion: it unpacks the archive.
    user.cove("releases:rollback", f"v{v2}", "-a", "layered")
    _serves(server, "layered", "Hello layered!")
    user.cove("apps:create", "layered-prod", "--no-remote", cwd=repo)
    user.cove("pipelines:create", "layers", "-a", "layered", "-s", "staging", cwd=repo)
    user.cove("pipelines:add", "layers", "-a", "layered-prod", "-s", "production", cwd=repo)
    user.cove("pipelines:promote", "-a", "layered", cwd=repo)
    _serves(server, "layered-prod", "Hello layered!")

    # A restart brings the layered release back.
    server.stop()
    server.start()
    _serves(server, "layered", "Hello layered!")

    # Destroying the app removes its layers (the promoted slug lives on from its archive).
    user.cove("apps:destroy", "-a", "layered", "--confirm", "layered")
    wait_for(lambda: not layers_dir.exists(), 30, what="the destroyed app's layers removed")
    assert _manifests(server) == {}
    user.cove("ps:restart", "-a", "layered-prod")
    _serves(server, "layered-prod", "Hello layered!")


def _venv_reader(root: Path) -> Path:
    """A buildpack whose bin/release declares a process type only if it sees the venv the
    Python buildpack built (a classic buildpack may read /app in bin/release)."""
    pack = root / "venv-reader"
    (pack / "bin").mkdir(parents=True)
    scripts = {
        "detect": 'echo "venv reader"',
        "compile": "true",
        "release": (
            'echo "---"; if [ -f "$1/.heroku/python/pyvenv.cfg" ]; then '
            'echo "default_process_types:"; echo "  venvseen: sleep 1"; '
            'else echo "default_process_types: {}"; fi'
        ),
    }
    for name, body in scripts.items():
        script = pack / "bin" / name
        script.write_text(f"#!/usr/bin/env bash\n{body}\n")
        script.chmod(0o755)
    for path in (root, pack, pack / "bin"):
        path.chmod(0o755)  # builds run as the app's user, who must read them
    return pack


def test_bin_release_sees_the_venv_of_cold_and_warm_builds(
    user: User, server: CoveServer, tmp_path: Path
) -> None:
    repo = user.new_repo("flask-hello", "release-reads")
    user.cove("apps:create", "release-reads", cwd=repo)
    user.cove("buildpacks:set", "heroku/python", cwd=repo)
    user.cove("buildpacks:add", str(_venv_reader(tmp_path / "packs")), cwd=repo)
    for push in range(2):  # cold (the venv handed over), then warm (the layer mounted)
        if push:
            _change(user, repo, "Hello World!", "Hello again!")
        out = user.push(repo).stderr
        assert "Default types for buildpack -> venvseen" in out, out
