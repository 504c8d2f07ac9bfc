"""login/logout/whoami/token and ~/.netrc handling, with a temporary HOME."""

from __future__ import annotations

import base64
import json
import stat
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner, Result

from cove.cli.context import (
    CliState,
    netrc_machines,
    read_netrc,
    remove_netrc_entries,
    resolve_token,
    write_netrc_entries,
)
from cove.cli.main import cli

OTHER = "machine github.com\n  login octo\n  password gh-token\n"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for var in ("COVE_API_KEY", "COVE_APP", "COVE_API_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)
    return home


Handler = Callable[[httpx.Request], httpx.Response]


def run(args: list[str], handler: Handler | None = None, input: str | None = None) -> Result:
    transport = httpx.MockTransport(handler) if handler else None
    return CliRunner().invoke(cli, args, obj=CliState(transport=transport), input=input)


def account_api(expected_token: str) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.headers.get("Authorization") != f"Bearer {expected_token}":
            return httpx.Response(401, json={"id": "unauthorized", "message": "Invalid token."})
        assert request.url.path == "/account"
        return httpx.Response(200, json={"id": "u1", "email": "dev@example.com"})

    return handler


def test_netrc_machines_include_host_port_and_bare_host() -> None:
    assert netrc_machines("http://127.0.0.1:5055") == ["127.0.0.1:5055", "127.0.0.1"]
    assert netrc_machines("https://cove.example.com") == ["cove.example.com"]


def test_write_creates_private_file(home: Path) -> None:
    write_netrc_entries(["127.0.0.1:5055", "127.0.0.1"], "dev@example.com", "t1")
    path = home / ".netrc"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    entries = read_netrc()
    assert entries["127.0.0.1:5055"].password == "t1"
    assert entries["127.0.0.1"].login == "dev@example.com"


def test_write_replaces_same_machines_and_keeps_others(home: Path) -> None:
    path = home / ".netrc"
    path.write_text(
        "machine 127.0.0.1:5055 login old@x password old\n"
        + OTHER
        + "machine 127.0.0.1\n  login old@x\n  password old\n"
    )
    path.chmod(0o644)
    write_netrc_entries(["127.0.0.1:5055", "127.0.0.1"], "new@x", "new")
    text = path.read_text()
    assert "old" not in text
    assert OTHER in text
    assert text.count("machine 127.0.0.1:5055") == 1
    assert text.count("machine 127.0.0.1\n") == 1
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    entries = read_netrc()
    assert entries["github.com"].password == "gh-token"
    assert entries["127.0.0.1"].password == "new"


def test_remove_keeps_other_entries(home: Path) -> None:
    write_netrc_entries(["127.0.0.1:5055", "127.0.0.1"], "a@x", "t")
    path = home / ".netrc"
    path.write_text(OTHER + path.read_text())
    assert remove_netrc_entries(["127.0.0.1:5055", "127.0.0.1"])
    assert path.read_text() == OTHER
    assert not remove_netrc_entries(["127.0.0.1"])


def test_read_netrc_handles_single_line_entries_and_macdef(home: Path) -> None:
    (home / ".netrc").write_text(
        "# comment\nmacdef init\ncd /tmp\n\nmachine h login l password p\ndefault login x\n"
    )
    entries = read_netrc()
    assert set(entries) == {"h"}
    assert (entries["h"].login, entries["h"].password) == ("l", "p")


def test_token_resolution_order(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = "http://127.0.0.1:5055"
    assert resolve_token(url) is None
    write_netrc_entries(["127.0.0.1"], "a@x", "host-only")
    assert resolve_token(url) == "host-only"
    write_netrc_entries(["127.0.0.1:5055"], "a@x", "with-port")
    assert resolve_token(url) == "with-port"
    monkeypatch.setenv("COVE_API_KEY", "from-env")
    assert resolve_token(url) == "from-env"


def test_login_with_token_verifies_and_writes_netrc(home: Path) -> None:
    result = run(["login", "--token", "good"], account_api("good"))
    assert result.exit_code == 0, result.output
    assert result.stdout == "Logged in as dev@example.com\n"
    entries = read_netrc()
    assert set(entries) == {"127.0.0.1:5055", "127.0.0.1"}
    assert all(e.login == "dev@example.com" and e.password == "good" for e in entries.values())


def password_api(email: str, password: str, token: str) -> Handler:
    """POST /oauth/authorizations with Basic email:password makes ``token``."""
    basic = "Basic " + base64.b64encode(f"{email}:{password}".encode()).decode()

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/authorizations":
            if request.headers.get("Authorization") != basic:
                return httpx.Response(
                    401, json={"id": "unauthorized", "message": "Invalid credentials provided."}
                )
            body = json.loads(request.content)
            assert body["description"].startswith("Cove CLI login from ")
            return httpx.Response(201, json={"id": "a1", "access_token": {"token": token}})
        return account_api(token)(request)

    return handler


def test_login_prompts_for_email_and_hidden_password(home: Path) -> None:
    api = password_api("dev@example.com", "s3cret-pass", "new-token")
    result = run(["login"], api, input="dev@example.com\ns3cret-pass\n")
    assert result.exit_code == 0, result.output
    assert "s3cret-pass" not in result.output  # hidden input is not echoed
    assert result.stdout.endswith("Logged in as dev@example.com\n")
    assert read_netrc()["127.0.0.1:5055"].password == "new-token"


def test_login_with_wrong_password_fails_clearly(home: Path) -> None:
    api = password_api("dev@example.com", "s3cret-pass", "new-token")
    result = run(["login"], api, input="dev@example.com\nwrong-pass\n")
    assert result.exit_code == 1
    assert " ▸    Login failed: wrong email or password." in result.stderr
    assert not (home / ".netrc").exists()


def test_login_uses_api_url_host(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COVE_API_URL", "http://localhost:7000/")
    result = run(["login", "--token", "good"], account_api("good"))
    assert result.exit_code == 0, result.output
    assert set(read_netrc()) == {"localhost:7000", "localhost"}


def test_login_with_bad_token_fails_and_writes_nothing(home: Path) -> None:
    result = run(["login", "--token", "bad"], account_api("good"))
    assert result.exit_code == 1
    assert " ▸    Invalid token." in result.stderr
    assert not (home / ".netrc").exists()


def test_logout_revokes_the_token_and_removes_entries(home: Path) -> None:
    write_netrc_entries(["127.0.0.1:5055", "127.0.0.1", "other"], "a@x", "t")
    seen: list[tuple[str, str, str | None]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((request.method, request.url.path, request.headers.get("Authorization")))
        return httpx.Response(200, json={})

    result = run(["logout"], handler)
    assert result.exit_code == 0, result.output
    assert seen == [("DELETE", "/oauth/sessions/~", "Bearer t")]
    assert set(read_netrc()) == {"other"}


def test_logout_forgets_the_token_when_the_server_refuses(home: Path) -> None:
    write_netrc_entries(["127.0.0.1:5055", "127.0.0.1"], "a@x", "t")

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json={"id": "unauthorized", "message": "Invalid."})

    result = run(["logout"], handler)
    assert result.exit_code == 0, result.output
    assert not read_netrc()


def test_whoami_and_token_use_netrc_token(home: Path) -> None:
    write_netrc_entries(["127.0.0.1:5055", "127.0.0.1"], "dev@example.com", "stored")
    result = run(["auth:whoami"], account_api("stored"))
    assert (result.exit_code, result.stdout) == (0, "dev@example.com\n")
    result = run(["auth:token"])
    assert (result.exit_code, result.stdout) == (0, "stored\n")


def test_not_logged_in_is_a_clean_error(home: Path) -> None:
    result = run(["auth:whoami"])
    assert result.exit_code == 1
    assert result.stderr == " ▸    Not logged in. Run `cove login`.\n"
    assert result.stdout == ""
