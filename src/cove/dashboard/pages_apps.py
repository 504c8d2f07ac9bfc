"""The apps list and creating an app."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from cove.dashboard import views
from cove.dashboard.sessions import Visitor
from cove.dashboard.web import action, audit, dashboard, notice, page, render, see_other
from cove.domain.errors import InvalidParams
from cove.services import apps

MAX_SEARCH = 100


async def home(request: Request) -> Response:
    return see_other(dashboard(request).url("/apps"))


@page
async def apps_list(request: Request, visitor: Visitor) -> Response:
    search = request.query_params.get("q", "")[:MAX_SEARCH]
    store = dashboard(request).ctx.store
    rows = await run_in_threadpool(views.app_summaries, store, visitor.account, search)
    return render(request, "apps.html", visitor, apps=rows, search=search)


@page
async def new_app_page(request: Request, visitor: Visitor) -> Response:
    return render(request, "new_app.html", visitor, name="", error=None)


@action
async def create_app(request: Request, visitor: Visitor, form: dict[str, str]) -> Response:
    dash = dashboard(request)
    name = form.get("name", "").strip().lower()[:64]
    try:
        app = await run_in_threadpool(apps.create, dash.ctx.store, visitor.account.id, name or None)
    except InvalidParams as exc:  # (a taken name too)
        return render(request, "new_app.html", visitor, 422, name=name, error=exc.message)
    # The same app[api] log lines as `POST /apps`.
    audit(request, app.id, visitor, "Initial release")
    audit(request, app.id, visitor, "Release v1 created")
    return await notice(request, visitor, f"Created {app.name}.", dash.app_url(app.name))
