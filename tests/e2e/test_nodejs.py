"""Node.js apps with the built-in Node.js buildpack: npm, Yarn and pnpm projects, engines
ranges, the runtime installed once into the stack and shared, the build cache, and a failed
build leaving the running release alone. Builds reach PyPI (Node.js) and the npm registry."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.e2e.harness import CoveServer, User, wait_for


def deploy(user: User, template: str, app: str) -> tuple[Path, str]:
    repo = user.new_repo(template, app)
    user.cove("apps:create", app, cwd=repo)
    return repo, user.push(repo).stderr


def served(server: CoveServer, app: str) -> dict[str, object]:
    body = wait_for(lambda: server.get(app).json(), what=f"{app} to answer")
    assert isinstance(body, dict)
    return body


def test_express_app_with_npm(user: User, server: CoveServer) -> None:
    repo, out = deploy(user, "node-express", "node-express")
    assert "Node.js app detected" in out
    assert "Resolving node version 22.x..." in out
    assert "Running 'build' script" in out and "build.js wrote built.json" in out
    assert "Pruning devDependencies" in out
    assert "Default types for buildpack -> web" in out
    body = served(server, "node-express")
    assert str(body["node"]).startswith("v22.")
    assert body["nodeEnv"] == "production"
    assert body["webConcurrency"] == "1"  # a 512 MB dyno: 512 / WEB_MEMORY (512)
    assert body["built"] == {"builtWith": "is-number"}  # the build saw devDependencies
    assert body["devDependencyPresent"] is False  # and they were pruned after it
    # The runtime is the stack's, linked from the slug (not copied into it).
    version = str(body["node"]).removeprefix("v")
    assert (server.home / "stack" / "nodes" / version / "bin" / "node").is_file()
    assert "Restoring cache" not in out  # a first build has none
    # Detected at build time, and then the app's buildpack.
    assert "heroku/nodejs" in user.cove("buildpacks", cwd=repo).stdout

    # Second deploy: the npm cache is restored.
    user.git("commit", "-q", "--allow-empty", "-m", "again", cwd=repo)
    again = user.push(repo).stderr
    assert "Restoring cache" in again and "- npm cache" in again
    assert f"Using node {version}" in again
    assert "Downloading Node.js" not in again  # already in the stack


def test_failing_build_script_keeps_the_running_release(user: User, server: CoveServer) -> None:
    repo, _ = deploy(user, "node-express", "node-failing")
    before = user.cove("releases", "-a", "node-failing", "--json", cwd=repo).stdout
    (repo / "build.js").write_text('console.error("broken build"); process.exit(3);\n')
    user.commit_all(repo, "break the build")
    push = user.push(repo, check=False)
    assert push.returncode != 0
    assert "broken build" in push.stderr
    assert "The 'build' script failed: `npm run build` exited with status 3." in push.stderr
    assert user.cove("releases", "-a", "node-failing", "--json", cwd=repo).stdout == before
    assert served(server, "node-failing")["built"] == {"builtWith": "is-number"}


def test_yarn_project(user: User, server: CoveServer) -> None:
    _, out = deploy(user, "node-yarn", "node-yarn")
    assert "yarn 1.22." in out
    # heroku-prebuild runs before the install, heroku-cleanup after the pruning.
    assert out.index("prebuild-ran") < out.index("Installing dependencies")
    assert out.index("Pruning devDependencies") < out.index("cleanup-ran")
    body = served(server, "node-yarn")
    assert body["app"] == "yarn" and body["isNumber"] is True  # started with `yarn start`


def test_pnpm_project_and_engines_range(user: User, server: CoveServer) -> None:
    _, out = deploy(user, "node-pnpm", "node-pnpm")
    assert "packageManager (package.json): pnpm@9.15.0" in out
    assert "pnpm 9.15.0 installed" in out
    # heroku-postbuild replaces build (whose "exit 1" would fail the push).
    assert "postbuild-ran" in out and "Running 'build' script" not in out
    body = served(server, "node-pnpm")
    assert str(body["node"]).startswith("v20.")  # engines.node "20.x"
    assert body["app"] == "pnpm" and body["isNumber"] is True


def test_yarn_berry_project(user: User, server: CoveServer) -> None:
    _, out = deploy(user, "node-berry", "node-berry")
    assert "packageManager (package.json): yarn@4.5.3" in out
    assert "yarn 4.5.3 installed" in out
    body = served(server, "node-berry")
    assert body["app"] == "berry" and body["isNumber"] is True


def rejected_push(
    user: User, template: str, app: str, change: Callable[[Path, dict[str, Any]], None]
) -> str:
    """Push ``template`` after ``change(repo, package_json)``; the push must fail. Returns
    its output."""
    repo = user.new_repo(template, app)
    user.cove("apps:create", app, cwd=repo)
    pkg = json.loads((repo / "package.json").read_text())
    change(repo, pkg)
    (repo / "package.json").write_text(json.dumps(pkg))
    user.commit_all(repo, "a change")
    push = user.push(repo, check=False)
    assert push.returncode != 0
    return push.stderr


def test_lockfile_errors_fail_the_push(user: User, server: CoveServer) -> None:
    def no_lockfile(repo: Path, pkg: dict[str, Any]) -> None:
        (repo / "pnpm-lock.yaml").unlink()

    out = rejected_push(user, "node-pnpm", "node-nolock", no_lockfile)
    assert "there is no pnpm-lock.yaml" in out

    # package.json out of step with the lockfile: npm ci refuses, the build says why.
    def unlocked_dependency(repo: Path, pkg: dict[str, Any]) -> None:
        pkg["dependencies"]["is-odd"] = "^3.0.1"

    out = rejected_push(user, "node-express", "node-unsynced", unlocked_dependency)
    assert "package-lock.json is not in sync with package.json." in out


def test_unknown_node_version_fails_the_push(user: User, server: CoveServer) -> None:
    def ancient(repo: Path, pkg: dict[str, Any]) -> None:
        pkg["engines"] = {"node": "7.x"}

    out = rejected_push(user, "node-yarn", "node-badversion", ancient)
    assert "No Node.js version matches engines.node '7.x'." in out


def test_a_python_app_with_a_package_json_is_a_python_app(user: User, server: CoveServer) -> None:
    repo = user.new_repo("flask-hello", "py-with-assets")
    (repo / "package.json").write_text('{"name": "assets", "scripts": {"build": "true"}}')
    user.commit_all(repo, "asset pipeline")
    user.cove("apps:create", "py-with-assets", cwd=repo)
    out = user.push(repo).stderr
    assert "Python app detected" in out and "Node.js app detected" not in out
