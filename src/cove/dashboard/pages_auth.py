"""Logging in (email and password, checked as ``POST /oauth/authorizations`` checks them)
and out.

The log-in form has no session yet, so its CSRF token is a double-submit one: a random
value in a short-lived cookie and in the form, which must match."""

from __future__ import annotations

import hmac
import math
import secrets

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from cove.dashboard import sessions
from cove.dashboard.forms import FormRefused, read_form
from cove.dashboard.sessions import Visitor
from cove.dashboard.web import (
    Dashboard,
    action,
    current_visitor,
    dashboard,
    error_page,
    render,
    see_other,
)
from cove.domain.errors import Unauthorized
from cove.services import accounts

LOGIN_FORM_LIFETIME = 3600  # seconds the log-in form may stay open
MAX_EMAIL = 255
MAX_PASSWORD = 1024


def _next(dash: Dashboard, wanted: str | None) -> str:
    """Where to go after logging in: a page of the dashboard only (no open redirect)."""
    if (
        wanted
        and wanted.startswith(dash.prefix + "/")
        and not wanted.startswith("//")
        and "\\" not in wanted
        and all(32 < ord(c) < 127 for c in wanted)
    ):
        return wanted
    return dash.url("/apps")


def _login_form(
    request: Request, status: int = 200, error: str | None = None, email: str = ""
) -> Response:
    dash = dashboard(request)
    token = secrets.token_urlsafe(32)
    response = render(
        request,
        "login.html",
        None,
        status,
        login_token=token,
        error=error,
        email=email,
        next=_next(dash, request.query_params.get("next")),
    )
    response.set_cookie(
        dash.login_cookie,
        token,
        max_age=LOGIN_FORM_LIFETIME,
        path="/",
        secure=dash.secure,
        httponly=True,
        samesite="strict",
    )
    return response


async def login_page(request: Request) -> Response:
    if await current_visitor(request) is not None:
        return see_other(_next(dashboard(request), request.query_params.get("next")))
    return _login_form(request)


async def login(request: Request) -> Response:
    dash = dashboard(request)
    try:
        form = await read_form(request)
    except FormRefused as exc:
        return error_page(request, None, exc.status, exc.message)
    expected = request.cookies.get(dash.login_cookie, "")
    sent = form.get("login_token", "")
    if not expected or not hmac.compare_digest(expected.encode(), sent.encode()):
        message = "The log-in form had expired. Please try again."
        return _login_form(request, 403, message)
    email = form.get("email", "").strip().lower()[:MAX_EMAIL]
    password = form.get("password", "")
    if not email or not password:
        return _login_form(request, 422, "Enter your email address and your password.", email)
    if len(password) > MAX_PASSWORD:
        return _login_form(request, 422, "Invalid email or password.", email)
    keys = (f"email:{email}", f"address:{request.client.host if request.client else '?'}")
    wait = dash.throttle.retry_after(*keys)
    if wait > 0:
        minutes = max(1, math.ceil(wait / 60))
        message = f"Too many failed log-in attempts. Try again in {minutes} minute(s)."
        return _login_form(request, 429, message, email)
    try:
        # argon2 verification: the same cost as the API's, off the event loop.
        account = await run_in_threadpool(accounts.password_login, dash.ctx.store, email, password)
    except Unauthorized:
        dash.throttle.failed(*keys)
        return _login_form(request, 401, "Invalid email or password.", email)
    dash.throttle.succeeded(keys[0])
    token = await run_in_threadpool(sessions.open_session, dash.ctx.store, account)
    response = see_other(_next(dash, form.get("next")))
    dash.set_session_cookie(response, token)
    response.delete_cookie(dash.login_cookie, path="/", secure=dash.secure, httponly=True)
    return response


@action
async def logout(request: Request, visitor: Visitor, form: dict[str, str]) -> Response:
    dash = dashboard(request)
    await run_in_threadpool(sessions.close_session, dash.ctx.store, visitor.session_id)
    response = see_other(dash.url("/login"))
    response.delete_cookie(dash.cookie, path="/", secure=dash.secure, httponly=True)
    return response
