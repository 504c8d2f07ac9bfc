"""Setting and changing an account's password: ``PATCH /account`` (Heroku's change-password
shape: ``new_password`` and the current ``password``) and ``cove auth:password``. The admin
the first start makes has no password: it sets its first with its token alone, then logs in
to the dashboard with it."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from argon2 import PasswordHasher
from click.testing import CliRunner
from fastapi.testclient import TestClient

from cove.api import ApiContext, create_api
from cove.cli.context import CliState
from cove.cli.main import cli
from cove.dashboard import sessions
from cove.domain import passwords
from cove.logs import LogRouter
from cove.services import accounts
from cove.settings import Settings
from cove.store import Store


@pytest.fixture(autouse=True)
def cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        passwords, "_HASHER", PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)
    )


@pytest.fixture
def api(store: Store, tmp_path: Path) -> tuple[TestClient, dict[str, str]]:
    """The API, and the Authorization header of the first start's admin (no password)."""
    token = accounts.ensure_admin(store)
    assert token is not None
    context = ApiContext(Settings(home=tmp_path), store, LogRouter(), None, None, None)  # type: ignore[arg-type]
    return TestClient(create_api(context)), {"Authorization": f"Bearer {token}"}


def _patch(api: tuple[TestClient, dict[str, str]], body: object) -> httpx.Response:
    client, auth = api
    return client.patch("/account", json=body, headers=auth)


def test_first_password_needs_only_the_token_then_the_current_one(
    api: tuple[TestClient, dict[str, str]], store: Store
) -> None:
    admin = accounts.list_accounts(store)[0]
    with pytest.raises(Exception, match="Invalid credentials"):
        accounts.password_login(store, admin.email, "first-password")
    answer = _patch(api, {"new_password": "first-password"})
    assert answer.status_code == 200 and answer.json()["email"] == admin.email
    assert accounts.password_login(store, admin.email, "first-password").id == admin.id
    dashboard_session = sessions.open_session(store, accounts.get_account(store, admin.id))

    # Now it has one: changing it needs it.
    for body in ({"new_password": "second-password"}, {"new_password": "x" * 9, "password": "no"}):
        refused = _patch(api, body)
        assert refused.status_code == 403
        assert refused.json()["message"] == (
            "The current password is wrong: the password was not changed."
        )
    assert accounts.password_login(store, admin.email, "first-password")
    short = _patch(api, {"new_password": "short", "password": "first-password"})
    assert short.status_code == 422
    assert short.json()["message"] == "Password must be at least 8 characters."
    missing = _patch(api, {"password": "first-password"})
    assert missing.status_code == 422 and missing.json()["message"] == "new_password is required."
    ok = _patch(api, {"new_password": "second-password", "password": "first-password"})
    assert ok.status_code == 200
    assert accounts.password_login(store, admin.email, "second-password")
    # The dashboard session opened with the old password has ended.
    assert sessions.visitor(store, dashboard_session) is None


def test_a_password_change_needs_a_token(api: tuple[TestClient, dict[str, str]]) -> None:
    client, _ = api
    answer = client.patch("/account", json={"new_password": "first-password"})
    assert answer.status_code == 401


def _cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, input: str) -> tuple[str, list[object]]:
    """``cove auth:password`` against a fake API: its output and the bodies it sent."""
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("COVE_API_KEY", "a-token")
    sent: list[object] = []

    def handler(request: httpx.Request) -> httpx.Response:
        assert (request.method, request.url.path) == ("PATCH", "/account")
        assert request.headers["Authorization"] == "Bearer a-token"
        body = json.loads(request.content)
        sent.append(body)
        if body.get("password") not in (None, "old-password"):
            return httpx.Response(
                403, json={"id": "forbidden", "message": "The current password is wrong."}
            )
        return httpx.Response(200, json={"id": "u1", "email": "admin@example.com"})

    state = CliState(transport=httpx.MockTransport(handler))
    result = CliRunner().invoke(cli, ["auth:password"], obj=state, input=input)
    return result.output + (f"[exit {result.exit_code}]" if result.exit_code else ""), sent


def test_cli_asks_twice_and_sends_the_current_password(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    output, sent = _cli(monkeypatch, tmp_path, "\nnew-password\nnew-password\n")
    assert sent == [{"new_password": "new-password"}]  # none yet: only the token
    assert "Changing your password... done" in output
    assert "new-password" not in output  # (hidden input)
    output, sent = _cli(
        monkeypatch,
        tmp_path,
        "old-password\nnew-password\nnot-the-same\nnew-password\nnew-password\n",
    )
    assert "do not match" in output
    assert sent == [{"new_password": "new-password", "password": "old-password"}]
    output, sent = _cli(monkeypatch, tmp_path, "wrong\nnew-password\nnew-password\n")
    assert "The current password is wrong." in output and "[exit 1]" in output
