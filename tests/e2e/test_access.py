"""Teams on one Cove: users made by the admin log in with email and password (``cove
login``, ``heroku login -i``), list and revoke their tokens; admins alone manage users.
User B can't see, read, push to, tail, ``run`` in or read the add-on credentials of user
A's app until A adds B with ``access:add``, and can't again once removed."""

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


def test_invited_user_sets_a_password_once(tmp_path: Path, admin: User, server: CoveServer) -> None:
    printed = admin.cove("users:create", "inv@example.com", "--invite").stdout
    invitation = next(line for line in printed.splitlines() if line.startswith("cove_invite_"))
    assert "no password" in admin.cove("users").stdout
    invited = User(tmp_path / "home", server)
    invited.home.mkdir()
    keys = f"{invitation}\ninv-pass-1234\ninv-pass-1234\n"
    result = invited.run(*_cove(), "login", "--invite", input=keys)
    assert "Logged in as inv@example.com" in result.stdout
    assert invitation not in result.stdout + result.stderr  # read hidden
    assert invited.cove("auth:whoami").stdout == "inv@example.com\n"
    # Used once; then the password is the way in.
    again = invited.run(*_cove(), "login", "--invite", input=keys, check=False)
    assert again.returncode == 1 and "This invitation is not valid" in again.stderr
    login(tmp_path / "later", server, "inv@example.com", "inv-pass-1234")


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


# -- access to another user's app -----------------------------------------------------------

SHARED = "acc-shared"
SECRET = "config-value-9f3c2e"
NOT_FOUND = "Couldn't find that app."


@pytest.fixture(scope="module")
def owner_a(tmp_path_factory: pytest.TempPathFactory, server: CoveServer, admin: User) -> User:
    """User A, with an app holding a secret config var and a Redis add-on."""
    create_user(admin, "a@example.com", "a-password-123")
    a = login(tmp_path_factory.mktemp("a") / "home", server, "a@example.com", "a-password-123")
    repo = a.new_repo("one-off", SHARED)
    a.cove("apps:create", SHARED, cwd=repo)
    a.cove("config:set", f"SHARED_SECRET={SECRET}", cwd=repo)
    a.cove("addons:create", "heroku-redis:mini", "--as", "CACHE", cwd=repo)
    return a


def redis_name(a: User) -> str:
    addons = a.server.api("GET", f"/apps/{SHARED}/addons", token=_token(a)).json()
    return str(addons[0]["name"])


def b_repo(b: User, server: CoveServer) -> Path:
    """B's copy of the app's source, with a remote at A's app (its URL is no secret)."""
    repo = b.home / "b-src"
    if not repo.exists():
        repo = b.new_repo("one-off", "b-src")
        (repo / "by-b.txt").write_text("pushed by b\n")
        b.commit_all(repo, "B's change")
        git_url = server.api("GET", f"/apps/{SHARED}").json()["git_url"]
        b.git("remote", "add", "cove", git_url, cwd=repo)
        b.git("config", "http.sslCAInfo", str(server.ca_file), cwd=repo)
    return repo


def assert_refused(b: User, a: User, server: CoveServer) -> None:
    """Every door to A's app reads as if it did not exist, and nothing of it leaks."""
    token = _token(b)
    assert SHARED not in b.cove("apps").stdout
    assert SHARED not in server.api("GET", "/apps", token=token).text
    for method, path, body in [
        ("GET", f"/apps/{SHARED}", None),
        ("GET", f"/apps/{SHARED}/config-vars", None),
        ("PATCH", f"/apps/{SHARED}/config-vars", {"X": "1"}),
        ("POST", f"/apps/{SHARED}/log-sessions", {"lines": 10}),
        ("POST", f"/apps/{SHARED}/dynos", {"command": "env"}),
        ("GET", f"/apps/{SHARED}/addons", None),
        ("GET", f"/apps/{SHARED}/collaborators", None),
        ("POST", f"/apps/{SHARED}/collaborators", {"user": "b@example.com"}),
        ("DELETE", f"/apps/{SHARED}", None),
    ]:
        answer = server.api(method, path, token=token, json=body)
        assert (answer.status_code, answer.json()["id"]) == (404, "not_found"), (path, answer.text)
        assert NOT_FOUND in answer.json()["message"] and SECRET not in answer.text
    credentials = server.api("GET", f"/redis/v0/databases/{redis_name(a)}", token=token)
    assert credentials.status_code == 404 and "redis://" not in credentials.text
    for args in (["config", "-a", SHARED], ["logs", "-n", "5", "-a", SHARED]):
        result = b.cove(*args, check=False)
        assert result.returncode == 1 and NOT_FOUND in result.stderr
        assert SECRET not in result.stdout + result.stderr
    ran = b.cove("run", "-a", SHARED, "--", "env", check=False)
    assert ran.returncode != 0 and SECRET not in ran.stdout + ran.stderr
    pushed = b.push(b_repo(b, server), check=False)
    assert pushed.returncode != 0 and "Couldn't find that app" in pushed.stderr


def test_another_users_app_is_invisible(owner_a: User, member_b: User, server: CoveServer) -> None:
    assert_refused(member_b, owner_a, server)


def test_collaborator_can_act_on_the_app_until_removed(
    owner_a: User, member_b: User, server: CoveServer
) -> None:
    owner_a.cove("access:add", "b@example.com", "-a", SHARED)
    listed = owner_a.cove("access", "-a", SHARED).stdout
    assert "a@example.com" in listed and "owner" in listed
    assert "b@example.com" in listed and "collaborator" in listed
    b = member_b
    apps = b.cove("apps").stdout
    assert SHARED in apps.split("Collaborated Apps")[-1]
    assert SECRET in b.cove("config:get", "SHARED_SECRET", "-a", SHARED).stdout
    credentials = server.api("GET", f"/redis/v0/databases/{redis_name(owner_a)}", token=_token(b))
    assert credentials.status_code == 200 and credentials.json()["resource_url"].startswith("redis")
    pushed = b.push(b_repo(b, server))
    assert "Verifying deploy" in pushed.stderr
    ran = b.cove("run", "-a", SHARED, "--", "cat", "by-b.txt")
    assert "pushed by b" in ran.stdout
    logs = b.cove("logs", "-n", "200", "-a", SHARED).stdout
    assert "by user b@example.com" in logs  # the app[api] lines name who did what
    # A collaborator can't destroy or transfer the app: that is the owner's.
    refused = server.api("DELETE", f"/apps/{SHARED}", token=_token(b))
    assert (refused.status_code, refused.json()["id"]) == (403, "forbidden")
    owner_a.cove("access:remove", "b@example.com", "-a", SHARED)
    assert "b@example.com" not in owner_a.cove("access", "-a", SHARED).stdout
    assert_refused(b, owner_a, server)


def test_owner_transfers_the_app(
    tmp_path: Path, owner_a: User, admin: User, server: CoveServer
) -> None:
    create_user(admin, "c@example.com", "c-password-123")
    c = login(tmp_path / "home", server, "c@example.com", "c-password-123")
    owner_a.cove("apps:transfer", "c@example.com", "-a", SHARED, "--confirm", SHARED)
    info = server.api("GET", f"/apps/{SHARED}", token=_token(c)).json()
    assert info["owner"]["email"] == "c@example.com"
    # A stays on as a collaborator, and can no longer destroy it.
    assert "a@example.com" in c.cove("access", "-a", SHARED).stdout
    refused = server.api("DELETE", f"/apps/{SHARED}", token=_token(owner_a))
    assert refused.status_code == 403
