"""Add-ons, attachments, and the data commands behind pg:* and redis:*."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Body, Depends, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from cove.addons import PostgresProvider, Provider
from cove.api import openapi, params, serializers
from cove.api.auth import current_account
from cove.api.routes import (
    addon_resolve,
    addon_services,
    data_api,
    data_diagnose,
    data_redis,
    data_transfers,
)
from cove.api.routes.common import audit, ctx, load_app
from cove.domain.errors import Forbidden, InvalidParams, NotFound
from cove.services import addons
from cove.store import Account, AddOn, App, Attachment

router = APIRouter()

# An identity: a name or id, or an object naming one (``{"name": ...}``), as the CLI sends.
_IDENTITY = openapi.one_of(openapi.STRING, openapi.obj(id=openapi.STRING, name=openapi.STRING))


def _identity(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    if isinstance(value, dict):
        value = value.get("id") or value.get("name")
    if value is None or value == "":
        raise InvalidParams(f"{key} is required.")
    if not isinstance(value, str):
        raise InvalidParams(f'{key} must be a name or id, or {{"name": ...}}.')
    return value


def _addon_json(request: Request, view: addons.AddOnView) -> dict[str, Any]:
    with ctx(request).store.session() as s:
        owner = s.get(App, view.addon.app_id)
        assert owner is not None
        return serializers.addon(view.addon, owner, view.attachments)


def _attachment_json(request: Request, x: Attachment) -> dict[str, Any]:
    with ctx(request).store.session() as s:
        addon = s.get(AddOn, x.addon_id)
        app = s.get(App, x.app_id)
        assert addon is not None and app is not None
        owner = s.get(App, addon.app_id)
        assert owner is not None
        return serializers.attachment(x, addon, owner, app)


def _load(request: Request, ident: str, addon_ident: str, account: Account) -> tuple[App, AddOn]:
    app = load_app(request, ident, account)
    with ctx(request).store.session() as s:
        return app, addons.find_for_app(s, app, addon_ident)


def _provider(request: Request, addon: AddOn) -> Provider:
    return ctx(request).addons.get(addon.service)


def _postgres(request: Request, addon: AddOn) -> PostgresProvider:
    provider = _provider(request, addon)
    if not isinstance(provider, PostgresProvider):
        raise InvalidParams(f"{addon.name} is not a Postgres database.")
    return provider


@router.post(
    "/apps/{ident}/addons",
    status_code=201,
    openapi_extra=openapi.json_body(
        openapi.obj(
            ("plan",),
            plan=openapi.one_of(openapi.STRING, openapi.obj(("name",), name=openapi.STRING)),
            attachment=openapi.obj(name=openapi.STRING),
            name=openapi.STRING,
            config={"type": "object"},
        ),
        {"plan": "heroku-postgresql", "attachment": {"name": "DATABASE"}},
    ),
)
def create_addon(
    request: Request,
    ident: str,
    body: dict[str, Any] = Body(...),
    account: Account = Depends(current_account),
) -> dict[str, Any]:
    app = load_app(request, ident, account)
    plan = body.get("plan")
    if isinstance(plan, dict):
        plan = plan.get("name")
    if not isinstance(plan, str) or not plan:
        raise InvalidParams("plan is required, e.g. heroku-postgresql or heroku-redis:mini.")
    attachment = params.mapping(body, "attachment")
    view = addons.create(
        ctx(request).store,
        ctx(request).addons,
        app.id,
        plan,
        account.id,
        attachment_name=params.text(attachment, "name", "attachment.") or None,
        name=params.text(body, "name") or None,
    )
    for x in view.attachments:
        audit(request, app, account, f"Attach {x.name} (@ref:{view.addon.name})")
    return _addon_json(request, view)


@router.get("/apps/{ident}/addons")
def list_app_addons(
    request: Request, ident: str, account: Account = Depends(current_account)
) -> list[dict[str, Any]]:
    app = load_app(request, ident, account)
    return [_addon_json(request, v) for v in addons.list_for_app(ctx(request).store, app.id)]


@router.get("/addons")
def list_all_addons(
    request: Request, account: Account = Depends(current_account)
) -> list[dict[str, Any]]:
    return [_addon_json(request, v) for v in addons.list_for_owner(ctx(request).store, account.id)]


@router.get("/apps/{ident}/addons/{addon_ident}")
def get_addon(
    request: Request, ident: str, addon_ident: str, account: Account = Depends(current_account)
) -> dict[str, Any]:
    _, addon = _load(request, ident, addon_ident, account)
    with ctx(request).store.session() as s:
        return _addon_json(request, addons.view(s, addon))


@router.get("/addons/{addon_ident}")
def get_addon_global(
    request: Request, addon_ident: str, account: Account = Depends(current_account)
) -> dict[str, Any]:
    for view in addons.list_for_owner(ctx(request).store, account.id):
        if addon_ident in (view.addon.name, view.addon.id):
            return _addon_json(request, view)
    raise NotFound(f"Couldn't find that add-on. ({addon_ident})")


@router.patch(
    "/apps/{ident}/addons/{addon_ident}",
    openapi_extra=openapi.json_body(
        openapi.obj(
            name=openapi.STRING,
            plan=openapi.one_of(openapi.STRING, openapi.obj(("name",), name=openapi.STRING)),
        ),
        {"plan": {"name": "heroku-postgresql:essential-1"}},
    ),
)
def update_addon(
    request: Request,
    ident: str,
    addon_ident: str,
    body: dict[str, Any] = Body(...),
    account: Account = Depends(current_account),
) -> dict[str, Any]:
    """``addons:rename`` (``name``) and ``addons:upgrade`` (``plan``)."""
    app, addon = _load(request, ident, addon_ident, account)
    plan = body.get("plan")
    if isinstance(plan, dict):
        plan = plan.get("name")
    if plan is not None and not isinstance(plan, str):
        raise InvalidParams('plan must be a string or {"name": ...}.')
    view = addons.update(
        ctx(request).store,
        ctx(request).addons,
        addon.id,
        name=params.text(body, "name") or None,
        plan_spec=plan or None,
    )
    changes = []
    if view.addon.name != addon.name:
        changes.append(f"Rename {addon.name} to {view.addon.name}")
    if view.addon.plan != addon.plan:
        changes.append(f"Change {view.addon.name} to {view.addon.service}:{view.addon.plan}")
    for change in changes:
        audit(request, app, account, change)
    return _addon_json(request, view)


@router.delete("/apps/{ident}/addons/{addon_ident}")
def destroy_addon(
    request: Request, ident: str, addon_ident: str, account: Account = Depends(current_account)
) -> dict[str, Any]:
    app, addon = _load(request, ident, addon_ident, account)
    with ctx(request).store.session() as s:
        body = _addon_json(request, addons.view(s, addon))
    addons.destroy(ctx(request).store, ctx(request).addons, app.id, addon.id, account.id)
    audit(request, app, account, f"Destroy {addon.name}")
    body["state"] = "deprovisioned"
    return body


@router.get("/addon-attachments")
def list_all_attachments(
    request: Request, account: Account = Depends(current_account)
) -> list[dict[str, Any]]:
    views = addons.list_for_owner(ctx(request).store, account.id)
    return [_attachment_json(request, x) for v in views for x in v.attachments]


@router.get("/apps/{ident}/addon-attachments")
def list_app_attachments(
    request: Request, ident: str, account: Account = Depends(current_account)
) -> list[dict[str, Any]]:
    app = load_app(request, ident, account)
    views = addons.list_for_app(ctx(request).store, app.id)
    return [
        _attachment_json(request, x) for v in views for x in v.attachments if x.app_id == app.id
    ]


@router.get("/apps/{ident}/addon-attachments/{attachment}")
def get_app_attachment(
    request: Request, ident: str, attachment: str, account: Account = Depends(current_account)
) -> dict[str, Any]:
    """By id, name or config var (``addons:detach NAME``)."""
    app = load_app(request, ident, account)
    name = attachment.upper().removesuffix("_URL")
    for v in addons.list_for_app(ctx(request).store, app.id):
        for x in v.attachments:
            if x.app_id == app.id and (attachment == x.id or x.name == name):
                return _attachment_json(request, x)
    raise NotFound(f"Couldn't find that attachment on {app.name}. ({attachment})")


@router.get("/addons/{addon_ident}/addon-attachments")
def list_addon_attachments(
    request: Request, addon_ident: str, account: Account = Depends(current_account)
) -> list[dict[str, Any]]:
    for view in addons.list_for_owner(ctx(request).store, account.id):
        if addon_ident in (view.addon.name, view.addon.id):
            return [_attachment_json(request, x) for x in view.attachments]
    raise NotFound(f"Couldn't find that add-on. ({addon_ident})")


@router.post(
    "/addon-attachments",
    status_code=201,
    openapi_extra=openapi.json_body(
        openapi.obj(
            ("app", "addon"),
            app=_IDENTITY,
            addon=_IDENTITY,
            name=openapi.STRING,
            confirm=openapi.STRING,
        ),
        {"app": "my-app", "addon": "postgresql-shiny-12345", "name": "SHARED_DB"},
    ),
)
def create_attachment(
    request: Request,
    body: dict[str, Any] = Body(...),
    account: Account = Depends(current_account),
) -> dict[str, Any]:
    app = load_app(request, _identity(body, "app"), account)
    addon_ident = _identity(body, "addon")
    name = params.text(body, "name") or None
    views = addons.list_for_owner(ctx(request).store, account.id)
    owned = {v.addon.name: v for v in views} | {v.addon.id: v for v in views}
    if addon_ident not in owned:
        raise NotFound(f"Couldn't find that add-on. ({addon_ident})")
    taken = name and next(
        (
            x
            for v in addons.list_for_app(ctx(request).store, app.id)
            for x in v.attachments
            if x.app_id == app.id and x.name == name.upper().removesuffix("_URL")
        ),
        None,
    )
    if taken and taken.addon_id == owned[addon_ident].addon.id:
        return _attachment_json(request, taken)  # already attached so
    if taken and body.get("confirm") == app.name:
        # pg:promote: the name moves to this add-on (the CLI confirms with the app's name)
        addons.detach(ctx(request).store, app.id, taken.id, account.id)
        audit(request, app, account, f"Detach {taken.name}")
    x = addons.attach(
        ctx(request).store,
        ctx(request).addons,
        addon_ident,
        app.id,
        name,
        account.id,
    )
    audit(request, app, account, f"Attach {x.name} (@ref:{owned[addon_ident].addon.name})")
    return _attachment_json(request, x)


@router.delete("/addon-attachments/{attachment_id}")
def delete_attachment_by_id(
    request: Request, attachment_id: str, account: Account = Depends(current_account)
) -> dict[str, Any]:
    with ctx(request).store.session() as s:
        x = s.get(Attachment, attachment_id)
    if x is None:
        raise NotFound(f"Couldn't find that attachment. ({attachment_id})")
    return delete_attachment(request, x.app_id, attachment_id, account)


@router.delete("/apps/{ident}/addon-attachments/{attachment}")
def delete_attachment(
    request: Request, ident: str, attachment: str, account: Account = Depends(current_account)
) -> dict[str, Any]:
    app = load_app(request, ident, account)
    x = addons.detach(ctx(request).store, app.id, attachment, account.id)
    audit(request, app, account, f"Detach {x.name}")
    return {"id": x.id, "name": x.name, "app": {"id": app.id, "name": app.name}}


# -- data commands ---------------------------------------------------------------------------
@router.get("/apps/{ident}/addons/{addon_ident}/info")
def addon_info(
    request: Request, ident: str, addon_ident: str, account: Account = Depends(current_account)
) -> dict[str, Any]:
    app, addon = _load(request, ident, addon_ident, account)
    with ctx(request).store.session() as s:
        names = [x.name for x in addons.view(s, addon).attachments if x.app_id == app.id]
    info = _provider(request, addon).info(addon.resource)
    return {
        "addon": {"id": addon.id, "name": addon.name},
        "service": addon.service,
        "plan": f"{addon.service}:{addon.plan}",
        "url_var": f"{names[0]}_URL" if names else None,
        "attachments": [f"{n}_URL" for n in names],
        **info,
    }


@router.get("/apps/{ident}/addons/{addon_ident}/credentials")
def addon_credentials(
    request: Request, ident: str, addon_ident: str, account: Account = Depends(current_account)
) -> dict[str, Any]:
    _, addon = _load(request, ident, addon_ident, account)
    r = addon.resource
    return {
        "url": addon.url,
        "host": r.get("host", "127.0.0.1"),
        "port": r["port"],
        "database": r.get("database"),
        "user": r.get("role"),
        "password": r["password"],
    }


@router.post("/apps/{ident}/addons/{addon_ident}/actions/reset")
def reset_addon(
    request: Request, ident: str, addon_ident: str, account: Account = Depends(current_account)
) -> dict[str, Any]:
    app, addon = _load(request, ident, addon_ident, account)
    _postgres(request, addon).reset(addon.resource)
    audit(request, app, account, f"Reset {addon.name}")
    return {}


@router.post("/apps/{ident}/addons/{addon_ident}/backups", status_code=201)
def capture_backup(
    request: Request, ident: str, addon_ident: str, account: Account = Depends(current_account)
) -> dict[str, Any]:
    app, addon = _load(request, ident, addon_ident, account)
    provider = _postgres(request, addon)
    store = ctx(request).store
    num = addons.next_backup_num(store, addon.id)
    size = provider.capture(addon.resource, num)
    backup = addons.record_backup(store, addon.id, num, size)
    audit(request, app, account, f"Backup b{num:03d} of {addon.name}")
    return serializers.backup(backup, addon)


@router.get("/apps/{ident}/addons/{addon_ident}/backups")
def list_backups(
    request: Request, ident: str, addon_ident: str, account: Account = Depends(current_account)
) -> list[dict[str, Any]]:
    _, addon = _load(request, ident, addon_ident, account)
    return [serializers.backup(b, addon) for b in addons.list_backups(ctx(request).store, addon.id)]


def _backup_file(request: Request, addon: AddOn, backup_ident: str) -> Path:
    backup = addons.find_backup(ctx(request).store, addon.id, backup_ident)
    path = _postgres(request, addon).backup_path(addon.resource, backup.num)
    if not path.is_file():
        raise NotFound(f"The file of backup b{backup.num:03d} is missing.")
    return path


@router.get(
    "/apps/{ident}/addons/{addon_ident}/backups/{backup}/download",
    response_class=StreamingResponse,
    responses=openapi.streamed("application/octet-stream", description="The pg_dump file"),
)
def download_backup(
    request: Request,
    ident: str,
    addon_ident: str,
    backup: str,
    account: Account = Depends(current_account),
) -> StreamingResponse:
    _, addon = _load(request, ident, addon_ident, account)
    path = _backup_file(request, addon, backup)

    def chunks() -> Iterator[bytes]:
        with path.open("rb") as f:
            while chunk := f.read(1 << 16):
                yield chunk

    return StreamingResponse(
        chunks(),
        media_type="application/octet-stream",
        headers={"Content-Disposition": f'attachment; filename="{path.name}"'},
    )


@router.post("/apps/{ident}/addons/{addon_ident}/backups/{backup}/actions/restore")
def restore_backup(
    request: Request,
    ident: str,
    addon_ident: str,
    backup: str,
    account: Account = Depends(current_account),
) -> dict[str, Any]:
    app, addon = _load(request, ident, addon_ident, account)
    path = _backup_file(request, addon, backup)
    _postgres(request, addon).restore(addon.resource, path)
    audit(request, app, account, f"Restore {path.stem} to {addon.name}")
    return {}


@router.post(
    "/apps/{ident}/addons/{addon_ident}/actions/copy",
    openapi_extra=openapi.json_body(
        openapi.obj(
            ("from",), **{"from": openapi.obj(("addon",), app=openapi.STRING, addon=openapi.STRING)}
        ),
        {"from": {"app": "my-app", "addon": "HEROKU_POSTGRESQL_RED"}},
    ),
)
async def copy_addon(
    request: Request,
    ident: str,
    addon_ident: str,
    body: dict[str, Any] = Body(...),
    account: Account = Depends(current_account),
) -> dict[str, Any]:
    def run() -> dict[str, Any]:
        app, target = _load(request, ident, addon_ident, account)
        source_ref = params.mapping(body, "from")
        if not source_ref.get("addon"):
            raise InvalidParams('from is required: {"app": name, "addon": name or config var}.')
        source_app = params.text(source_ref, "app", "from.") or ident
        source_addon = params.required_text(source_ref, "addon", "from.")
        _, source = _load(request, source_app, source_addon, account)
        if source.id == target.id:
            raise Forbidden("The source and the target are the same database.")
        _postgres(request, source)
        _postgres(request, target).copy(source.resource, target.resource)
        audit(request, app, account, f"Copy {source.name} to {target.name}")
        return {}

    return await run_in_threadpool(run)


# The CLI's resolvers, the service catalogue and the data API (pg:*) ride with add-ons.
for _module in (
    addon_resolve,
    addon_services,
    data_api,
    data_transfers,
    data_redis,
    data_diagnose,
):
    router.include_router(_module.router)
