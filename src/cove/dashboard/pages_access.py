"""An app's Access page: its owner and collaborators; add one by email, remove one. As
the API's collaborator routes (``cove access:add``/``access:remove``): anyone who may act
on the app manages its collaborators."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from cove.dashboard.pages_app import _load
from cove.dashboard.sessions import Visitor
from cove.dashboard.web import action, audit, dashboard, failure, notice, page, render
from cove.domain.errors import CoveError, InvalidParams
from cove.services import access

MAX_EMAIL = 255


def _access(request: Request, visitor: Visitor) -> dict[str, Any]:
    app, header = _load(request, visitor)
    people = access.collaborators(dashboard(request).ctx.store, app)
    return {
        **header,
        "people": [
            {"email": user.email, "role": "collaborator" if row else "owner"}
            for row, user in people
        ],
    }


@page
async def access_page(request: Request, visitor: Visitor) -> Response:
    data = await run_in_threadpool(_access, request, visitor)
    return render(request, "access.html", visitor, tab="access", **data)


@action
async def add_collaborator(request: Request, visitor: Visitor, form: dict[str, str]) -> Response:
    """Like ``cove access:add EMAIL``: the account must exist on this Cove."""
    dash = dashboard(request)
    app, _ = await run_in_threadpool(_load, request, visitor)
    back = dash.app_url(app.name, "/access")
    email = form.get("email", "").strip()
    try:
        if not email or len(email) > MAX_EMAIL:
            raise InvalidParams("Enter the email address of a user of this Cove.")
        _, user = await run_in_threadpool(access.add, dash.ctx.store, app, email)
    except CoveError as exc:
        return await failure(request, visitor, exc, back)
    audit(request, app.id, visitor, f"Add {user.email} as collaborator")
    return await notice(request, visitor, f"Added {user.email} as a collaborator.", back)


@action
async def remove_collaborator(request: Request, visitor: Visitor, form: dict[str, str]) -> Response:
    """Like ``cove access:remove EMAIL``."""
    dash = dashboard(request)
    app, _ = await run_in_threadpool(_load, request, visitor)
    back = dash.app_url(app.name, "/access")
    try:
        _, user = await run_in_threadpool(
            access.remove, dash.ctx.store, app, form.get("email", "")[:MAX_EMAIL]
        )
    except CoveError as exc:
        return await failure(request, visitor, exc, back)
    audit(request, app.id, visitor, f"Remove {user.email} as collaborator")
    return await notice(request, visitor, f"Removed {user.email}.", back)
