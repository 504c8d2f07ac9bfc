"""Apps, config vars and buildpack installations."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Body, Depends, Request

from cove.api import openapi, params, serializers
from cove.api.auth import current_account
from cove.api.routes import reference
from cove.api.routes.common import audit, ctx, load_app, owner_of
from cove.builder.buildpacks import BUILTIN
from cove.domain.errors import InvalidParams
from cove.services import access, addons, app_changes, apps, config, releases
from cove.store import Account, App, Slug

router = APIRouter()


def _app_json(request: Request, app: App) -> dict[str, Any]:
    store = ctx(request).store
    with store.session() as s:
        current = releases.current_with_slug(s, app.id)
        slug = s.get(Slug, current.slug_id) if current else None
    return serializers.app(
        app, owner_of(request, app), ctx(request).settings, slug.size if slug else None
    )


@router.get("/apps")
@router.get("/users/~/apps")
def list_apps(
    request: Request, account: Account = Depends(current_account)
) -> list[dict[str, Any]]:
    """Apps the caller owns or collaborates on (all of them for an admin, with ``/apps``;
    ``/users/~/apps`` is the caller's own and shared apps even for an admin)."""
    store = ctx(request).store
    allowed = access.accessible_app_ids(store, account)
    if allowed is None and request.url.path.endswith("/users/~/apps"):
        allowed = access.accessible_app_ids(store, account, as_member=True)
    listed = [a for a in apps.list_apps(store) if allowed is None or a.id in allowed]
    # Two queries in all, not one per app: slug sizes in one, each owner read once.
    with store.session() as s:
        sizes = releases.current_slug_sizes(s)
    owners: dict[str, Account] = {}
    out = []
    for a in listed:
        owner = owners.get(a.owner_id) or owner_of(request, a)
        owners[a.owner_id] = owner
        out.append(serializers.app(a, owner, ctx(request).settings, sizes.get(a.id)))
    return out


@router.post(
    "/apps",
    status_code=201,
    openapi_extra=openapi.json_body(
        openapi.obj(name=openapi.STRING, region=openapi.STRING, stack=openapi.STRING),
        {"name": "my-app"},
        optional=True,
    ),
)
def create_app(
    request: Request,
    body: dict[str, Any] | None = Body(default=None),
    account: Account = Depends(current_account),
) -> dict[str, Any]:
    name = (body or {}).get("name")
    if name is not None and not isinstance(name, str):
        raise InvalidParams("name must be a string.")
    reference.check_region((body or {}).get("region"))
    app = apps.create(ctx(request).store, account.id, name or None)
    audit(request, app, account, "Initial release")
    audit(request, app, account, "Release v1 created")
    return _app_json(request, app)


@router.get("/apps/{ident}")
def get_app(
    request: Request, ident: str, account: Account = Depends(current_account)
) -> dict[str, Any]:
    return _app_json(request, load_app(request, ident, account))


@router.patch(
    "/apps/{ident}",
    openapi_extra=openapi.json_body(
        openapi.obj(
            name=openapi.STRING, maintenance=openapi.one_of(openapi.BOOLEAN, openapi.INTEGER)
        ),
        {"maintenance": True},
    ),
)
async def update_app(
    request: Request,
    ident: str,
    body: dict[str, Any] = Body(...),
    account: Account = Depends(current_account),
) -> dict[str, Any]:
    app = await asyncio.to_thread(load_app, request, ident, account)
    name = params.text(body, "name")
    maintenance = _maintenance(body)
    if name is not None and name != app.name:
        app = await _rename(request, app, name, account)
    if maintenance is not None:
        store = ctx(request).store
        app = await asyncio.to_thread(apps.set_maintenance, store, app.id, maintenance)
    return await asyncio.to_thread(_app_json, request, app)


async def _rename(request: Request, app: App, name: str, account: Account) -> App:
    """The app and its git repository under the new name. Not while a push to it runs:
    the push's hook and repository go by the old name."""
    settings = ctx(request).settings
    renamed = await app_changes.rename(ctx(request).store, settings.repos_dir, app, name)
    audit(request, renamed, account, f"Rename from {app.name} to {renamed.name}")
    return renamed


def _maintenance(body: dict[str, Any]) -> bool | None:
    """true/false, or 1/0 as heroku3 sends it."""
    value = body.get("maintenance")
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise InvalidParams("maintenance must be true or false.")


@router.delete("/apps/{ident}")
def destroy_app(
    request: Request, ident: str, account: Account = Depends(current_account)
) -> dict[str, Any]:
    app = load_app(request, ident, account)
    access.require_owner(app, account, "destroy")
    body = _app_json(request, app)
    # Its add-ons (and their data) go with it; other apps' add-ons are only detached.
    addons.destroy_for_app(ctx(request).store, ctx(request).addons, app.id, account.id)
    apps.destroy(ctx(request).store, app.id)
    ctx(request).logs.forget(app.id)
    return body


@router.get("/apps/{ident}/config-vars")
def get_config(
    request: Request, ident: str, account: Account = Depends(current_account)
) -> dict[str, str]:
    return dict(load_app(request, ident, account).config)


@router.patch(
    "/apps/{ident}/config-vars",
    openapi_extra=openapi.json_body(
        {
            "type": "object",
            "additionalProperties": openapi.nullable(openapi.STRING),
            "description": "Config vars to set; null unsets one.",
        },
        {"DEBUG": "1", "OLD_FLAG": None},
    ),
)
def update_config(
    request: Request,
    ident: str,
    body: dict[str, Any] = Body(...),
    account: Account = Depends(current_account),
) -> dict[str, str]:
    app = load_app(request, ident, account)
    result = config.update(ctx(request).store, app.id, body, account.id)
    if result.release is not None:
        audit(request, app, account, result.release.description)
        audit(request, app, account, f"Release v{result.release.version} created")
    return result.config


@router.get("/apps/{ident}/buildpack-installations")
def get_buildpacks(
    request: Request, ident: str, account: Account = Depends(current_account)
) -> list[dict[str, Any]]:
    app = load_app(request, ident, account)
    return _buildpacks_json(app.buildpacks)


@router.put(
    "/apps/{ident}/buildpack-installations",
    openapi_extra=openapi.json_body(
        openapi.obj(
            ("updates",),
            updates=openapi.array(openapi.obj(("buildpack",), buildpack=openapi.STRING)),
        ),
        {"updates": [{"buildpack": "heroku/python"}]},
    ),
)
def set_buildpacks(
    request: Request,
    ident: str,
    body: dict[str, Any] = Body(...),
    account: Account = Depends(current_account),
) -> list[dict[str, Any]]:
    app = load_app(request, ident, account)
    updates = params.objects(body, "updates", "{buildpack: url}")
    if any("buildpack" not in update for update in updates):
        # What the heroku CLI sends for a name its registry lookup didn't find.
        raise InvalidParams(
            "updates[].buildpack is required: the buildpack registry (this server) knows no "
            f"buildpack of that name. Built-in buildpacks: {', '.join(sorted(BUILTIN))}."
        )
    urls = [params.required_text(u, "buildpack", "updates[].") for u in updates]
    urls = app_changes.set_buildpacks(ctx(request).store, app.id, urls)
    return _buildpacks_json(urls)


def _buildpacks_json(urls: list[Any]) -> list[dict[str, Any]]:
    return [{"ordinal": i, "buildpack": {"url": url, "name": url}} for i, url in enumerate(urls)]
