"""`cove heroku-env`: the environment for Heroku's CLI and heroku3, offline. Each printed
line is checked by running it through a real shell, as `eval "$(cove heroku-env)"` would."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from cove.cli.context import write_netrc_entries
from cove.cli.main import cli
from tests.unit.cli_env import isolate_cli, server_ca

API = "https://127.0.0.1:5055"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    isolate_cli(monkeypatch, home)
    monkeypatch.delenv("COVE_API_KEY")
    monkeypatch.setenv("COVE_HOME", str(tmp_path / "server-home"))
    monkeypatch.setenv("COVE_API_URL", API)
    return home


def heroku_env(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["heroku-env", *args])
    return result.exit_code, result.output


def evaluated(script: str) -> dict[str, str]:
    """The environment a shell has after ``eval``-ing ``script``."""
    out = subprocess.run(
        ["bash", "-c", 'eval "$1"; env -0', "-", script],
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        check=True,
    ).stdout.decode()
    return dict(entry.split("=", 1) for entry in out.split("\0") if "=" in entry)


def test_the_environment_points_the_cli_and_git_at_this_server(home: Path) -> None:
    ca = server_ca(home)
    code, out = heroku_env()
    assert code == 0, out
    env = evaluated(out)
    assert env["HEROKU_HOST"] == API
    assert env["HEROKU_PARTICLEBOARD_URL"] == API
    assert env["HEROKU_EXEC_URL"] == API + "/"
    assert env["HEROKU_BUILDPACK_REGISTRY_URL"] == API
    assert env["DISABLE_TELEMETRY"] == "true"
    assert env["HEROKU_SKIP_NEW_VERSION_CHECK"] == "true"
    assert env["HEROKU_DATA_HOST"] == "127.0.0.1"
    assert env["NODE_EXTRA_CA_CERTS"] == str(ca)
    # git trusts the CA for this origin only (GIT_SSL_CAINFO would replace the system's).
    assert env["GIT_CONFIG_COUNT"] == "1"
    assert env["GIT_CONFIG_KEY_0"] == f"http.{API}/.sslCAInfo"
    assert env["GIT_CONFIG_VALUE_0"] == str(ca)
    assert "GIT_SSL_CAINFO" not in env
    # No token unless asked for; the warning and heroku3's setting are comments.
    assert "HEROKU_API_KEY" not in env
    assert "--with-token" in out and "heroku login -i" in out
    assert "WARNING" in out and "particleboard.heroku.com" in out
    assert "pipelines:diff" in out and "kolkrabbi.heroku.com" in out
    assert f'heroku3.api.HEROKU_URL = "{API}"' in out
    assert f'session.verify = "{ca}"' in out


def test_with_token_exports_the_logged_in_token(home: Path) -> None:
    write_netrc_entries(["127.0.0.1:5055", "127.0.0.1"], "dev@example.com", "tok-123")
    code, out = heroku_env("--with-token")
    assert code == 0, out
    assert evaluated(out)["HEROKU_API_KEY"] == "tok-123"
    code, out = heroku_env()
    assert "tok-123" not in out


def test_with_token_when_not_logged_in_is_an_error(home: Path) -> None:
    code, out = heroku_env("--with-token")
    assert code == 1
    assert "Not logged in. Run `cove login` first." in out


def test_without_a_cove_ca_no_trust_lines(home: Path) -> None:
    """A server whose certificate the system's CAs verify needs no CA settings."""
    code, out = heroku_env()
    assert code == 0, out
    env = evaluated(out)
    assert "NODE_EXTRA_CA_CERTS" not in env and "GIT_CONFIG_COUNT" not in env
    assert "conn = heroku3.from_key(TOKEN)" in out


def test_a_host_the_cli_would_replace_with_api_heroku_com_is_refused(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COVE_API_URL", "https://paas.example.com")
    write_netrc_entries(["paas.example.com"], "dev@example.com", "tok-123")
    code, out = heroku_env("--with-token")
    assert code == 1
    assert "only talks to an API named localhost or 127.0.0.1" in out
    assert "api.heroku.com" in out and "ssh -L" in out
    assert "tok-123" not in out and "export" not in out


def test_localhost_is_accepted(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COVE_API_URL", "https://localhost:8443/")
    code, out = heroku_env()
    assert code == 0, out
    env = evaluated(out)
    assert env["HEROKU_HOST"] == "https://localhost:8443"
    assert env["HEROKU_DATA_HOST"] == "localhost"
