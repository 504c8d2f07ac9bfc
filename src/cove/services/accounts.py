"""Accounts, passwords and API tokens (OAuth authorizations in Heroku's words)."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from cove.domain import passwords
from cove.domain.errors import Conflict, Forbidden, InvalidParams, NotFound, Unauthorized
from cove.store import Account, App, Build, Pipeline, PipelinePromotion, Release, Store, Token
from cove.store.models import Collaborator, Invitation

ADMIN_EMAIL = "admin@cove.local"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(store: Store, account_id: str, description: str) -> str:
    return create_authorization(store, account_id, description)[1]


def create_authorization(store: Store, account_id: str, description: str) -> tuple[Token, str]:
    """A new token row and the token itself (shown once: only its hash is kept)."""
    token = "cove_" + secrets.token_urlsafe(32)
    with store.session() as s:
        row = Token(account_id=account_id, token_hash=hash_token(token), description=description)
        s.add(row)
    return row, token


def list_authorizations(store: Store, account_id: str) -> list[Token]:
    with store.session() as s:
        query = select(Token).where(Token.account_id == account_id).order_by(Token.created_at)
        return list(s.scalars(query))


def revoke_authorization(store: Store, account_id: str, token_id: str) -> Token:
    """Delete one of ``account_id``'s tokens (another account's reads as missing)."""
    with store.session() as s:
        row = s.get(Token, token_id)
        if row is None or row.account_id != account_id:
            raise NotFound(f"Couldn't find that authorization. ({token_id})")
        s.delete(row)
    return row


def revoke_token(store: Store, token: str) -> None:
    with store.session() as s:
        s.execute(delete(Token).where(Token.token_hash == hash_token(token)))


def password_login(store: Store, email: str, password: str) -> Account:
    """The account whose email and password these are; one message for every failure so
    a caller can't tell unknown emails from wrong passwords."""
    with store.session() as s:
        account = s.scalar(select(Account).where(Account.email == email.strip().lower()))
    if not passwords.verify(account.password_hash if account else None, password):
        raise Unauthorized("Invalid credentials provided.")
    assert account is not None
    return account


def require_admin(account: Account) -> None:
    if not account.admin:
        raise Forbidden("You must be an administrator of this Cove to manage users.")


def by_email(store: Store, email: str) -> Account:
    with store.session() as s:
        account = s.scalar(select(Account).where(Account.email == email.strip().lower()))
    if account is None:
        raise NotFound(f"Couldn't find that user. ({email})")
    return account


def list_accounts(store: Store) -> list[Account]:
    with store.session() as s:
        return list(s.scalars(select(Account).order_by(Account.email)))


def create_account(store: Store, email: str, password: str | None) -> Account:
    email = email.strip().lower()
    local, _, domain = email.partition("@")
    if not local or not domain or len(email) > 255 or any(c.isspace() for c in email):
        raise InvalidParams(f"{email!r} is not a valid email address.")
    password_hash = passwords.hash_password(password) if password is not None else None
    with store.session() as s:
        if s.scalar(select(Account).where(Account.email == email)) is not None:
            raise Conflict(f"A user with email {email} already exists.")
        account = Account(email=email, name=local, password_hash=password_hash)
        s.add(account)
    return account


INVITATION_LIFETIME = timedelta(days=7)


def invite(store: Store, account_id: str) -> str:
    """A one-time invitation token for the account to set its password with (only its
    hash is kept; a new invitation replaces the previous one)."""
    token = "cove_invite_" + secrets.token_urlsafe(32)
    with store.session() as s:
        if s.get(Account, account_id) is None:
            raise NotFound("Couldn't find that user.")
        s.execute(delete(Invitation).where(Invitation.account_id == account_id))
        s.add(
            Invitation(
                account_id=account_id,
                token_hash=hash_token(token),
                expires_at=datetime.now(UTC) + INVITATION_LIFETIME,
            )
        )
    return token


