"""Users of this Cove, managed by its admins (Heroku has no such endpoint: a Cove is one
team). Everyone else gets 403 ``forbidden``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Request

from cove.api import serializers
from cove.api.auth import current_account
from cove.api.params import required_text
from cove.api.routes.common import ctx
from cove.domain.errors import InvalidParams
from cove.services import accounts
from cove.store import Account

router = APIRouter()


def user(a: Account) -> dict[str, Any]:
    return {**serializers.account(a), "admin": a.admin, "password_set": a.password_hash is not None}


@router.get("/users")
def list_users(
    request: Request, account: Account = Depends(current_account)
) -> list[dict[str, Any]]:
    accounts.require_admin(account)
    return [user(a) for a in accounts.list_accounts(ctx(request).store)]


@router.post("/users", status_code=201)
def create_user(
    request: Request,
    body: dict[str, Any] = Body(...),
    account: Account = Depends(current_account),
) -> dict[str, Any]:
    """A new user with ``email`` and ``password`` (never logged, kept as an argon2id hash)."""
    accounts.require_admin(account)
    email = required_text(body, "email")
    password = required_text(body, "password")
    created = accounts.create_account(ctx(request).store, email, password)
    return user(created)


@router.delete("/users/{email}")
def remove_user(
    request: Request, email: str, account: Account = Depends(current_account)
) -> dict[str, Any]:
    accounts.require_admin(account)
    if email.strip().lower() == account.email:
        raise InvalidParams("You can't remove yourself.")
    removed = accounts.remove_account(ctx(request).store, email)
    return user(removed)
