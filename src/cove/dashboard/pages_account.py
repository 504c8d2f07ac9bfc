"""The visitor's own account: change its password (as ``cove auth:password`` does, through
``accounts.change_password``). Guesses of the current password count as failed log-ins
for the account (the same throttle). A changed password ends every dashboard session of
the account; this browser gets a new one."""

from __future__ import annotations

import math

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from cove.dashboard import sessions
from cove.dashboard.pages_auth import MAX_PASSWORD
from cove.dashboard.sessions import Visitor
from cove.dashboard.web import action, dashboard, failure, page, render, see_other
from cove.domain.errors import CoveError, Forbidden, InvalidParams
from cove.services import accounts


@page
async def account_page(request: Request, visitor: Visitor) -> Response:
    has_password = visitor.account.password_hash is not None
    return render(request, "account.html", visitor, has_password=has_password)


@action
async def change_password(request: Request, visitor: Visitor, form: dict[str, str]) -> Response:
    dash = dashboard(request)
    back = dash.url("/account")
    current, new = form.get("current_password", ""), form.get("new_password", "")
    key = f"email:{visitor.account.email}"
    try:
        if new != form.get("new_password_again", ""):
            raise InvalidParams("The new password and its repetition differ: nothing changed.")
        if len(current) > MAX_PASSWORD:
            raise Forbidden("The current password is wrong: the password was not changed.")
        wait = dash.throttle.retry_after(key)
        if wait > 0:
            minutes = max(1, math.ceil(wait / 60))
            raise Forbidden(f"Too many failed attempts. Try again in {minutes} minute(s).")
        try:
            account = await run_in_threadpool(
                accounts.change_password, dash.ctx.store, visitor.account.id, current or None, new
            )
        except Forbidden:
            dash.throttle.failed(key)
            raise
    except CoveError as exc:
        return await failure(request, visitor, exc, back)
    # The session this browser had ended with the old password: it gets a new one.
    token = await run_in_threadpool(sessions.open_session, dash.ctx.store, account)
    fresh = await run_in_threadpool(sessions.visitor, dash.ctx.store, token)
    if fresh is not None:
        message = "Your password is changed. Other browsers were logged out."
        await run_in_threadpool(sessions.set_flash, dash.ctx.store, fresh.session_id, message)
    response = see_other(back)
    dash.set_session_cookie(response, token)
    return response
