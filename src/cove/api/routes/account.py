"""Account, tokens and the Heroku CLI's login flow."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Request

from cove.api import openapi, params, serializers
from cove.api.auth import current_account, current_credentials
from cove.api.request_headers import RATE_LIMIT_REMAINING
from cove.api.routes.common import ctx
from cove.domain.errors import InvalidParams, NotFound
from cove.services import accounts
from cove.store import Account, Token

router = APIRouter()


@router.get("/account")
@router.get("/users/~")
def get_account(account: Account = Depends(current_account)) -> dict[str, Any]:
    return serializers.account(account)


_PASSWORD_BODY = openapi.json_body(
    openapi.obj(("new_password",), new_password=openapi.STRING, password=openapi.STRING),
    {"password": "current password", "new_password": "new password"},
)


@router.patch("/account", openapi_extra=_PASSWORD_BODY)
@router.patch("/users/~", openapi_extra=_PASSWORD_BODY)
def update_account(
    request: Request,
    body: dict[str, Any] = Body(...),
    account: Account = Depends(current_account),
) -> dict[str, Any]:
    """Heroku's "change password" shape: ``new_password``, and ``password`` (the current
    one; not needed while the account has none, as the first start's admin)."""
    new = params.required_text(body, "new_password")
    current = params.text(body, "password")
    changed = accounts.change_password(ctx(request).store, account.id, current, new)
    return serializers.account(changed)


@router.get("/account/rate-limits")
def rate_limits(_: Account = Depends(current_account)) -> dict[str, Any]:
    return {"remaining": RATE_LIMIT_REMAINING}


def _authorization(row: Token, account: Account, token: str | None = None) -> dict[str, Any]:
    """Heroku's oauth-authorization shape; the token itself only when just created."""
    return {
        "id": row.id,
        "description": row.description,
        "access_token": None
        if token is None
        else {"id": row.id, "token": token, "expires_in": None},
        "scope": ["global"],
        "user": {"id": account.id, "email": account.email, "full_name": account.name},
        "created_at": serializers.iso(row.created_at),
        "updated_at": serializers.iso(row.updated_at),
    }


@router.post("/oauth/authorizations", status_code=201)
def create_authorization(
    request: Request,
    body: dict[str, Any] | None = Body(default=None),
    account: Account = Depends(current_account),
) -> dict[str, Any]:
    """A new token. `heroku login -i` and `cove login` send Basic email:password; any
    token of the account works too (``cove authorizations:create``)."""
    description = (body or {}).get("description") or "Created by the API"
    if not isinstance(description, str) or len(description) > 255:
        raise InvalidParams("description must be a string of at most 255 characters.")
    row, token = accounts.create_authorization(ctx(request).store, account.id, description)
    return _authorization(row, account, token)


@router.get("/oauth/authorizations")
def list_authorizations(
    request: Request, account: Account = Depends(current_account)
) -> list[dict[str, Any]]:
    rows = accounts.list_authorizations(ctx(request).store, account.id)
    return [_authorization(row, account) for row in rows]


@router.get("/oauth/authorizations/{ident}")
def get_authorization(
    request: Request, ident: str, account: Account = Depends(current_account)
) -> dict[str, Any]:
    for row in accounts.list_authorizations(ctx(request).store, account.id):
        if row.id == ident:
            return _authorization(row, account)
    raise NotFound(f"Couldn't find that authorization. ({ident})")


@router.delete("/oauth/authorizations/{ident}")
def revoke_authorization(
    request: Request, ident: str, account: Account = Depends(current_account)
) -> dict[str, Any]:
    row = accounts.revoke_authorization(ctx(request).store, account.id, ident)
    return _authorization(row, account)


# Left out of the OpenAPI schema: a client exploring it (a fuzzer) would log itself out.
@router.delete("/oauth/sessions/~", include_in_schema=False)
def delete_session(request: Request, _: Account = Depends(current_account)) -> dict[str, Any]:
    """Logging out (`heroku logout`, `cove logout`) revokes the token it used."""
    _account, token = current_credentials(request)
    if token:
        accounts.revoke_token(ctx(request).store, token)
    return {}
