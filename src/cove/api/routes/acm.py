"""Automated Certificate Management: ``POST`` (enable), ``DELETE`` (disable) and ``PATCH``
(refresh) ``/apps/{app}/acm``; each answers the app, whose ``acm`` says whether it is on.
The domains' ``acm_status`` and ``acm_status_reason`` tell how their certificates go."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from cove.api.auth import current_account
from cove.api.routes.apps import _app_json
from cove.api.routes.common import audit, ctx, load_app
from cove.services import acm
from cove.store import Account

router = APIRouter()


@router.post("/apps/{ident}/acm")
def enable_acm(
    request: Request, ident: str, account: Account = Depends(current_account)
) -> dict[str, Any]:
    app = load_app(request, ident, account)
    app = acm.enable(ctx(request).store, app)
    audit(request, app, account, "Enable Automatic Certificate Management")
    return _app_json(request, app)


@router.delete("/apps/{ident}/acm")
def disable_acm(
    request: Request, ident: str, account: Account = Depends(current_account)
) -> dict[str, Any]:
    app = load_app(request, ident, account)
    app = acm.disable(ctx(request).store, app)
    audit(request, app, account, "Disable Automatic Certificate Management")
    return _app_json(request, app)


@router.patch("/apps/{ident}/acm")
def refresh_acm(
    request: Request, ident: str, account: Account = Depends(current_account)
) -> dict[str, Any]:
    app = load_app(request, ident, account)
    app = acm.refresh(ctx(request).store, app)
    return _app_json(request, app)
