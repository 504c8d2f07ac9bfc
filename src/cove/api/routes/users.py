"""Users of this Cove, managed by its admins (Heroku has no such endpoint: a Cove is one
team). Everyone else gets 403 ``forbidden``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Request

from cove.api import params, serializers
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
    """A new user with ``email`` and ``password`` (never logged, kept as an argon2id hash),
    or, without a password, an ``invitation`` token (shown once) to set it with."""
    accounts.require_admin(account)
    email = required_text(body, "email")
    password = params.text(body, "password")
    store = ctx(request).store
    created = accounts.create_account(store, email, password)
    if password is not None:
        return user(created)
    token = accounts.invite(store, created.id)
    days = accounts.INVITATION_LIFETIME.days
    return {**user(created), "invitation": {"token": token, "expires_in_days": days}}


@router.post("/invitations/accept", status_code=201)
def accept_invitation(
    request: Request,
    body: dict[str, Any] = Body(...),
    account: Account = Depends(current_account),
) -> dict[str, Any]:
    """Set a first password with an invitation token (as the Bearer credential); answers
    with a new API token, as a login does."""
    password = required_text(body, "password")
    store = ctx(request).store
    accounts.accept_invitation(store, account.id, password)
    row, token = accounts.create_authorization(store, account.id, "Invitation accepted")
    return {"id": row.id, "access_token": {"token": token}, "user": {"email": account.email}}


@router.delete("/users/{email}")
def remove_user(
    request: Request, email: str, account: Account = Depends(current_account)
) -> dict[str, Any]:
    accounts.require_admin(account)
    if email.strip().lower() == account.email:
        raise InvalidParams("You can't remove yourself.")
    removed = accounts.remove_account(ctx(request).store, email)
    return user(removed)
