"""The FastAPI application: Heroku Platform API v3 plus the git endpoint."""

from __future__ import annotations

from fastapi import FastAPI

from cove.api import errors
from cove.api.context import ApiContext
from cove.api.routes import account, apps, builds, formation, logs, releases
from cove.gitreceiver import router as git_router


def create_api(context: ApiContext) -> FastAPI:
    api = FastAPI(title="Cove", openapi_url=None, docs_url=None, redoc_url=None)
    api.state.ctx = context
    errors.install(api)
    for module in (account, apps, releases, formation, builds, logs):
        api.include_router(module.router)
    api.include_router(git_router)
    return api
