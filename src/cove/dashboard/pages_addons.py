"""Add-ons on the dashboard: create and destroy them (Resources), and an add-on's own page.
A Postgres add-on's page shows ``pg:info``'s facts, its credentials once revealed (a POST:
never in a page fetched by GET, nor cached), and the SQL box ("dataclips", run read-only
by ``services.dataclips``), with saved queries shareable by URL to whoever may see the app.
Every change goes through the service the API's route uses."""

from __future__ import annotations

import csv
import io
import re
from typing import Any

from sqlalchemy import select
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from cove.addons import PostgresProvider, Registry
from cove.dashboard import views
from cove.dashboard.sessions import Visitor
from cove.dashboard.web import action, audit, dashboard, failure, notice, page, render
from cove.domain.errors import CoveError, InvalidParams, NotFound
from cove.services import access, addons, dataclips
from cove.store import Account, AddOn, App
from cove.store.models import Dataclip


def registry(request: Request) -> Registry:
    found: Registry | None = dashboard(request).ctx.addons
    if found is None:  # (a server always has one; some unit tests' contexts don't)
        raise NotFound("Add-ons are not available on this server.")
    return found


# -- Resources: create, destroy --------------------------------------------------------------
@action
async def create(request: Request, visitor: Visitor, form: dict[str, str]) -> Response:
    """Like ``cove addons:create heroku-postgresql:essential-0``."""
    dash = dashboard(request)
    app = await run_in_threadpool(_app, request, visitor)
    back = dash.app_url(app.name, "/resources")
    service = form.get("service", "").strip()[:64]
    plan = form.get("plan", "").strip()[:64]
    try:
        if not service:
            raise InvalidParams("Choose an add-on service.")
        if plan and ":" in plan:  # the plan list names plans as service:plan
            plan_service, _, plan = plan.partition(":")
            if plan_service != service:
                raise InvalidParams(f"{plan} is a plan of {plan_service}, not of {service}.")
        spec = f"{service}:{plan}" if plan else service
        view = await run_in_threadpool(
            addons.create, dash.ctx.store, registry(request), app.id, spec, visitor.account.id
        )
    except CoveError as exc:
        return await failure(request, visitor, exc, back)
    for x in view.attachments:
        audit(request, app.id, visitor, f"Attach {x.name} (@ref:{view.addon.name})")
    a = view.addon
    names = ", ".join(x.name for x in view.attachments if x.app_id == app.id)
    return await notice(request, visitor, f"Created {a.name} ({a.plan}) as {names}.", back)


@action
async def destroy(request: Request, visitor: Visitor, form: dict[str, str]) -> Response:
    """Like ``cove addons:destroy NAME --confirm APP``: the add-on's name must be typed."""
    dash = dashboard(request)
    app, addon = await run_in_threadpool(_app_and_addon, request, visitor)
    page_url = dash.app_url(app.name, f"/addons/{addon.name}")
    if form.get("confirm", "").strip() != addon.name:
        message = f"Type {addon.name} to confirm: its data will be gone."
        return await failure(request, visitor, InvalidParams(message), page_url)
    try:
        gone = await run_in_threadpool(
            addons.destroy,
            dash.ctx.store,
            registry(request),
            app.id,
            addon.id,
            visitor.account.id,
        )
    except CoveError as exc:
        return await failure(request, visitor, exc, page_url)
    audit(request, app.id, visitor, f"Destroy {gone.name}")
    back = dash.app_url(app.name, "/resources")
    return await notice(request, visitor, f"Destroyed {gone.name}.", back)


# -- an add-on's page ------------------------------------------------------------------------
def _app(request: Request, visitor: Visitor) -> App:
    dash = dashboard(request)
    return views.find_app(dash.ctx.store, request.path_params["app"], visitor.account)


def _app_and_addon(request: Request, visitor: Visitor) -> tuple[App, AddOn]:
    """The app (if the visitor may see it) and the add-on it owns or has attached."""
    app = _app(request, visitor)
    with dashboard(request).ctx.store.session() as s:
        return app, addons.find_for_app(s, app, request.path_params["addon"][:64])


def _size_text(size: int) -> str:
    value = float(size)
    for unit in ("bytes", "kB", "MB"):
        if value < 1024:
            return f"{size} bytes" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"


