"""The FastAPI application: the Heroku Platform API v3."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI

from cove.api import auth, errors, limits, paging, request_headers
from cove.api.context import ApiContext
from cove.api.routes import (
    account,
    acm,
    addons,
    apps,
    buildpack_registry,
    builds,
    collaborators,
    domains,
    dynos,
    formation,
    log_drains,
    logs,
    pipelines,
    reference,
    releases,
    slugs,
    sni_endpoints,
    tls,
    users,
)
from cove.dashboard import PREFIX as DASHBOARD_PREFIX
from cove.dashboard import create_dashboard

# Every error answer has Heroku's shape (see errors.py); the schema says so.
_ERRORS: dict[int | str, dict[str, Any]] = {
    "4XX": {"model": errors.Error, "description": "Heroku error: `{id, message}`"},
    "5XX": {"model": errors.Error, "description": "Heroku error: `{id, message}`"},
}


def create_api(context: ApiContext, *extra: APIRouter) -> FastAPI:
    """The API app; ``extra`` routers (the git endpoint) share its auth and context.

    Its OpenAPI schema is served at ``/openapi.json`` for client authors (and the fuzz
    test); the git endpoint is not part of it."""
    api = FastAPI(
        title="Cove",
        summary="The Heroku Platform API v3, as far as Cove implements it.",
        openapi_url="/openapi.json",
        docs_url=None,
        redoc_url=None,
        responses=_ERRORS,
    )
    api.state.ctx = context
    errors.install(api)
    api.add_middleware(
        limits.BodyGuard,
        limits=limits.BodyLimits.from_settings(context.settings),
        authenticate=auth.authenticator(context.store),
    )
    # Outermost last: every answer (a refused body's too) gets Request-Id and
    # RateLimit-Remaining; lists are paged after the routes made them.
    api.add_middleware(paging.RangePaging)
    api.add_middleware(request_headers.ResponseHeaders)
    for module in (
        account,
        users,
        apps,
        collaborators,
        releases,
        formation,
        dynos,
        builds,
        logs,
        log_drains,
        addons,
        pipelines,
        reference,
        slugs,
        tls,
        domains,
        sni_endpoints,
        acm,
        buildpack_registry,
    ):
        api.include_router(module.router)
    for router in extra:
        api.include_router(router, include_in_schema=False)
    # The web dashboard: HTML pages over the same services (not part of the schema).
    api.mount(DASHBOARD_PREFIX, create_dashboard(context, DASHBOARD_PREFIX))
    return api
