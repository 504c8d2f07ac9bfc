"""Helpers shared by route modules."""

from __future__ import annotations

from fastapi import Request

from cove.api.context import ApiContext
from cove.services import access, accounts, apps
from cove.store import Account, App


def ctx(request: Request) -> ApiContext:
    context: ApiContext = request.app.state.ctx
    return context


def load_app(request: Request, ident: str, account: Account) -> App:
    """The app, if ``account`` may use it (owner, collaborator or admin: every route goes
    through here). Anyone else's app reads as missing, so app names don't leak."""
    app = apps.get(ctx(request).store, ident)
    return access.check(ctx(request).store, app, account, ident)


def owner_of(request: Request, app: App) -> Account:
    return accounts.get_account(ctx(request).store, app.owner_id)


def audit(request: Request, app: App, account: Account, action: str) -> None:
    """An ``app[api]`` log line, Heroku's form: ``<action> by user <email>``."""
    ctx(request).logs.publish(app.id, "app", "api", f"{action} by user {account.email}")