def _info(provider: PostgresProvider, addon: AddOn) -> list[tuple[str, str]]:
    """``pg:info``'s lines (those Cove has)."""
    try:
        facts = provider.info(addon.resource)
    except Exception:  # the database's server is down: the page still shows the rest
        return [("Status", "Unavailable")]
    return [
        ("Status", str(facts.get("status", "Available"))),
        ("Connections", str(facts.get("connections", 0))),
        ("PG Version", str(facts.get("version", ""))),
        ("Data Size", _size_text(int(facts.get("data_size", 0)))),
        ("Tables", str(facts.get("tables", 0))),
    ]


def _credentials(addon: AddOn) -> list[tuple[str, str]]:
    r = addon.resource
    return [
        ("Host", str(r.get("host", ""))),
        ("Port", str(r.get("port", ""))),
        ("Database", str(r.get("database", ""))),
        ("User", str(r.get("role", ""))),
        ("Password", str(r.get("password", ""))),
        ("URI", addon.url),
    ]


def _addon_page(request: Request, visitor: Visitor, reveal: bool = False) -> dict[str, Any]:
    dash = dashboard(request)
    app, addon = _app_and_addon(request, visitor)
    provider = registry(request).get(addon.service)
    postgres = isinstance(provider, PostgresProvider)
    with dash.ctx.store.session() as s:
        attachments = addons.view(s, addon).attachments
        ids = {x.app_id for x in attachments} | {addon.app_id}
        names = dict(s.execute(select(App.id, App.name).where(App.id.in_(ids))).tuples().all())
    owner_name = names.get(addon.app_id, "")
    return {
        **views.app_header(dash.ctx.store, dash.ctx.settings, app),
        "addon": addon,
        "created_at": views.aware(addon.created_at),
        "owner_name": owner_name,
        "owned": addon.app_id == app.id,
        "attachments": [(names.get(x.app_id, ""), x.name) for x in attachments],
        "postgres": postgres,
        "info": _info(provider, addon) if isinstance(provider, PostgresProvider) else [],
        "credentials": _credentials(addon) if reveal and postgres else None,
        "clips": [
            (c, views.aware(c.created_at))
            for c in (dataclips.of_addon(dash.ctx.store, addon.id) if postgres else [])
        ],
        "limits": _limits(),
    }


def _limits() -> dict[str, int]:
    return {
        "seconds": dataclips.STATEMENT_TIMEOUT_MS // 1000,
        "rows": dataclips.SHOWN_ROWS,
        "csv_rows": dataclips.CSV_ROWS,
        "sql_chars": dataclips.MAX_SQL_CHARS,
    }


