"""Helpers shared by route modules."""

from __future__ import annotations

from fastapi import Request

from cove.api.context import ApiContext
from cove.domain.errors import NotFound
from cove.services import accounts, apps
from cove.store import Account, App


def ctx(request: Request) -> ApiContext:
    context: ApiContext = request.app.state.ctx
    return context


def load_app(request: Request, ident: str, account: Account) -> App:
    """The app, if ``account`` may use it. Another user's app reads as missing, so app
    names don't leak."""
    app = apps.get(ctx(request).store, ident)
    if app.owner_id != account.id:
        raise NotFound(f"Couldn't find that app. ({ident})")
    return app


def owner_of(request: Request, app: App) -> Account:
    return accounts.get_account(ctx(request).store, app.owner_id)


def audit(request: Request, app: App, account: Account, action: str) -> None:
    """An ``app[api]`` log line, Heroku's form: ``<action> by user <email>``."""
    ctx(request).logs.publish(app.id, "app", "api", f"{action} by user {account.email}")
