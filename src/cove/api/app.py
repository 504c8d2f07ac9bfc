"""The FastAPI application: the Heroku Platform API v3."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from cove.api import auth, errors, limits
from cove.api.context import ApiContext
from cove.api.routes import account, addons, apps, builds, formation, logs, releases


def create_api(context: ApiContext, *extra: APIRouter) -> FastAPI:
    """The API app; ``extra`` routers (the git endpoint) share its auth and context."""
    api = FastAPI(title="Cove", openapi_url=None, docs_url=None, redoc_url=None)
    api.state.ctx = context
    errors.install(api)
    api.add_middleware(
        limits.BodyGuard,
        limits=limits.BodyLimits.from_settings(context.settings),
        authenticate=auth.authenticator(context.store),
    )
    for module in (account, apps, releases, formation, builds, logs, addons):
        api.include_router(module.router)
    for router in extra:
        api.include_router(router)
    return api