def _render_addon(
    request: Request, visitor: Visitor, data: dict[str, Any], status: int = 200, **extra: Any
) -> Response:
    extra.setdefault("sql", "")
    extra.setdefault("result", None)
    extra.setdefault("error", None)
    response = render(
        request, "addon.html", visitor, status=status, tab="resources", **data, **extra
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@page
async def addon_page(request: Request, visitor: Visitor) -> Response:
    data = await run_in_threadpool(_addon_page, request, visitor)
    return _render_addon(request, visitor, data)


@action
async def reveal_credentials(request: Request, visitor: Visitor, form: dict[str, str]) -> Response:
    """The credentials, in this answer only (a POST with the form's token: a link or a
    cross-site page can't fetch them, and the answer is never cached)."""
    data = await run_in_threadpool(_addon_page, request, visitor, True)
    if not data["postgres"]:
        raise NotFound("This add-on has no credentials to show here.")
    return _render_addon(request, visitor, data)


# -- dataclips -------------------------------------------------------------------------------
def _postgres_addon(request: Request, visitor: Visitor) -> tuple[App, AddOn]:
    app, addon = _app_and_addon(request, visitor)
    if not isinstance(registry(request).get(addon.service), PostgresProvider):
        raise NotFound(f"{addon.name} is not a Postgres database.")
    return app, addon


@action
async def run_sql(request: Request, visitor: Visitor, form: dict[str, str]) -> Response:
    """The SQL box: the query's rows as a table on the add-on's page, or Postgres's error."""
    _, addon = await run_in_threadpool(_postgres_addon, request, visitor)
    query = form.get("sql", "")
    try:
        result = await run_in_threadpool(dataclips.run, addon.resource, query)
    except CoveError as exc:
        data = await run_in_threadpool(_addon_page, request, visitor)
        return _render_addon(request, visitor, data, status=422, sql=query, error=exc.message)
    data = await run_in_threadpool(_addon_page, request, visitor)
    return _render_addon(request, visitor, data, sql=query, result=result)


@action
async def sql_csv(request: Request, visitor: Visitor, form: dict[str, str]) -> Response:
    _, addon = await run_in_threadpool(_postgres_addon, request, visitor)
    return await _csv(request, visitor, addon, form.get("sql", ""), addon.name)


@action
async def save_clip(request: Request, visitor: Visitor, form: dict[str, str]) -> Response:
    dash = dashboard(request)
    app, addon = await run_in_threadpool(_postgres_addon, request, visitor)
    try:
        clip = await run_in_threadpool(
            dataclips.save,
            dash.ctx.store,
            app,
            addon,
            form.get("title", ""),
            form.get("sql", ""),
            visitor.account.id,
        )
    except CoveError as exc:
        data = await run_in_threadpool(_addon_page, request, visitor)
        sql = form.get("sql", "")
        return _render_addon(request, visitor, data, status=422, sql=sql, error=exc.message)
    return await notice(request, visitor, f"Saved {clip.title}.", clip_url(request, clip))


def clip_url(request: Request, clip: Dataclip, suffix: str = "") -> str:
    return dashboard(request).url(f"/dataclips/{clip.id}{suffix}")


def _clip(request: Request, visitor: Visitor) -> tuple[Dataclip, App, AddOn]:
    """A saved dataclip, if the visitor may see its app (else the same 404 as a missing
    one: ids don't leak which exist)."""
    store = dashboard(request).ctx.store
    clip = dataclips.get(store, request.path_params["clip"])
    with store.session() as s:
        app = s.get(App, clip.app_id)
        addon = s.get(AddOn, clip.addon_id)
    if app is None or addon is None or not access.can_access(store, app, visitor.account):
        raise NotFound("Couldn't find that dataclip.")
    return clip, app, addon


def _clip_page(request: Request, visitor: Visitor) -> dict[str, Any]:
    dash = dashboard(request)
    clip, app, addon = _clip(request, visitor)
    with dash.ctx.store.session() as s:
        creator = s.get(Account, clip.creator_id) if clip.creator_id else None
    data: dict[str, Any] = {
        **views.app_header(dash.ctx.store, dash.ctx.settings, app),
        "clip": clip,
        "saved_at": views.aware(clip.created_at),
        "addon": addon,
        "creator": creator.email if creator else "a removed user",
        "limits": _limits(),
        "result": None,
        "error": None,
    }
    try:
        data["result"] = dataclips.run(addon.resource, clip.sql)
    except CoveError as exc:
        data["error"] = exc.message
    return data


@page
async def clip_page(request: Request, visitor: Visitor) -> Response:
    data = await run_in_threadpool(_clip_page, request, visitor)
    response = render(request, "dataclip.html", visitor, tab="resources", **data)
    response.headers["Cache-Control"] = "no-store"
    return response


@page
async def clip_csv(request: Request, visitor: Visitor) -> Response:
    clip, _, addon = await run_in_threadpool(_clip, request, visitor)
    return await _csv(request, visitor, addon, clip.sql, clip.title)


@action
async def delete_clip(request: Request, visitor: Visitor, form: dict[str, str]) -> Response:
    dash = dashboard(request)
    clip, app, addon = await run_in_threadpool(_clip, request, visitor)
    await run_in_threadpool(dataclips.delete, dash.ctx.store, clip)
    back = dash.app_url(app.name, f"/addons/{addon.name}")
    return await notice(request, visitor, f"Deleted the dataclip {clip.title}.", back)


async def _csv(request: Request, visitor: Visitor, addon: AddOn, query: str, name: str) -> Response:
    try:
        result = await run_in_threadpool(dataclips.run, addon.resource, query, dataclips.CSV_ROWS)
    except CoveError as exc:
        return render(request, "error.html", visitor, 422, status_code=422, message=exc.message)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(result.columns)
    writer.writerows(result.rows)
    filename = re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-")[:60] or "dataclip"
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}.csv"',
            "Cache-Control": "no-store",
        },
    )
