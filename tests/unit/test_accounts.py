"""Passwords (argon2id), password login, tokens as authorizations, user management rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from cove.domain import passwords
from cove.domain.errors import Conflict, Forbidden, InvalidParams, NotFound, Unauthorized
from cove.services import accounts
from cove.store import Store, Token
from cove.store.models import Invitation

# Every test here runs on a SQLite and on a PostgreSQL store (tests/unit/conftest.py).
BOTH_STORES = True


def test_password_hash_is_argon2id_and_verifies() -> None:
    hashed = passwords.hash_password("correct horse")
    assert hashed.startswith("$argon2id$")
    assert "correct horse" not in hashed
    assert passwords.verify(hashed, "correct horse")
    assert not passwords.verify(hashed, "correct horsE")


def test_same_password_hashes_differently() -> None:
    assert passwords.hash_password("correct horse") != passwords.hash_password("correct horse")


def test_missing_or_corrupt_hash_never_matches() -> None:
    assert not passwords.verify(None, "cove-no-such-account")
    assert not passwords.verify("not-a-hash", "anything")


def test_password_length_rules() -> None:
    with pytest.raises(InvalidParams, match="at least 8"):
        passwords.hash_password("short")
    with pytest.raises(InvalidParams, match="at most"):
        passwords.hash_password("x" * (passwords.MAX_LENGTH + 1))
    assert not passwords.verify(passwords.hash_password("x" * 8), "x" * (passwords.MAX_LENGTH + 1))


def test_first_account_is_admin(store: Store) -> None:
    assert accounts.ensure_admin(store)
    assert accounts.by_email(store, accounts.ADMIN_EMAIL).admin


def test_password_login(store: Store) -> None:
    created = accounts.create_account(store, "Dev@Example.com", "s3cret-pass")
    assert created.email == "dev@example.com" and not created.admin
    assert accounts.password_login(store, "dev@example.com", "s3cret-pass").id == created.id
    for email, password in [("dev@example.com", "wrong-pass"), ("nobody@example.com", "x")]:
        with pytest.raises(Unauthorized, match=r"Invalid credentials provided\."):
            accounts.password_login(store, email, password)


def test_account_without_password_cannot_log_in_by_password(store: Store) -> None:
    accounts.ensure_admin(store)
    with pytest.raises(Unauthorized):
        accounts.password_login(store, accounts.ADMIN_EMAIL, "cove-no-such-account")


def test_create_account_refuses_duplicates_and_bad_emails(store: Store) -> None:
    accounts.create_account(store, "dev@example.com", "s3cret-pass")
    with pytest.raises(Conflict):
        accounts.create_account(store, "DEV@example.com", "s3cret-pass")
    with pytest.raises(InvalidParams):
        accounts.create_account(store, "no-at-sign", "s3cret-pass")


def test_authorizations_listed_revoked_and_stored_hashed(store: Store) -> None:
    a = accounts.create_account(store, "a@example.com", "s3cret-pass")
    b = accounts.create_account(store, "b@example.com", "s3cret-pass")
    row, token = accounts.create_authorization(store, a.id, "laptop")
    assert accounts.authenticate(store, token).id == a.id
    with store.session() as s:
        assert s.get(Token, row.id).token_hash == accounts.hash_token(token) != token  # type: ignore[union-attr]
    assert [r.description for r in accounts.list_authorizations(store, a.id)] == ["laptop"]
    with pytest.raises(NotFound):  # someone else's token reads as missing
        accounts.revoke_authorization(store, b.id, row.id)
    accounts.revoke_authorization(store, a.id, row.id)
    with pytest.raises(Unauthorized):
        accounts.authenticate(store, token)


def test_revoke_token_by_value(store: Store) -> None:
    a = accounts.create_account(store, "a@example.com", "s3cret-pass")
    token = accounts.create_token(store, a.id, "cli")
    accounts.revoke_token(store, token)
    with pytest.raises(Unauthorized):
        accounts.authenticate(store, token)


def test_only_admins_manage_users(store: Store) -> None:
    accounts.ensure_admin(store)
    user = accounts.create_account(store, "a@example.com", "s3cret-pass")
    with pytest.raises(Forbidden):
        accounts.require_admin(user)
    accounts.require_admin(accounts.by_email(store, accounts.ADMIN_EMAIL))


def test_remove_account_revokes_its_tokens(store: Store) -> None:
    user = accounts.create_account(store, "a@example.com", "s3cret-pass")
    token = accounts.create_token(store, user.id, "cli")
    accounts.remove_account(store, "a@example.com")
    with pytest.raises(Unauthorized):
        accounts.authenticate(store, token)
    with pytest.raises(NotFound):
        accounts.by_email(store, "a@example.com")
    with pytest.raises(NotFound):
        accounts.remove_account(store, "a@example.com")


def test_invitation_sets_a_first_password_once(store: Store) -> None:
    invited = accounts.create_account(store, "new@example.com", None)
    token = accounts.invite(store, invited.id)
    with store.session() as s:
        stored = s.scalars(select(Invitation.token_hash)).one()
        assert stored == accounts.hash_token(token) != token
    with pytest.raises(Unauthorized):  # no password yet
        accounts.password_login(store, "new@example.com", "first-pass-1")
    assert accounts.invited_account(store, token).id == invited.id
    accounts.accept_invitation(store, invited.id, "first-pass-1")
    assert accounts.password_login(store, "new@example.com", "first-pass-1").id == invited.id
    with pytest.raises(Unauthorized, match="not valid"):
        accounts.invited_account(store, token)


def test_invitation_expires_and_is_replaced(store: Store) -> None:
    invited = accounts.create_account(store, "new@example.com", None)
    first = accounts.invite(store, invited.id)
    second = accounts.invite(store, invited.id)
    with pytest.raises(Unauthorized):
        accounts.invited_account(store, first)
    with store.session() as s:
        row = s.scalars(select(Invitation)).one()
        row.expires_at = datetime.now(UTC) - timedelta(seconds=1)
    with pytest.raises(Unauthorized, match="expired"):
        accounts.invited_account(store, second)
    with pytest.raises(Unauthorized):  # an API token is no invitation, nor the reverse
        accounts.authenticate(store, second)


def test_an_unknown_email_costs_what_a_known_one_does() -> None:
    # The constant hash verified for a missing password has the hasher's own parameters.
    assert not passwords._HASHER.check_needs_rehash(passwords._DUMMY)
    assert not passwords.verify(None, "cove-no-such-account")  # a missing hash never matches
