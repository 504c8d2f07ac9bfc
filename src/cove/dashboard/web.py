"""What every dashboard page and form shares: the visitor from the session cookie, the CSRF
check, rendering a template, redirects, and the error pages."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import jinja2
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.templating import Jinja2Templates

from cove.dashboard import sessions
from cove.dashboard.assets import Assets
from cove.dashboard.forms import FormRefused, read_form
from cove.dashboard.sessions import Visitor
from cove.dashboard.throttle import LoginThrottle
from cove.domain.errors import CoveError, Forbidden, NotFound

if TYPE_CHECKING:  # (cove.api imports this package: no import cycle at run time)
    from cove.api.context import ApiContext

TEMPLATES = Path(__file__).parent / "templates"

Page = Callable[[Request, Visitor], Awaitable[Response]]
Action = Callable[[Request, Visitor, dict[str, str]], Awaitable[Response]]
Endpoint = Callable[[Request], Awaitable[Response]]


@dataclass
class Dashboard:
    """The dashboard's state, shared by its handlers (``request.app.state.dashboard``)."""

    ctx: ApiContext
    prefix: str
    assets: Assets
    templates: Jinja2Templates
    throttle: LoginThrottle

    @classmethod
    def create(cls, ctx: ApiContext, prefix: str) -> Dashboard:
        env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(TEMPLATES),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        env.filters["ago"] = ago
        env.filters["iso"] = lambda moment: moment.isoformat(timespec="seconds")
        env.filters["utc"] = lambda moment: moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
        return cls(
            ctx, prefix, Assets(prefix + "/assets"), Jinja2Templates(env=env), LoginThrottle()
        )

    @property
    def secure(self) -> bool:
        """Cookies are Secure when the listener speaks HTTPS (COVE_TLS=off is local only)."""
        return self.ctx.settings.tls

    @property
    def cookie(self) -> str:
        # __Host-: the browser keeps it only if Secure, for this host alone, with Path=/.
        return "__Host-cove_session" if self.secure else "cove_session"

    @property
    def login_cookie(self) -> str:
        return "__Host-cove_login" if self.secure else "cove_login"

    def set_session_cookie(self, response: Response, token: str) -> None:
        """Give the browser session ``token``: HttpOnly, SameSite=Lax, Secure under TLS,
        for the session's lifetime (the same wherever a session starts)."""
        response.set_cookie(
            self.cookie,
            token,
            max_age=int(sessions.LIFETIME.total_seconds()),
            path="/",
            secure=self.secure,
            httponly=True,
            samesite="lax",
        )

    def url(self, path: str = "") -> str:
        return self.prefix + path

    def app_url(self, name: str, page: str = "") -> str:
        return f"{self.prefix}/apps/{quote(name, safe='')}{page}"


def ago(moment: datetime, now: datetime | None = None) -> str:
    """``3 minutes ago``: how long ago ``moment`` was, roughly."""
    seconds = ((now or datetime.now(UTC)) - moment).total_seconds()
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = int(seconds // size)
            return f"{count} {unit}{'s' if count != 1 else ''} ago"
    return "just now"


def dashboard(request: Request) -> Dashboard:
    found: Dashboard = request.app.state.dashboard
    return found


def render(
    request: Request,
    template: str,
    visitor: Visitor | None,
    status: int = 200,
    **context: Any,
) -> Response:
    dash = dashboard(request)
    return dash.templates.TemplateResponse(
        request,
        template,
        {
            "dash": dash,
            "visitor": visitor,
            "flash": visitor.flash if visitor else None,
            "csrf": visitor.csrf_token if visitor else "",
            **context,
        },
        status_code=status,
    )


def see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def to_login(request: Request) -> Response:
    """Not (or no longer) logged in: to the log-in page, coming back here after it. A live
    update (htmx) is told to load the log-in page instead of swapping it into a page."""
    dash = dashboard(request)
    target = dash.url("/login")
    if request.method == "GET" and request.url.path != dash.url("/"):
        target += "?next=" + quote(request.url.path + _query(request), safe="/")
    if request.headers.get("hx-request"):
        return Response(status_code=401, headers={"HX-Redirect": target})
    return see_other(target)


def _query(request: Request) -> str:
    return "?" + request.url.query if request.url.query else ""


async def current_visitor(request: Request) -> Visitor | None:
    dash = dashboard(request)
    return await run_in_threadpool(
        sessions.visitor, dash.ctx.store, request.cookies.get(dash.cookie)
    )


def error_page(request: Request, visitor: Visitor | None, status: int, message: str) -> Response:
    return render(request, "error.html", visitor, status, status_code=status, message=message)


def page(handler: Page) -> Endpoint:
    """A GET page for logged-in users. An app the visitor may not see is a 404, whatever
    the reason (as the API answers), so names don't leak."""

    async def endpoint(request: Request) -> Response:
        visitor = await current_visitor(request)
        if visitor is None:
            return to_login(request)
        try:
            return await handler(request, visitor)
        except NotFound as exc:
            return error_page(request, visitor, 404, exc.message)
        except Forbidden as exc:
            return error_page(request, visitor, 403, exc.message)

    return endpoint


def action(handler: Action) -> Endpoint:
    """A POST from a logged-in user's form. The session is checked before the body is
    read (a stranger's body is never read), then the form's origin and its CSRF token."""

    async def endpoint(request: Request) -> Response:
        visitor = await current_visitor(request)
        if visitor is None:
            return to_login(request)
        try:
            form = await read_form(request)
        except FormRefused as exc:
            return error_page(request, visitor, exc.status, exc.message)
        if not visitor.csrf_ok(form.get("csrf_token")):
            message = "This form has expired or did not come from this page. Reload and try again."
            return error_page(request, visitor, 403, message)
        try:
            return await handler(request, visitor, form)
        except NotFound as exc:
            return error_page(request, visitor, 404, exc.message)
        except Forbidden as exc:
            return error_page(request, visitor, 403, exc.message)

    return endpoint


async def notice(request: Request, visitor: Visitor, message: str, back: str) -> Response:
    """Post/Redirect/Get: the message is shown once on the page ``back`` leads to."""
    await run_in_threadpool(
        sessions.set_flash, dashboard(request).ctx.store, visitor.session_id, message
    )
    return see_other(back)


async def failure(request: Request, visitor: Visitor, exc: CoveError, back: str) -> Response:
    return await notice(request, visitor, "Error: " + exc.message, back)


def audit(request: Request, app_id: str, visitor: Visitor, what: str) -> None:
    """The ``app[api]`` log line the API writes for the same change: ``<what> by user
    <email>`` (see ``cove.api.routes.common.audit``)."""
    logs = dashboard(request).ctx.logs
    logs.publish(app_id, "app", "api", f"{what} by user {visitor.account.email}")
