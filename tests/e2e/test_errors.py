"""Bad input gets a clear error and loses nothing."""

from __future__ import annotations

import re

import httpx

from tests.e2e.harness import CoveServer, User


def test_failed_build_keeps_the_running_release(user: User, server: CoveServer) -> None:
    repo = user.new_repo("flask-hello", "failing")
    user.cove("apps:create", "failing", cwd=repo)
    user.push(repo)
    releases_before = server.api("GET", "/apps/failing/releases").json()

    (repo / "requirements.txt").write_text("this-package-does-not-exist-cove==1.0\n")
    (repo / "app.py").write_text((repo / "app.py").read_text().replace("World", "broken"))
    user.commit_all(repo, "A bad requirement")
    push = user.push(repo, check=False)
    assert push.returncode != 0
    assert "this-package-does-not-exist-cove" in push.stderr
    assert "pre-receive hook declined" in push.stderr
    assert "Push failed" in push.stderr

    assert server.get("failing").text == "Hello World!"
    assert server.api("GET", "/apps/failing/releases").json() == releases_before
    # The rejected commit was not recorded: the remote branch still has the old one.
    remote = user.git("ls-remote", "cove", "main", cwd=repo).stdout.split()[0]
    assert remote == user.git("rev-parse", "HEAD~1", cwd=repo).stdout.strip()


def test_push_without_procfile_runs_no_dynos(user: User, server: CoveServer) -> None:
    repo = user.new_repo("flask-hello", "no-procfile")
    user.git("rm", "-q", "Procfile", cwd=repo)
    user.commit_all(repo, "No Procfile")
    user.cove("apps:create", "no-procfile", cwd=repo)
    push = user.push(repo)
    assert "Warning: No web process type is defined" in push.stderr
    assert "Procfile declares types -> (none)" in push.stderr
    assert server.api("GET", "/apps/no-procfile/dynos").json() == []
    assert server.get("no-procfile").status_code == 503  # H14: no web dynos


def test_malformed_procfile_is_rejected(user: User, server: CoveServer) -> None:
    repo = user.new_repo("flask-hello", "bad-procfile")
    (repo / "Procfile").write_text("web gunicorn app:app\n")
    user.commit_all(repo, "Broken Procfile")
    user.cove("apps:create", "bad-procfile", cwd=repo)
    push = user.push(repo, check=False)
    assert push.returncode != 0
    assert "Procfile line 1" in push.stderr
    assert len(server.api("GET", "/apps/bad-procfile/releases").json()) == 1


def test_invalid_and_taken_app_names(user: User, server: CoveServer) -> None:
    for bad in (
        "A",
        "Upper-Case",
        "ends-with-dash-",
        "1starts-with-digit",
        "x" * 31,
        "has_underscore",
    ):
        result = user.cove("apps:create", bad, check=False)
        assert result.returncode != 0, bad
        assert "invalid" in result.stderr.lower(), result.stderr
        response = server.api("POST", "/apps", json={"name": bad})
        assert response.status_code == 422 and response.json()["id"] == "invalid_params"
    user.cove("apps:create", "taken-name")
    again = user.cove("apps:create", "taken-name", check=False)
    assert again.returncode != 0
    assert "Name is already taken (taken-name)" in again.stderr


def test_wrong_token_is_refused_by_api_and_git(user: User, server: CoveServer) -> None:
    response = server.api("GET", "/apps", token="cove_not-a-real-token")
    assert response.status_code == 401
    assert response.json() == {"id": "unauthorized", "message": "Invalid credentials provided."}
    assert httpx.get(server.api_url + "/apps", verify=server.verify).status_code == 401

    repo = user.new_repo("flask-hello", "wrong-token")
    user.cove("apps:create", "wrong-token", cwd=repo)
    host = server.api_url.removeprefix("https://")
    user.git(
        "remote", "set-url", "cove", f"https://heroku:cove_wrong@{host}/wrong-token.git", cwd=repo
    )
    push = user.push(repo, check=False)
    assert push.returncode != 0
    assert "Authentication failed" in push.stderr, push.stderr
    assert server.api("GET", "/apps/wrong-token/releases").json()[-1]["version"] == 1


def test_push_to_missing_app(user: User, server: CoveServer) -> None:
    repo = user.new_repo("flask-hello", "missing")
    user.git("remote", "add", "cove", f"{server.api_url}/no-such-app.git", cwd=repo)
    # (A remote added by hand: git is told of Cove's CA as `cove certs:ca` says.)
    user.git("config", f"http.{server.api_url}/.sslCAInfo", str(server.ca_file), cwd=repo)
    push = user.push(repo, check=False)
    assert push.returncode != 0
    assert "not found" in push.stderr.lower()
    result = user.cove("apps:info", "-a", "no-such-app", check=False)
    assert result.returncode != 0 and "Couldn't find that app" in result.stderr


def test_unavailable_python_version_names_the_available_ones(
    user: User, server: CoveServer
) -> None:
    repo = user.new_repo("flask-hello", "old-python")
    (repo / "runtime.txt").write_text("python-3.9.99\n")
    user.commit_all(repo, "Ask for a Python that does not exist")
    user.cove("apps:create", "old-python", cwd=repo)
    push = user.push(repo, check=False)
    assert push.returncode != 0
    assert "3.9.99" in push.stderr
    available = re.search(r"only has: ([0-9., ]+)", push.stderr)
    assert available and "3.1" in available.group(1), push.stderr
