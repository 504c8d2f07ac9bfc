"""Formation (scaling) and dynos (listing, restarting)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Request
from sqlalchemy import select

from cove.api import openapi, params, serializers
from cove.api.auth import current_account
from cove.api.routes.common import audit, ctx, load_app
from cove.domain.errors import InvalidParams, NotFound
from cove.services import dynos, formation
from cove.store import Account, App, Formation, Release

router = APIRouter()


def _formation_json(request: Request, app: App, rows: list[Formation]) -> list[dict[str, Any]]:
    with ctx(request).store.session() as s:
        types = formation.process_types(s, app.id)
    return [serializers.formation(f, app, types.get(f.type, "")) for f in rows if f.type in types]


def _scale_log(request: Request, app: App, account: Account, rows: list[Formation]) -> None:
    scaled = " ".join(f"{f.type}@{f.quantity}:{f.size.title()}" for f in rows)
    audit(request, app, account, f"Scaled to {scaled}")


@router.get("/apps/{ident}/formation")
def list_formation(
    request: Request, ident: str, account: Account = Depends(current_account)
) -> list[dict[str, Any]]:
    app = load_app(request, ident, account)
    return _formation_json(request, app, formation.list_formation(ctx(request).store, app.id))


_QUANTITY = openapi.one_of(openapi.INTEGER, openapi.STRING)  # "+1"/"-1" are relative
_SIZE = openapi.nullable(openapi.STRING)


@router.patch(
    "/apps/{ident}/formation",
    openapi_extra=openapi.json_body(
        openapi.obj(
            ("updates",),
            updates=openapi.array(
                openapi.obj(("type",), type=openapi.STRING, quantity=_QUANTITY, size=_SIZE)
            ),
        ),
        {"updates": [{"type": "web", "quantity": 2, "size": "standard-1x"}]},
    ),
)
def batch_scale(
    request: Request,
    ident: str,
    body: dict[str, Any] = Body(...),
    account: Account = Depends(current_account),
) -> list[dict[str, Any]]:
    app = load_app(request, ident, account)
    updates = params.objects(body, "updates", "{type, quantity, size}")
    rows = formation.scale(ctx(request).store, app.id, [_checked(u) for u in updates])
    _scale_log(request, app, account, rows)
    return _formation_json(request, app, rows)


@router.get("/apps/{ident}/formation/{type_}")
def get_formation(
    request: Request, ident: str, type_: str, account: Account = Depends(current_account)
) -> dict[str, Any]:
    app = load_app(request, ident, account)
    rows = _formation_json(request, app, [formation.get_type(ctx(request).store, app.id, type_)])
    if not rows:
        raise InvalidParams(f"Couldn't find that process type ({type_}).")
    return rows[0]


@router.patch(
    "/apps/{ident}/formation/{type_}",
    openapi_extra=openapi.json_body(
        openapi.obj(quantity=_QUANTITY, size=_SIZE), {"quantity": "+1"}
    ),
)
def scale_one(
    request: Request,
    ident: str,
    type_: str,
    body: dict[str, Any] = Body(...),
    account: Account = Depends(current_account),
) -> dict[str, Any]:
    app = load_app(request, ident, account)
    rows = formation.scale(ctx(request).store, app.id, [_checked({**body, "type": type_})])
    _scale_log(request, app, account, rows)
    return _formation_json(request, app, rows)[0]


def _checked(update: dict[str, Any]) -> dict[str, Any]:
    """A formation update whose fields have the types ``formation.scale`` takes (the
    quantity may be a number or a string such as "+1": it checks that itself)."""
    params.text(update, "type")
    params.text(params.mapping(update, "dyno_size"), "name", "dyno_size.")
    return update


@router.get("/apps/{ident}/dynos")
def list_dynos(
    request: Request, ident: str, account: Account = Depends(current_account)
) -> list[dict[str, Any]]:
    app = load_app(request, ident, account)
    with ctx(request).store.session() as s:
        ids = {r.version: r.id for r in s.scalars(select(Release).where(Release.app_id == app.id))}
    return [
        serializers.dyno(d, app, ids.get(d.release_version), ctx(request).dyno_memory(d.id))
        for d in dynos.list_dynos(ctx(request).store, app.id)
    ]


@router.get("/apps/{ident}/dynos/{dyno}")
def get_dyno(
    request: Request, ident: str, dyno: str, account: Account = Depends(current_account)
) -> dict[str, Any]:
    """One dyno by name (``web.1``) or id, as the list shows it."""
    for item in list_dynos(request, ident, account):
        if dyno in (item["name"], item["id"]):
            return item
    raise NotFound(f"Couldn't find that dyno. ({dyno})")


def _restart(request: Request, ident: str, account: Account, target: str) -> dict[str, Any]:
    app = load_app(request, ident, account)
    formation.request_restart(ctx(request).store, app.id, target)
    audit(request, app, account, "Restart" if target == "*" else f"Restart {target}")
    return {}


@router.delete("/apps/{ident}/dynos", status_code=202)
def restart_all(
    request: Request, ident: str, account: Account = Depends(current_account)
) -> dict[str, Any]:
    return _restart(request, ident, account, "*")


@router.delete("/apps/{ident}/dynos/{dyno}", status_code=202)
def restart_dyno(
    request: Request, ident: str, dyno: str, account: Account = Depends(current_account)
) -> dict[str, Any]:
    return _restart(request, ident, account, dyno)


@router.delete("/apps/{ident}/formations/{type_}", status_code=202)
def restart_type(
    request: Request, ident: str, type_: str, account: Account = Depends(current_account)
) -> dict[str, Any]:
    return _restart(request, ident, account, type_)


@router.post("/apps/{ident}/dynos/{dyno}/actions/stop", status_code=202)
@router.post("/apps/{ident}/formations/{dyno}/actions/stop", status_code=202)
def stop_dynos(
    request: Request, ident: str, dyno: str, account: Account = Depends(current_account)
) -> dict[str, Any]:
    app = load_app(request, ident, account)
    formation.request_stop(ctx(request).store, app.id, dyno)
    audit(request, app, account, f"Stop {dyno}")
    return {}
