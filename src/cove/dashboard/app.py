"""The dashboard's ASGI app: its routes, and the headers every answer carries."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cove.dashboard import (
    pages_access,
    pages_account,
    pages_addons,
    pages_app,
    pages_apps,
    pages_auth,
    pages_builds,
    pages_deploy,
    pages_logs,
    pages_metrics,
    pages_settings_more,
)
from cove.dashboard.web import Dashboard, current_visitor, error_page

if TYPE_CHECKING:  # (cove.api imports this package: no import cycle at run time)
    from cove.api.context import ApiContext

PREFIX = "/dashboard"

# Scripts, styles and forms from this origin only: no inline script can run, and no page
# can be framed (clickjacking).
_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
_HEADERS = [
    (b"content-security-policy", _CSP.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
]


class _SecurityHeaders:
    """Every answer gets the headers above; pages (not the hashed assets) are not cached,
    since they show one user's data. ``Server-Timing`` says how long the server took to
    start answering (a browser's developer tools show it; bench/dashboard_pages.py reads it)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        started = time.perf_counter()

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                took = (time.perf_counter() - started) * 1000
                headers = list(message.get("headers", []))
                headers.append((b"server-timing", f"app;dur={took:.1f}".encode()))
                names = {name.lower() for name, _ in headers}
                headers += [h for h in _HEADERS if h[0] not in names]
                if b"cache-control" not in names:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def _http_error(request: Request, exc: Exception) -> Response:
    """No such page (404), or a method the page doesn't take (405): an HTML page too."""
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    messages = {404: "There is no such page.", 405: "This page can't be used that way."}
    message = messages.get(status, "Something went wrong.")
    return error_page(request, await current_visitor(request), status, message)


def create_dashboard(context: ApiContext, prefix: str = PREFIX) -> ASGIApp:
    """The dashboard, to be mounted at ``prefix`` of the API app."""
    app_page = "/apps/{app}"
    addon_page = app_page + "/addons/{addon}"
    routes = [
        Route("/", pages_apps.home),
        Route("/login", pages_auth.login_page, methods=["GET"]),
        Route("/login", pages_auth.login, methods=["POST"]),
        Route("/logout", pages_auth.logout, methods=["POST"]),
        Route("/account", pages_account.account_page, methods=["GET"]),
        Route("/account/password", pages_account.change_password, methods=["POST"]),
        Route("/apps", pages_apps.apps_list, methods=["GET"]),
        Route("/apps", pages_apps.create_app, methods=["POST"]),
        Route("/new-app", pages_apps.new_app_page, methods=["GET"]),
        Route(app_page, pages_app.overview, methods=["GET"]),
        Route(app_page + "/dynos", pages_app.dynos_fragment, methods=["GET"]),
        Route(app_page + "/activity", pages_app.activity, methods=["GET"]),
        Route(app_page + "/rollback", pages_app.rollback, methods=["POST"]),
        Route(app_page + "/builds/{build}", pages_builds.build_page, methods=["GET"]),
        Route(app_page + "/builds/{build}/output", pages_builds.build_output_fragment),
        Route(app_page + "/resources", pages_app.resources, methods=["GET"]),
        Route(app_page + "/formation", pages_app.scale, methods=["POST"]),
        Route(app_page + "/metrics", pages_metrics.metrics, methods=["GET"]),
        Route(app_page + "/settings", pages_settings_more.settings, methods=["GET"]),
        Route(app_page + "/buildpacks", pages_settings_more.change_buildpacks, methods=["POST"]),
        Route(app_page + "/domains", pages_settings_more.add_domain, methods=["POST"]),
        Route(app_page + "/domains/remove", pages_settings_more.remove_domain, methods=["POST"]),
        Route(app_page + "/maintenance", pages_settings_more.maintenance, methods=["POST"]),
        Route(app_page + "/rename", pages_settings_more.rename, methods=["POST"]),
        Route(app_page + "/destroy", pages_settings_more.destroy, methods=["POST"]),
        Route(app_page + "/access", pages_access.access_page, methods=["GET"]),
        Route(app_page + "/collaborators", pages_access.add_collaborator, methods=["POST"]),
        Route(
            app_page + "/collaborators/remove", pages_access.remove_collaborator, methods=["POST"]
        ),
        Route(app_page + "/logs", pages_logs.logs_page, methods=["GET"]),
        Route(app_page + "/logs/stream", pages_logs.stream, methods=["GET"]),
        Route(app_page + "/config", pages_app.set_config, methods=["POST"]),
        Route(app_page + "/config/unset", pages_app.unset_config, methods=["POST"]),
        Route(app_page + "/addons", pages_addons.create, methods=["POST"]),
        Route(addon_page, pages_addons.addon_page, methods=["GET"]),
        Route(addon_page + "/destroy", pages_addons.destroy, methods=["POST"]),
        Route(addon_page + "/credentials", pages_addons.reveal_credentials, methods=["POST"]),
        Route(addon_page + "/sql", pages_addons.run_sql, methods=["POST"]),
        Route(addon_page + "/sql.csv", pages_addons.sql_csv, methods=["POST"]),
        Route(addon_page + "/dataclips", pages_addons.save_clip, methods=["POST"]),
        Route("/dataclips/{clip}.csv", pages_addons.clip_csv, methods=["GET"]),
        Route("/dataclips/{clip}", pages_addons.clip_page, methods=["GET"]),
        Route("/dataclips/{clip}/delete", pages_addons.delete_clip, methods=["POST"]),
        Route(app_page + "/deploy", pages_deploy.deploy, methods=["GET"]),
        Route(app_page + "/promote", pages_deploy.promote, methods=["POST"]),
        Route(app_page + "/promotions/{promotion}", pages_deploy.promotion_fragment),
    ]
    dashboard = Dashboard.create(context, prefix)
    routes.append(Route("/assets/{name}", dashboard.assets.serve, methods=["GET"]))
    app = Starlette(routes=routes, exception_handlers={HTTPException: _http_error})
    app.state.dashboard = dashboard
    return _SecurityHeaders(app)
