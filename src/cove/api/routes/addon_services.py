"""``/addon-services`` and their plans: the services this Cove offers (``addons:services``,
``addons:plans``), with ids that never change."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from cove.addons import Provider, catalog
from cove.api import serializers
from cove.api.auth import current_account
from cove.api.routes.common import ctx
from cove.domain.errors import NotFound
from cove.store import Account

router = APIRouter()
_EPOCH = "2026-01-01T00:00:00Z"  # the catalogue is Cove's own: no history to report
_HUMAN_NAMES = {"heroku-postgresql": "PostgreSQL", "heroku-redis": "Redis"}


def _service(p: Provider) -> dict[str, Any]:
    return {
        "id": catalog.service_id(p.service),
        "name": p.service,
        "human_name": _HUMAN_NAMES.get(p.service, p.service),
        "cli_plugin_name": None,
        "state": "ga",
        "supports_multiple_installations": True,
        "supports_sharing": True,
        "created_at": _EPOCH,
        "updated_at": _EPOCH,
    }


def _plan(p: Provider, plan: str) -> dict[str, Any]:
    return {
        **serializers.addon_plan(p.service, plan),
        "addon_service": {"id": catalog.service_id(p.service), "name": p.service},
        "human_name": plan,
        "description": f"{p.service}:{plan}",
        "default": plan == p.default_plan,
        "state": "public",
        "compliance": None,
        "installable_inside_private_network": False,
        "installable_outside_private_network": True,
        "space_default": False,
        "visible": True,
        "created_at": _EPOCH,
        "updated_at": _EPOCH,
    }


def _find(request: Request, ident: str) -> Provider:
    for p in ctx(request).addons.providers:
        if ident in (p.service, catalog.service_id(p.service), *p.aliases):
            return p
    raise NotFound(f"Couldn't find that add-on service. ({ident})")


@router.get("/addon-services")
def list_services(
    request: Request, account: Account = Depends(current_account)
) -> list[dict[str, Any]]:
    return [_service(p) for p in ctx(request).addons.providers]


@router.get("/addon-services/{ident}")
def get_service(
    request: Request, ident: str, account: Account = Depends(current_account)
) -> dict[str, Any]:
    return _service(_find(request, ident))


@router.get("/addon-services/{ident}/plans")
def list_plans(
    request: Request, ident: str, account: Account = Depends(current_account)
) -> list[dict[str, Any]]:
    p = _find(request, ident)
    return [_plan(p, plan) for plan in p.plans]


@router.get("/addon-services/{ident}/plans/{plan}")
def get_plan(
    request: Request, ident: str, plan: str, account: Account = Depends(current_account)
) -> dict[str, Any]:
    p = _find(request, ident)
    for name in p.plans:
        if plan in (name, f"{p.service}:{name}", catalog.plan_id(p.service, name)):
            return _plan(p, name)
    raise NotFound(f"Couldn't find that plan of {p.service}. ({plan})")
