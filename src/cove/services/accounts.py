"""Accounts and API tokens."""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import func, select

from cove.domain.errors import Unauthorized
from cove.store import Account, Store, Token

ADMIN_EMAIL = "admin@cove.local"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(store: Store, account_id: str, description: str) -> str:
    token = "cove_" + secrets.token_urlsafe(32)
    with store.session() as s:
        s.add(Token(account_id=account_id, token_hash=hash_token(token), description=description))
    return token


def ensure_admin(store: Store) -> str | None:
    """On first start, create the admin account and return its new token (else None)."""
    with store.session() as s:
        if s.scalar(select(func.count()).select_from(Account)):
            return None
        admin = Account(email=ADMIN_EMAIL, name="admin")
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
