"""Collaborators (`/apps/{app}/collaborators`) and app transfers (`/account/app-transfers`),
in Heroku's shapes. Anyone who may act on an app manages its collaborators; only its owner
(or an admin) transfers it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Request

from cove.api import params, serializers
from cove.api.auth import current_account
from cove.api.routes.common import audit, ctx, load_app
from cove.domain.errors import InvalidParams, NotFound
from cove.services import access
from cove.store import Account, App
from cove.store.models import Collaborator

router = APIRouter()

_PERMISSIONS = ["deploy", "manage", "operate", "view"]


def collaborator_json(app: App, row: Collaborator | None, user: Account) -> dict[str, Any]:
    """The owner has no row of its own: it is listed with role ``owner``."""
    return {
        "id": row.id if row else user.id,
        "app": {"id": app.id, "name": app.name},
        "user": {"id": user.id, "email": user.email, "federated": False},
        "role": "collaborator" if row else "owner",
        "permissions": [{"name": name, "description": ""} for name in _PERMISSIONS],
        "created_at": serializers.iso(row.created_at if row else app.created_at),
        "updated_at": serializers.iso(row.updated_at if row else app.created_at),
    }


@router.get("/apps/{ident}/collaborators")
def list_collaborators(
    request: Request, ident: str, account: Account = Depends(current_account)
) -> list[dict[str, Any]]:
    app = load_app(request, ident, account)
    return [collaborator_json(app, r, u) for r, u in access.collaborators(ctx(request).store, app)]


@router.get("/apps/{ident}/collaborators/{who}")
def get_collaborator(
    request: Request, ident: str, who: str, account: Account = Depends(current_account)
) -> dict[str, Any]:
    app = load_app(request, ident, account)
    for row, user in access.collaborators(ctx(request).store, app):
        if who.lower() in (user.email, user.id) or (row is not None and row.id == who):
            return collaborator_json(app, row, user)
    raise NotFound(f"Couldn't find that collaborator. ({who})")


@router.post("/apps/{ident}/collaborators", status_code=201)
def add_collaborator(
    request: Request,
    ident: str,
    body: dict[str, Any] = Body(...),
    account: Account = Depends(current_account),
) -> dict[str, Any]:
    app = load_app(request, ident, account)
    email = params.required_text(body, "user")
    row, user = access.add(ctx(request).store, app, email)
    audit(request, app, account, f"Add {user.email} as collaborator")
    return collaborator_json(app, row, user)


@router.delete("/apps/{ident}/collaborators/{who}")
def remove_collaborator(
    request: Request, ident: str, who: str, account: Account = Depends(current_account)
) -> dict[str, Any]:
    app = load_app(request, ident, account)
    row, user = access.remove(ctx(request).store, app, who)
    audit(request, app, account, f"Remove {user.email} as collaborator")
    return collaborator_json(app, row, user)


@router.post("/account/app-transfers", status_code=201)
def create_transfer(
    request: Request,
    body: dict[str, Any] = Body(...),
    account: Account = Depends(current_account),
) -> dict[str, Any]:
    """A transfer within one Cove needs no acceptance step: it is done at once (state
    ``accepted``) and the previous owner stays on as a collaborator."""
    app = load_app(request, _identity(body, "app"), account)
    access.require_owner(app, account, "transfer")
    previous = app.owner_id
    moved, recipient = access.transfer(ctx(request).store, app, _identity(body, "recipient"))
    audit(request, moved, account, f"Transfer to {recipient.email}")
    return {
        "id": moved.id,
        "app": {"id": moved.id, "name": moved.name},
        "owner": {"id": previous, "email": account.email if account.id == previous else ""},
        "recipient": {"id": recipient.id, "email": recipient.email},
        "state": "accepted",
        "created_at": serializers.iso(moved.updated_at),
        "updated_at": serializers.iso(moved.updated_at),
    }


def _identity(body: dict[str, Any], key: str) -> str:
    """``"name"`` or ``{"name": ...}`` / ``{"id": ...}`` / ``{"email": ...}``."""
    value = body.get(key)
    if isinstance(value, dict):
        value = value.get("name") or value.get("email") or value.get("id")
    if not isinstance(value, str) or not value:
        raise InvalidParams(f"{key} is required.")
    return value
