"""``POST /actions/addons/resolve`` and ``POST /actions/addon-attachments/resolve``: the
Heroku CLI's way from what a user typed to add-ons and attachments (lists: a name may be
ambiguous, and the CLI says so). With an app, an add-on's own name or id is found too, so
the CLI never needs its retry without the app."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Request

from cove.api import openapi, params, serializers
from cove.api.auth import current_account
from cove.api.routes.common import ctx, load_app
from cove.domain.errors import NotFound
from cove.services import addon_resolve, addons
from cove.store import Account, App

router = APIRouter()


def _scope(
    request: Request, body: dict[str, Any], key: str, account: Account
) -> tuple[str, App | None, str | None]:
    ident, app_ref = addon_resolve.split(
        params.required_text(body, key), params.text(body, "app") or None
    )
    app = load_app(request, app_ref, account) if app_ref else None
    service = params.text(body, "addon_service") or None
    if service is not None:
        service = ctx(request).addons.get(service).service  # an alias names the same
    return ident, app, service


def _apps(request: Request, ids: set[str]) -> dict[str, App]:
    with ctx(request).store.session() as s:
        return {i: app for i in ids if (app := s.get(App, i)) is not None}


@router.post(
    "/actions/addons/resolve",
    openapi_extra=openapi.json_body(
        openapi.obj(
            ("addon",), addon=openapi.STRING, app=openapi.STRING, addon_service=openapi.STRING
        ),
        {"addon": "DATABASE", "app": "my-app"},
    ),
)
def resolve_addons(
    request: Request, body: dict[str, Any] = Body(...), account: Account = Depends(current_account)
) -> list[dict[str, Any]]:
    ident, app, service = _scope(request, body, "addon", account)
    store = ctx(request).store
    found = addon_resolve.resolve_addons(store, account.id, ident, app.id if app else None, service)
    if not found:
        where = f" on {app.name}" if app else ""
        raise NotFound(f"Couldn't find that add-on{where}. ({ident})")
    apps = _apps(request, {a.app_id for a in found})
    with store.session() as s:
        views = [addons.view(s, a) for a in found]
    return [serializers.addon(v.addon, apps[v.addon.app_id], v.attachments) for v in views]


@router.post(
    "/actions/addon-attachments/resolve",
    openapi_extra=openapi.json_body(
        openapi.obj(
            ("addon_attachment",),
            addon_attachment=openapi.STRING,
            app=openapi.STRING,
            addon_service=openapi.STRING,
        ),
        {"addon_attachment": "DATABASE", "app": "my-app"},
    ),
)
def resolve_attachments(
    request: Request, body: dict[str, Any] = Body(...), account: Account = Depends(current_account)
) -> list[dict[str, Any]]:
    ident, app, service = _scope(request, body, "addon_attachment", account)
    found = addon_resolve.resolve_attachments(
        ctx(request).store, account.id, ident, app.id if app else None, service
    )
    if not found:
        where = f" on {app.name}" if app else ""
        raise NotFound(f"Couldn't find that add-on attachment{where}. ({ident})")
    apps = _apps(request, {a.app_id for _, a in found} | {x.app_id for x, _ in found})
    return [serializers.attachment(x, a, apps[a.app_id], apps[x.app_id]) for x, a in found]
