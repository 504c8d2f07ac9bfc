"""apps, apps:create (git remote), apps:info, apps:destroy, git:remote, open."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner, Result

from cove.cli.context import CliState, git_remotes
from cove.cli.main import cli
from tests.unit.cli_env import isolate_cli

API = "http://127.0.0.1:5055"


@pytest.fixture(autouse=True)
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    work = tmp_path / "work"
    work.mkdir()
    isolate_cli(monkeypatch, tmp_path, work)
    return work


def git_init() -> None:
    subprocess.run(["git", "init", "-q", "."], check=True)


def app_json(name: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": f"id-{name}",
        "name": name,
        "owner": {"id": "u1", "email": "dev@example.com"},
        "region": {"id": "r", "name": "us"},
        "stack": {"id": "s", "name": "cove-24"},
        "git_url": f"{API}/{name}.git",
        "web_url": f"http://{name}.localhost:8080/",
        "repo_size": None,
        "slug_size": 31457280,
        "maintenance": False,
        "create_status": "complete",
        **extra,
    }


class FakeAppsApi:
    def __init__(self) -> None:
        self.apps: dict[str, dict[str, Any]] = {}
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        method, parts = request.method, request.url.path.strip("/").split("/")
        if parts == ["account"]:
            return httpx.Response(200, json={"id": "u1", "email": "dev@example.com"})
        if parts == ["apps"] and method == "GET":
            return httpx.Response(200, json=list(self.apps.values()))
        if parts == ["apps"] and method == "POST":
            name = json.loads(request.content).get("name") or "sharp-rain-1234"
            self.apps[name] = app_json(name)
            return httpx.Response(201, json=self.apps[name])
        if len(parts) >= 2 and parts[0] == "apps" and parts[1] in self.apps:
            name = parts[1]
            if parts[2:] == ["dynos"]:
                types = ["web", "web", "worker"]
                dynos = [{"name": f"{t}.{i}", "type": t} for i, t in enumerate(types, 1)]
                return httpx.Response(200, json=dynos)
            if parts[2:] == [] and method == "GET":
                return httpx.Response(200, json=self.apps[name])
            if parts[2:] == [] and method == "DELETE":
                return httpx.Response(200, json=self.apps.pop(name))
        return httpx.Response(404, json={"id": "not_found", "message": "Couldn't find that app."})

    def run(self, args: list[str], **kwargs: Any) -> Result:
        state = CliState(transport=httpx.MockTransport(self))
        return CliRunner().invoke(cli, args, obj=state, **kwargs)


def test_apps_lists_names_under_account_header() -> None:
    api = FakeAppsApi()
    api.apps = {
        "b-app": app_json("b-app", region={"name": "local"}),  # Cove's region: not shown
        "a-app": app_json("a-app", region={"name": "eu"}),
    }
    api.apps["shared"] = app_json("shared", owner={"id": "u2", "email": "boss@example.com"})
    result = api.run(["apps"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "=== dev@example.com Apps",
        "",
        "a-app (eu)",
        "b-app",
        "",
        "=== Collaborated Apps",
        "",
        "shared  boss@example.com",
    ]


def test_create_outside_git_repo_prints_urls() -> None:
    api = FakeAppsApi()
    result = api.run(["apps:create", "my-app"])
    assert result.exit_code == 0, result.output
    assert json.loads(api.requests[0].content) == {"name": "my-app"}
    assert result.stdout.splitlines() == [
        "Creating ⬢ my-app... done",
        f"http://my-app.localhost:8080/ | {API}/my-app.git",
    ]


def test_create_without_name_reports_generated_name() -> None:
    api = FakeAppsApi()
    result = api.run(["create"])
    assert result.exit_code == 0, result.output
    assert json.loads(api.requests[0].content) == {}
    assert result.stdout.splitlines()[0] == "Creating app... done, ⬢ sharp-rain-1234"


def test_create_in_git_repo_adds_or_updates_remote() -> None:
    git_init()
    api = FakeAppsApi()
    assert api.run(["apps:create", "one"]).exit_code == 0
    assert git_remotes() == {"cove": f"{API}/one.git"}
    assert api.run(["apps:create", "two"]).exit_code == 0  # existing remote: set-url
    assert git_remotes() == {"cove": f"{API}/two.git"}
    assert api.run(["apps:create", "three", "-r", "staging"]).exit_code == 0
    assert git_remotes()["staging"] == f"{API}/three.git"
    assert api.run(["apps:create", "four", "--no-remote"]).exit_code == 0
    assert set(git_remotes()) == {"cove", "staging"}


def test_info_prints_aligned_fields_with_dyno_counts() -> None:
    api = FakeAppsApi()
    api.apps["my-app"] = app_json("my-app")
    result = api.run(["apps:info", "-a", "my-app"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "=== my-app",
        "",
        "Dynos:     web: 2, worker: 1",
        f"Git URL:   {API}/my-app.git",
        "Owner:     dev@example.com",
        "Region:    us",
        "Slug Size: 30.0 MB",
        "Stack:     cove-24",
        "Web URL:   http://my-app.localhost:8080/",
    ]


def test_destroy_requires_matching_confirm() -> None:
    api = FakeAppsApi()
    api.apps["my-app"] = app_json("my-app")
    result = api.run(["apps:destroy", "-a", "my-app"], input="")
    assert result.exit_code == 1
    assert "--confirm my-app" in result.stderr
    assert "This will permanently destroy ⬢ my-app including all add-ons." in result.stderr
    result = api.run(["destroy", "-a", "my-app", "--confirm", "other"])
    assert result.exit_code == 1
    assert "did not match" in result.stderr
    assert [r.method for r in api.requests] == []
    assert "my-app" in api.apps


def test_destroy_deletes_and_removes_matching_remotes() -> None:
    git_init()
    subprocess.run(["git", "remote", "add", "cove", f"{API}/my-app.git"], check=True)
    subprocess.run(
        ["git", "remote", "add", "prod", "http://u@127.0.0.1:5055/my-app.git"], check=True
    )
    subprocess.run(["git", "remote", "add", "other", f"{API}/other.git"], check=True)
    subprocess.run(["git", "remote", "add", "origin", "https://example.com/my-app.git"], check=True)
    api = FakeAppsApi()
    api.apps["my-app"] = app_json("my-app")
    result = api.run(["apps:destroy", "-r", "cove", "--confirm", "my-app"])
    assert result.exit_code == 0, result.output
    assert result.stdout == "Destroying ⬢ my-app (including all add-ons)... done\n"
    assert [(r.method, r.url.path) for r in api.requests] == [("DELETE", "/apps/my-app")]
    assert set(git_remotes()) == {"other", "origin"}


def test_git_remote_sets_remote() -> None:
    git_init()
    api = FakeAppsApi()
    api.apps["my-app"] = app_json("my-app")
    result = api.run(["git:remote", "-a", "my-app"])
    assert result.exit_code == 0, result.output
    assert result.stdout == f"set git remote cove to {API}/my-app.git\n"
    result = api.run(["git:remote", "-a", "my-app", "-r", "prod"])
    assert result.stdout == f"set git remote prod to {API}/my-app.git\n"
    assert git_remotes() == {"cove": f"{API}/my-app.git", "prod": f"{API}/my-app.git"}


def test_git_remote_outside_repo_fails() -> None:
    api = FakeAppsApi()
    api.apps["my-app"] = app_json("my-app")
    result = api.run(["git:remote", "-a", "my-app"])
    assert result.exit_code == 1
    assert "Not inside a git repository" in result.stderr


def test_open_prints_and_opens_web_url(monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[str] = []
    monkeypatch.setattr("webbrowser.open", lambda url: opened.append(url))
    api = FakeAppsApi()
    api.apps["my-app"] = app_json("my-app")
    result = api.run(["open", "-a", "my-app", "admin"])
    assert result.exit_code == 0, result.output
    assert result.stdout == "http://my-app.localhost:8080/admin\n"
    assert opened == ["http://my-app.localhost:8080/admin"]
