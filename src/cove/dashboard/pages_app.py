"""An app's pages: Overview (with its live dyno list), Activity (releases, rollback),
Resources (formation, scaling) and Settings (config vars). Every change goes through the
service the API's route uses, and writes the same ``app[api]`` log lines."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from cove.dashboard import pages_builds, views
from cove.dashboard.sessions import Visitor
from cove.dashboard.web import action, audit, dashboard, failure, notice, page, render
from cove.domain.errors import CoveError
from cove.services import config, formation, releases
from cove.store import App

DYNOS_POLL_SECONDS = 2  # how often the Overview's dyno list refreshes itself


def _load(request: Request, visitor: Visitor) -> tuple[App, dict[str, Any]]:
    """The app named in the path (if the visitor may see it) and the page header."""
    dash = dashboard(request)
    app = views.find_app(dash.ctx.store, request.path_params["app"], visitor.account)
    return app, views.app_header(dash.ctx.store, dash.ctx.settings, app)


def _overview(request: Request, visitor: Visitor) -> dict[str, Any]:
    store = dashboard(request).ctx.store
    app, header = _load(request, visitor)
    activity, _ = views.release_lines(store, app, views.OVERVIEW_ACTIVITY)
    return {
        **header,
        "activity": activity,
        "current": views.current_release(store, app),
        "dynos": views.dyno_lines(store, app),
        "processes": views.process_lines(store, app),
        "addons": views.addon_lines(store, app),
        "poll_seconds": DYNOS_POLL_SECONDS,
    }


@page
async def overview(request: Request, visitor: Visitor) -> Response:
    data = await run_in_threadpool(_overview, request, visitor)
    return render(request, "overview.html", visitor, tab="overview", **data)


def _dynos(request: Request, visitor: Visitor) -> dict[str, Any]:
    app, header = _load(request, visitor)
    store = dashboard(request).ctx.store
    return {
        **header,
        "dynos": views.dyno_lines(store, app),
        "current": views.current_release(store, app),
        "poll_seconds": DYNOS_POLL_SECONDS,
    }


@page
async def dynos_fragment(request: Request, visitor: Visitor) -> Response:
    """The Overview's dyno list alone: htmx fetches it every few seconds, and puts the
    current release it carries too (out of band) in its place on the page."""
    data = await run_in_threadpool(_dynos, request, visitor)
    response = render(request, "_dynos.html", visitor, oob=True, **data)
    response.headers["Cache-Control"] = "no-store"
    return response


def _activity(request: Request, visitor: Visitor) -> dict[str, Any]:
    app, header = _load(request, visitor)
    lines, current = views.release_lines(dashboard(request).ctx.store, app, views.ACTIVITY_PAGE)
    builds = pages_builds.build_lines(request, visitor)
    return {**header, "releases": lines, "current_version": current, "builds": builds}


@page
async def activity(request: Request, visitor: Visitor) -> Response:
    data = await run_in_threadpool(_activity, request, visitor)
    return render(request, "activity.html", visitor, tab="activity", **data)


@action
async def rollback(request: Request, visitor: Visitor, form: dict[str, str]) -> Response:
    dash = dashboard(request)
    app, _ = await run_in_threadpool(_load, request, visitor)
    back = dash.app_url(app.name, "/activity")
    target = form.get("release", "")[:40]
    try:
        release = await run_in_threadpool(
            releases.rollback, dash.ctx.store, app.id, target, visitor.account.id
        )
    except CoveError as exc:
        return await failure(request, visitor, exc, back)
    audit(request, app.id, visitor, release.description)
    audit(request, app.id, visitor, f"Release v{release.version} created")
    return await notice(request, visitor, f"{release.description}: v{release.version}.", back)


def _settings(request: Request, visitor: Visitor) -> dict[str, Any]:
    app, header = _load(request, visitor)
    return {**header, "config": sorted(app.config.items())}


@page
async def settings(request: Request, visitor: Visitor) -> Response:
    data = await run_in_threadpool(_settings, request, visitor)
    reveal = request.query_params.get("reveal") == "1"
    response = render(request, "settings.html", visitor, tab="settings", reveal=reveal, **data)
    return response


async def _change_config(
    request: Request, visitor: Visitor, changes: dict[str, str | None]
) -> Response:
    """Like ``cove config:set``/``config:unset``: a new release when anything changed."""
    dash = dashboard(request)
    app, _ = await run_in_threadpool(_load, request, visitor)
    back = dash.app_url(app.name, "/settings?reveal=1")
    try:
        result = await run_in_threadpool(
            config.update, dash.ctx.store, app.id, changes, visitor.account.id
        )
    except CoveError as exc:
        return await failure(request, visitor, exc, back)
    if result.release is None:
        return await notice(request, visitor, "Nothing changed.", back)
    audit(request, app.id, visitor, result.release.description)
    audit(request, app.id, visitor, f"Release v{result.release.version} created")
    message = f"{result.release.description}: v{result.release.version}."
    return await notice(request, visitor, message, back)


@action
async def set_config(request: Request, visitor: Visitor, form: dict[str, str]) -> Response:
    key = form.get("key", "").strip()
    # Browsers send a textarea's line breaks as CRLF; a value keeps the user's LF.
    value = form.get("value", "").replace("\r\n", "\n")
    return await _change_config(request, visitor, {key: value})


@action
async def unset_config(request: Request, visitor: Visitor, form: dict[str, str]) -> Response:
    return await _change_config(request, visitor, {form.get("key", ""): None})


def _resources(request: Request, visitor: Visitor) -> dict[str, Any]:
    app, header = _load(request, visitor)
    store = dashboard(request).ctx.store
    return {
        **header,
        "processes": views.process_lines(store, app),
        "addons": views.addon_lines(store, app),
        "sizes": views.DYNO_SIZES,
        "max_quantity": formation.MAX_QUANTITY,
    }


@page
async def resources(request: Request, visitor: Visitor) -> Response:
    data = await run_in_threadpool(_resources, request, visitor)
    return render(request, "resources.html", visitor, tab="resources", **data)


@action
async def scale(request: Request, visitor: Visitor, form: dict[str, str]) -> Response:
    """Like ``cove ps:scale type=N:size``."""
    dash = dashboard(request)
    app, _ = await run_in_threadpool(_load, request, visitor)
    back = dash.app_url(app.name, "/resources")
    update = {"type": form.get("type", ""), "quantity": form.get("quantity", "").strip() or None}
    if form.get("size"):
        update["size"] = form["size"]
    try:
        rows = await run_in_threadpool(formation.scale, dash.ctx.store, app.id, [update])
    except CoveError as exc:
        return await failure(request, visitor, exc, back)
    scaled = " ".join(f"{f.type}@{f.quantity}:{f.size.title()}" for f in rows)
    audit(request, app.id, visitor, f"Scaled to {scaled}")
    return await notice(request, visitor, f"Scaled to {scaled}.", back)
