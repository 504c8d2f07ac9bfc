"""Teams on one Cove: users made by the admin log in with email and password (``cove
login``, ``heroku login -i``), list and revoke their tokens; admins alone manage users."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from tests.e2e.harness import CoveServer, User
from tests.e2e.heroku_cli import HerokuUser, heroku_bin
from tests.e2e.test_run_cli import Terminal

PASSWORD_B = "b-password-123"


def create_user(admin: User, email: str, password: str) -> None:
    # The password goes through stdin: never on a command line.
    admin.run(*_cove(), "users:create", email, "--password-stdin", input=password + "\n")


def _cove() -> tuple[str, ...]:
    return (sys.executable, "-m", "cove.cli.main")


def login(home: Path, server: CoveServer, email: str, password: str) -> User:
    member = User(home, server)
    home.mkdir(parents=True, exist_ok=True)
    member.run(*_cove(), "login", input=f"{email}\n{password}\n")
    return member


@pytest.fixture(scope="module")
def admin(tmp_path_factory: pytest.TempPathFactory, server: CoveServer) -> User:
    return User.logged_in(tmp_path_factory.mktemp("admin") / "home", server)


@pytest.fixture(scope="module")
def member_b(tmp_path_factory: pytest.TempPathFactory, server: CoveServer, admin: User) -> User:
    create_user(admin, "b@example.com", PASSWORD_B)
    return login(tmp_path_factory.mktemp("b") / "home", server, "b@example.com", PASSWORD_B)


def test_member_logs_in_with_email_and_password(member_b: User) -> None:
    assert member_b.cove("auth:whoami").stdout == "b@example.com\n"
    netrc = (member_b.home / ".netrc").read_text()
    assert PASSWORD_B not in netrc and "b@example.com" in netrc


def test_wrong_password_is_refused_clearly(
    tmp_path: Path, server: CoveServer, member_b: User
) -> None:
    other = User(tmp_path / "home", server)
    other.home.mkdir()
    result = other.run(*_cove(), "login", input="b@example.com\nwrong-password\n", check=False)
    assert result.returncode == 1
    assert "Login failed: wrong email or password." in result.stderr
    assert "wrong-password" not in result.stderr
    assert not (other.home / ".netrc").exists()


def test_users_are_managed_by_admins_only(admin: User, member_b: User, server: CoveServer) -> None:
    listed = admin.cove("users").stdout
    assert "admin@cove.local" in listed and "b@example.com" in listed
    refused = member_b.run(
        *_cove(),
        "users:create",
        "c@example.com",
        "--password-stdin",
        input="c-pass-1234\n",
        check=False,
    )
    assert refused.returncode == 1
    assert "administrator" in refused.stderr
    assert server.api("GET", "/users", token=_token(member_b)).json()["id"] == "forbidden"


def _token(user: User) -> str:
    return user.cove("auth:token").stdout.strip()


def test_tokens_listed_created_and_revoked(member_b: User, server: CoveServer) -> None:
    created = member_b.cove("authorizations:create", "-d", "ci job").stdout
    token = created.split("Token:")[1].strip()
    auth_id = created.split("Client:")[1].split()[0]
    assert server.api("GET", "/account", token=token).json()["email"] == "b@example.com"
    listing = member_b.cove("authorizations").stdout
    assert auth_id in listing and "ci job" in listing and token not in listing
    member_b.cove("authorizations:revoke", auth_id)
    refused = server.api("GET", "/account", token=token)
    assert (refused.status_code, refused.json()["id"]) == (401, "unauthorized")


def test_removed_user_cannot_log_in(tmp_path: Path, admin: User, server: CoveServer) -> None:
    create_user(admin, "gone@example.com", "gone-pass-123")
    gone = login(tmp_path / "home", server, "gone@example.com", "gone-pass-123")
    token = _token(gone)
    admin.cove("users:remove", "gone@example.com")
    assert server.api("GET", "/account", token=token).status_code == 401
    again = gone.run(*_cove(), "login", input="gone@example.com\ngone-pass-123\n", check=False)
    assert again.returncode == 1 and "Login failed" in again.stderr


def test_logout_revokes_the_token(tmp_path: Path, admin: User, server: CoveServer) -> None:
    create_user(admin, "out@example.com", "out-pass-123")
    leaving = login(tmp_path / "home", server, "out@example.com", "out-pass-123")
    token = _token(leaving)
    leaving.cove("logout")
    assert server.api("GET", "/account", token=token).status_code == 401


def heroku_login(dev: HerokuUser, email: str, password: str) -> tuple[int, bytes]:
    """``heroku login -i`` on a terminal, as typed (its prompts read keys from a TTY)."""
    term = Terminal([str(heroku_bin()), "login", "-i"], dev.env, rows=30, cols=100)
    try:
        term.expect(rb"Email")
        term.send(email.encode() + b"\r")
        term.expect(rb"Password")
        term.send(password.encode() + b"\r")
        term.expect(rb"Logged in as [^\r\n]+|Invalid credentials provided", timeout=120)
        # The CLI colours the email: compare text without terminal escapes.
        return term.wait(120), re.sub(rb"\x1b\[[0-9;?]*[A-Za-z]", b"", term.output)
    finally:
        term.close()


def test_heroku_login_interactive_with_email_and_password(
    tmp_path: Path, admin: User, server: CoveServer
) -> None:
    create_user(admin, "hk@example.com", "hk-pass-1234")
    dev = HerokuUser(tmp_path / "home", server, token="")
    dev.home.mkdir()
    status, output = heroku_login(dev, "hk@example.com", "hk-pass-1234")
    assert status == 0, output
    assert b"Logged in as hk@example.com" in output
    assert "hk-pass-1234" not in (dev.home / ".netrc").read_text()
    assert dev.heroku("auth:whoami").stdout.strip() == "hk@example.com"
    other = HerokuUser(tmp_path / "other", server, token="")
    other.home.mkdir()
    status, output = heroku_login(other, "hk@example.com", "wrong-pass-1")
    assert status != 0
    assert b"Invalid credentials provided" in output
