"""The data API's Redis part, as the Heroku CLI's redis:* commands call it
(``HEROKU_DATA_HOST``, like pg:*): an instance's facts and URL, backed by Cove's Redis
add-on."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from cove.addons import RedisProvider
from cove.api.auth import current_account
from cove.api.routes.common import ctx
from cove.api.serializers import iso
from cove.domain.errors import InvalidParams, NotFound
from cove.services import addons
from cove.store import Account, AddOn

router = APIRouter()


def _instance(request: Request, ident: str, account: Account) -> tuple[AddOn, RedisProvider]:
    """A Redis add-on of the account's, by id or name (the CLI sends either)."""
    for view in addons.list_for_owner(ctx(request).store, account.id):
        if ident in (view.addon.id, view.addon.name):
            provider = ctx(request).addons.get(view.addon.service)
            if isinstance(provider, RedisProvider):
                return view.addon, provider
            break
    raise NotFound(f"Couldn't find that Redis instance. ({ident})")


@router.get("/redis/v0/databases/{ident}")
def redis_info(
    request: Request, ident: str, account: Account = Depends(current_account)
) -> dict[str, Any]:
    """``redis:info``, ``redis:cli``, ``redis:credentials``. The plan reads ``hobby-PLAN``:
    the CLI connects without TLS to hobby plans only, and Cove's Redis speaks plain TCP."""
    addon, provider = _instance(request, ident, account)
    facts = provider.info(addon.resource)
    return {
        "name": addon.name,
        "plan": f"hobby-{addon.plan}",
        "resource_url": addon.url,
        "prefer_native_tls": False,
        "version": facts.get("version", ""),
        "created_at": iso(addon.created_at),
        "info": [
            {"name": "Plan", "values": [addon.plan]},
            {"name": "Status", "values": [facts.get("status", "Available")]},
            {"name": "Created", "values": [iso(addon.created_at)]},
            {"name": "Version", "values": [facts.get("version", "")]},
            {"name": "Memory used", "values": [f"{facts.get('data_size', 0)} bytes"]},
            {"name": "Clients", "values": [str(facts.get("connections", 0))]},
            {"name": "TLS", "values": ["off (plain TCP)"]},
        ],
    }


@router.patch("/redis/v0/databases/{ident}/config")
def redis_config(
    request: Request, ident: str, account: Account = Depends(current_account)
) -> dict[str, Any]:
    """``redis:maxmemory``, ``redis:timeout``, ``redis:keyspace-notifications``."""
    addon, _ = _instance(request, ident, account)
    raise InvalidParams(
        f"Cove doesn't change {addon.name}'s settings: they are the defaults of its server."
    )
