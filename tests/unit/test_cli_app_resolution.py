"""Which app a command targets: --app, --remote, COVE_APP, then the cwd repo's git remotes."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from cove.cli.context import CliState, app_from_git_url, git_remotes, resolve_app
from cove.cli.main import cli
from cove.cli.output import CliError

API = "http://127.0.0.1:5055"


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    monkeypatch.setenv("COVE_API_KEY", "tok")
    for var in ("COVE_APP", "COVE_API_URL"):
        monkeypatch.delenv(var, raising=False)
    path = tmp_path / "repo"
    path.mkdir()
    subprocess.run(["git", "init", "-q", str(path)], check=True)
    monkeypatch.chdir(path)
    return path


def add_remote(name: str, url: str) -> None:
    subprocess.run(["git", "remote", "add", name, url], check=True)


def test_app_from_git_url() -> None:
    assert app_from_git_url(f"{API}/my-app.git") == "my-app"
    assert app_from_git_url("https://user:tok@127.0.0.1:5055/my-app.git/") == "my-app"
    assert app_from_git_url("git@github.com:me/thing.git") == "thing"
    assert app_from_git_url(f"{API}/my-app") is None


def test_reads_remotes_of_cwd_repo(repo: Path) -> None:
    add_remote("cove", f"{API}/alpha.git")
    add_remote("origin", "git@github.com:me/alpha.git")
    assert git_remotes() == {"cove": f"{API}/alpha.git", "origin": "git@github.com:me/alpha.git"}


def test_single_cove_remote_gives_the_app(repo: Path) -> None:
    add_remote("cove", f"{API}/alpha.git")
    add_remote("origin", "https://github.com/me/other.git")  # another host: ignored
    assert resolve_app(None, None) == "alpha"


def test_two_remotes_for_the_same_app_are_fine(repo: Path) -> None:
    add_remote("cove", f"{API}/alpha.git")
    add_remote("production", "http://user@127.0.0.1:5055/alpha.git")
    assert resolve_app(None, None) == "alpha"


def test_remote_on_another_port_is_not_ours(repo: Path) -> None:
    add_remote("cove", "http://127.0.0.1:9999/alpha.git")
    with pytest.raises(CliError, match=r"No app specified\. Use --app NAME\."):
        resolve_app(None, None)


def test_several_apps_ask_for_app(repo: Path) -> None:
    add_remote("staging", f"{API}/alpha-staging.git")
    add_remote("production", f"{API}/alpha.git")
    with pytest.raises(CliError) as info:
        resolve_app(None, None)
    assert "--app" in info.value.message
    assert "alpha-staging" in info.value.message and "alpha (production)" in info.value.message


def test_explicit_choices_win_in_order(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    add_remote("staging", f"{API}/alpha-staging.git")
    add_remote("production", f"{API}/alpha.git")
    monkeypatch.setenv("COVE_APP", "from-env")
    assert resolve_app(None, None) == "from-env"
    assert resolve_app(None, "staging") == "alpha-staging"
    assert resolve_app("explicit", "staging") == "explicit"


def test_unknown_remote_is_an_error(repo: Path) -> None:
    with pytest.raises(CliError, match="Git remote nope not found"):
        resolve_app(None, "nope")


def test_outside_a_repo_without_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    monkeypatch.delenv("COVE_APP", raising=False)
    monkeypatch.chdir(tmp_path)
    assert git_remotes() == {}
    with pytest.raises(CliError, match="No app specified"):
        resolve_app(None, None)


def test_command_uses_app_from_git_remote(repo: Path) -> None:
    add_remote("cove", f"{API}/alpha.git")
    paths: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.path)
        return httpx.Response(200, json={"A": "1"})

    result = CliRunner().invoke(
        cli, ["config:get", "A"], obj=CliState(transport=httpx.MockTransport(handler))
    )
    assert result.exit_code == 0, result.output
    assert paths == ["/apps/alpha/config-vars"]
    assert result.stdout == "1\n"


def test_command_without_app_exits_1(repo: Path) -> None:
    result = CliRunner().invoke(cli, ["config"], obj=CliState())
    assert result.exit_code == 1
    assert result.stderr == " ▸    No app specified. Use --app NAME.\n"
