"""Log drains: ``/apps/{app}/log-drains``. A drain is named by its id, URL or token."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Request

from cove.api import openapi, params, serializers
from cove.api.auth import current_account
from cove.api.routes.common import ctx, load_app
from cove.services import drains
from cove.store import Account

router = APIRouter()


@router.get("/apps/{ident}/log-drains")
def list_log_drains(
    request: Request, ident: str, account: Account = Depends(current_account)
) -> list[dict[str, Any]]:
    app = load_app(request, ident, account)
    return [serializers.log_drain(d, app) for d in drains.list_for_app(ctx(request).store, app.id)]


@router.post(
    "/apps/{ident}/log-drains",
    status_code=201,
    openapi_extra=openapi.json_body(
        openapi.obj(("url",), url=openapi.STRING), {"url": "syslog+tls://logs.example.com:6514"}
    ),
)
def create_log_drain(
    request: Request,
    ident: str,
    body: dict[str, Any] = Body(...),
    account: Account = Depends(current_account),
) -> dict[str, Any]:
    app = load_app(request, ident, account)
    drain = drains.create(ctx(request).store, app, params.required_text(body, "url"))
    return serializers.log_drain(drain, app)


# ``:path``: a drain's URL, given whole, has slashes in it (even once %2F-encoded).
@router.get("/apps/{ident}/log-drains/{drain:path}")
def get_log_drain(
    request: Request, ident: str, drain: str, account: Account = Depends(current_account)
) -> dict[str, Any]:
    app = load_app(request, ident, account)
    return serializers.log_drain(drains.get(ctx(request).store, app.id, drain), app)


@router.delete("/apps/{ident}/log-drains/{drain:path}")
def delete_log_drain(
    request: Request, ident: str, drain: str, account: Account = Depends(current_account)
) -> dict[str, Any]:
    app = load_app(request, ident, account)
    return serializers.log_drain(drains.remove(ctx(request).store, app.id, drain), app)
