"""Classic buildpacks (bin/detect, bin/compile, bin/release) given by local path."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from tests.e2e.harness import CoveServer, User


def write_buildpack(root: Path) -> Path:
    """A tiny static-site buildpack: its default web process serves public/."""
    bp = root / "static-buildpack"
    (bp / "bin").mkdir(parents=True)
    scripts = {
        "detect": """
            #!/usr/bin/env bash
            [ -f "$1/index.html" ] && echo "Static" && exit 0
            exit 1
        """,
        "compile": """
            #!/usr/bin/env bash
            set -e
            echo "-----> Copying site into public/"
            mkdir -p "$1/public" && cp "$1/index.html" "$1/public/"
            echo "built with GREETING=$(cat "$3/GREETING" 2>/dev/null)" >> "$1/public/index.html"
            mkdir -p "$2" && date > "$2/last-build"
        """,
        "release": """
            #!/usr/bin/env bash
            echo "---"
            echo "default_process_types:"
            echo "  web: python3 -m http.server \\$PORT --directory public"
        """,
    }
    for name, body in scripts.items():
        path = bp / "bin" / name
        path.write_text(textwrap.dedent(body).lstrip())
        path.chmod(0o755)
    return bp


def static_site(user: User, app: str, buildpack: Path) -> Path:
    """A repo with one index.html, as app ``app`` built with ``buildpack``."""
    repo = user.home / app
    repo.mkdir()
    (repo / "index.html").write_text("<h1>static</h1>\n")
    user.git("init", "-q", "-b", "main", cwd=repo)
    user.commit_all(repo, "site")
    user.cove("apps:create", app, cwd=repo)
    user.cove("buildpacks:set", str(buildpack), cwd=repo)
    return repo


def test_local_classic_buildpack(user: User, server: CoveServer, tmp_path: Path) -> None:
    bp = write_buildpack(tmp_path)
    repo = static_site(user, "static-site", bp)
    assert str(bp) in user.cove("buildpacks", cwd=repo).stdout
    user.cove("config:set", "GREETING=hi", cwd=repo)

    push = user.push(repo)
    assert "Static app detected" in push.stderr
    assert "Copying site into public/" in push.stderr
    assert "Default types for buildpack -> web" in push.stderr
    body = server.get("static-site").text
    assert "<h1>static</h1>" in body and "built with GREETING=hi" in body


def test_buildpack_that_is_not_a_directory_is_refused(user: User, server: CoveServer) -> None:
    user.cove("apps:create", "bp-bad")
    result = user.cove("buildpacks:set", "/nonexistent/buildpack", "-a", "bp-bad", check=False)
    assert result.returncode != 0
    assert "bin/detect" in result.stderr or "not supported" in result.stderr


def test_buildpack_the_app_user_cannot_read_is_refused(
    user: User, server: CoveServer, tmp_path: Path
) -> None:
    if os.geteuid() != 0:
        pytest.skip("per-app users need a root server")
    bp = write_buildpack(tmp_path)
    bp.chmod(0o700)  # e.g. cloned by root under umask 077
    repo = static_site(user, "closed-site", bp)
    push = user.push(repo, check=False)
    assert push.returncode != 0
    assert f"can't read {bp}. Make it readable by all users (chmod -R a+rX {bp})." in push.stderr
