"""The rest of an app's Settings page: buildpacks, domains, maintenance mode, renaming and
deleting the app. Each form does what the matching CLI command asks of the API
(``buildpacks:add/set/remove``, ``domains:add/remove``, ``maintenance:on/off``,
``apps:rename``, ``apps:destroy --confirm``), through the same service functions."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from cove.dashboard import views
from cove.dashboard.pages_app import _settings
from cove.dashboard.sessions import Visitor
from cove.dashboard.web import action, audit, dashboard, failure, notice, page, render
from cove.domain.errors import CoveError, InvalidParams
from cove.services import access, addons, app_changes, apps, domains
from cove.store import App

MAX_FIELD = 2048  # a buildpack URL or a hostname; longer is refused before any lookup


def _field(form: dict[str, str], name: str, what: str) -> str:
    value = form.get(name, "").strip()
    if not value:
        raise InvalidParams(f"Enter {what}.")
    if len(value) > MAX_FIELD:
        raise InvalidParams(f"The {name} is longer than {MAX_FIELD} characters.")
    return value


def _more(request: Request, visitor: Visitor) -> dict[str, Any]:
    data = _settings(request, visitor)
    app: App = data["app"]
    ctx = dashboard(request).ctx
    return {
        **data,
        "buildpacks": list(app.buildpacks or []),
        "default_domain": domains.cname(app, ctx.settings.domain),
        "domains": domains.list_for_app(ctx.store, app.id),
        "may_delete": visitor.account.admin or app.owner_id == visitor.account.id,
    }


@page
async def settings(request: Request, visitor: Visitor) -> Response:
    """Config vars (``pages_app``), then the sections below."""
    data = await run_in_threadpool(_more, request, visitor)
    reveal = request.query_params.get("reveal") == "1"
    return render(request, "settings.html", visitor, tab="settings", reveal=reveal, **data)


async def _app(request: Request, visitor: Visitor) -> tuple[App, str]:
    """The app named in the path (if the visitor may see it), and its Settings page."""
    dash = dashboard(request)
    name = request.path_params["app"]
    app = await run_in_threadpool(views.find_app, dash.ctx.store, name, visitor.account)
    return app, dash.app_url(app.name, "/settings")


# -- buildpacks ----------------------------------------------------------------------------


@action
async def change_buildpacks(request: Request, visitor: Visitor, form: dict[str, str]) -> Response:
    """``add`` (last), ``set`` (the only one), or ``remove`` one of the app's buildpacks."""
    app, back = await _app(request, visitor)
    store = dashboard(request).ctx.store
    urls = list(app.buildpacks or [])
    mode = form.get("mode", "")
    try:
        buildpack = _field(
            form, "buildpack", "a buildpack (a name such as heroku/python, or a URL)"
        )
        if mode == "add":
            urls.append(buildpack)
            done = f"Added {buildpack}."
        elif mode == "set":
            urls = [buildpack]
            done = f"Buildpack set to {buildpack}."
        elif mode == "remove":
            if buildpack not in urls:
                raise InvalidParams(f"The buildpack {buildpack} is not set on {app.name}.")
            urls.remove(buildpack)
            done = f"Removed {buildpack}."
        else:
            raise InvalidParams("Choose to add, set or remove a buildpack.")
        await run_in_threadpool(app_changes.set_buildpacks, store, app.id, urls)
    except CoveError as exc:
        return await failure(request, visitor, exc, back)
    return await notice(request, visitor, done + " The next deploy builds with it.", back)


# -- domains -------------------------------------------------------------------------------


@action
async def add_domain(request: Request, visitor: Visitor, form: dict[str, str]) -> Response:
    app, back = await _app(request, visitor)
    ctx = dashboard(request).ctx
    try:
        hostname = _field(form, "hostname", "a hostname, such as www.example.com")
        domain = await run_in_threadpool(
            domains.create, ctx.store, app, hostname, ctx.settings.domain
        )
    except CoveError as exc:
        return await failure(request, visitor, exc, back)
    message = f"Added {domain.hostname}: point its DNS at {domain.cname} (a CNAME record)."
    return await notice(request, visitor, message, back)


@action
async def remove_domain(request: Request, visitor: Visitor, form: dict[str, str]) -> Response:
    app, back = await _app(request, visitor)
    store = dashboard(request).ctx.store
    try:
        hostname = _field(form, "hostname", "a hostname")
        removed = await run_in_threadpool(domains.remove, store, app, hostname)
    except CoveError as exc:
        return await failure(request, visitor, exc, back)
    return await notice(request, visitor, f"Removed {removed.hostname}.", back)


# -- maintenance, rename, delete -----------------------------------------------------------


@action
async def maintenance(request: Request, visitor: Visitor, form: dict[str, str]) -> Response:
    """Like ``maintenance:on``/``off``: the router answers 503 (H80) while it is on."""
    app, back = await _app(request, visitor)
    on = form.get("maintenance") == "on"
    await run_in_threadpool(apps.set_maintenance, dashboard(request).ctx.store, app.id, on)
    return await notice(request, visitor, f"Maintenance mode is {'on' if on else 'off'}.", back)


@action
async def rename(request: Request, visitor: Visitor, form: dict[str, str]) -> Response:
    """Like ``apps:rename``: the git remote changes with the name."""
    app, back = await _app(request, visitor)
    ctx = dashboard(request).ctx
    name = form.get("name", "").strip()[:MAX_FIELD]
    if name == app.name:
        return await notice(request, visitor, "Nothing changed.", back)
    try:
        renamed = await app_changes.rename(ctx.store, ctx.settings.repos_dir, app, name)
    except CoveError as exc:
        return await failure(request, visitor, exc, back)
    audit(request, app.id, visitor, f"Rename from {app.name} to {renamed.name}")
    message = (
        f"Renamed {app.name} to {renamed.name}. Its git remote is now "
        f"{ctx.settings.git_url(renamed.name)}."
    )
    return await notice(
        request, visitor, message, dashboard(request).app_url(renamed.name, "/settings")
    )


def _destroy(request: Request, visitor: Visitor, app: App) -> None:
    ctx = dashboard(request).ctx
    access.require_owner(app, visitor.account, "destroy")
    # Its add-ons (and their data) go with it; other apps' add-ons are only detached.
    addons.destroy_for_app(ctx.store, ctx.addons, app.id, visitor.account.id)
    apps.destroy(ctx.store, app.id)
    ctx.logs.forget(app.id)


@action
async def destroy(request: Request, visitor: Visitor, form: dict[str, str]) -> Response:
    """Like ``apps:destroy --confirm NAME``: only its owner (or an admin), and only with
    the app's name typed again."""
    app, back = await _app(request, visitor)
    try:
        if form.get("confirm", "").strip() != app.name:
            raise InvalidParams(f"Type {app.name} to confirm: nothing was deleted.")
        await run_in_threadpool(_destroy, request, visitor, app)
    except CoveError as exc:
        return await failure(request, visitor, exc, back)
    return await notice(request, visitor, f"Deleted {app.name}.", dashboard(request).url("/apps"))