def invited_account(store: Store, token: str) -> Account:
    """The account a live invitation token belongs to."""
    with store.session() as s:
        found = s.execute(
            select(Account, Invitation.expires_at)
            .join(Invitation, Invitation.account_id == Account.id)
            .where(Invitation.token_hash == hash_token(token))
        ).first()
    expires = found[1] if found else None
    if expires is not None and expires.tzinfo is None:  # (SQLite keeps naive UTC)
        expires = expires.replace(tzinfo=UTC)
    if found is None or expires is None or expires < datetime.now(UTC):
        raise Unauthorized("This invitation is not valid (used, replaced or expired).")
    account: Account = found[0]
    return account


def accept_invitation(store: Store, account_id: str, password: str) -> None:
    """Set the first password; the invitation can't be used again."""
    set_password(store, account_id, password)
    with store.session() as s:
        s.execute(delete(Invitation).where(Invitation.account_id == account_id))


def set_password(store: Store, account_id: str, password: str) -> None:
    password_hash = passwords.hash_password(password)
    with store.session() as s:
        account = s.get(Account, account_id)
        if account is None:
            raise NotFound("Couldn't find that user.")
        account.password_hash = password_hash


def change_password(store: Store, account_id: str, current: str | None, new: str) -> Account:
    """A new password, given the current one; an account that has none yet (the admin the
    first start made, logged in with a token) sets its first without one. Its dashboard
    sessions end with the old password."""
    with store.session() as s:
        account = s.get(Account, account_id)
    if account is None:
        raise NotFound("Couldn't find that user.")
    if account.password_hash is not None and not passwords.verify(
        account.password_hash, current or ""
    ):
        raise Forbidden("The current password is wrong: the password was not changed.")
    set_password(store, account_id, new)
    return get_account(store, account_id)


def remove_account(store: Store, email: str) -> Account:
    """Remove a user: their tokens and collaborations go; apps they own must be
    transferred or destroyed first. An account that releases or builds still name is
    kept as a record, but can no longer log in."""
    with store.session() as s:
        account = s.scalar(select(Account).where(Account.email == email.strip().lower()))
        if account is None:
            raise NotFound(f"Couldn't find that user. ({email})")
        owned = s.scalar(select(func.count()).select_from(App).where(App.owner_id == account.id))
        if owned:
            raise Conflict(
                f"{account.email} owns {owned} app(s): transfer them (cove apps:transfer) "
                "or destroy them first."
            )
        s.execute(delete(Token).where(Token.account_id == account.id))
        s.execute(delete(Collaborator).where(Collaborator.account_id == account.id))
        s.execute(delete(Invitation).where(Invitation.account_id == account.id))
        account.password_hash = None
        account.admin = False
        if not _named_by_records(s, account.id):
            s.delete(account)
    return account


def _named_by_records(s: Session, account_id: str) -> bool:
    """Whether builds, releases, pipelines or promotions name this account."""
    for column in (Build.user_id, Release.user_id, Pipeline.owner_id, PipelinePromotion.user_id):
        if s.scalar(select(column).where(column == account_id).limit(1)) is not None:
            return True
    return False


def ensure_admin(store: Store) -> str | None:
    """On first start, create the admin account and return its new token (else None)."""
    with store.session() as s:
        if s.scalar(select(func.count()).select_from(Account)):
            return None
        admin = Account(email=ADMIN_EMAIL, name="admin", admin=True)
        s.add(admin)
        s.flush()
        admin_id = admin.id
    return create_token(store, admin_id, "Created at first start of cove server")


def authenticate(store: Store, token: str) -> Account:
    with store.session() as s:
        account = s.scalar(select(Account).join(Token).where(Token.token_hash == hash_token(token)))
    if account is None:
        raise Unauthorized("Invalid credentials provided.")
    return account


def get_account(store: Store, account_id: str) -> Account:
    with store.session() as s:
        account = s.get(Account, account_id)
    if account is None:
        raise Unauthorized("Invalid credentials provided.")
    return account
