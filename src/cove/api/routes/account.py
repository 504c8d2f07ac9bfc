"""Account, tokens and the Heroku CLI's login flow."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from cove.api import serializers
from cove.api.auth import basic_user, current_account
from cove.api.request_headers import RATE_LIMIT_REMAINING
from cove.api.routes.common import ctx
from cove.domain.errors import Unauthorized
from cove.services import accounts
from cove.store import Account

router = APIRouter()


@router.get("/account")
@router.get("/users/~")
def get_account(account: Account = Depends(current_account)) -> dict[str, Any]:
    return serializers.account(account)


@router.get("/account/rate-limits")
def rate_limits(_: Account = Depends(current_account)) -> dict[str, Any]:
    return {"remaining": RATE_LIMIT_REMAINING}


@router.post("/oauth/authorizations", status_code=201)
def create_authorization(
    request: Request, account: Account = Depends(current_account)
) -> dict[str, Any]:
    """`heroku login -i` sends Basic email:password; Cove takes an API token as the
    password and answers with a new token for the CLI."""
    user = basic_user(request.headers.get("authorization"))
    if user and "@" in user and user != account.email:
        raise Unauthorized("Invalid credentials provided.")
    token = accounts.create_token(ctx(request).store, account.id, "Heroku CLI login")
    return {
        "id": token[-12:],
        "access_token": {"token": token, "expires_in": None},
        "user": {"id": account.id, "email": account.email},
        "description": "CLI login",
        "scope": ["global"],
    }


@router.get("/oauth/authorizations")
def list_authorizations(_: Account = Depends(current_account)) -> list[dict[str, Any]]:
    return []


@router.delete("/oauth/sessions/~")
def delete_session(_: Account = Depends(current_account)) -> dict[str, Any]:
    return {}
