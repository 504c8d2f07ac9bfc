"""Custom domains: ``/apps/{app}/domains``, named by id or hostname. The app's default
hostname is listed first, as kind ``heroku``; it can't be changed or removed."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Body, Depends, Request

from cove.api import openapi, params
from cove.api.auth import current_account
from cove.api.routes.common import ctx, load_app
from cove.api.serializers import iso
from cove.domain.errors import InvalidParams
from cove.services import domains
from cove.store import Account, App, Domain

router = APIRouter()

# The default domain has no row: its id is derived from the app's, so it stays stable.
_DEFAULT_NAMESPACE = uuid.UUID("6f1c2d3e-0b7a-4c55-9a57-1f4c8e2d9b10")


def _endpoint(name: str | None) -> dict[str, Any] | None:
    return None if name is None else {"id": name, "name": name}


def serialize(d: Domain, a: App) -> dict[str, Any]:
    return {
        "id": d.id,
        "hostname": d.hostname,
        "kind": d.kind,
        "cname": d.cname,
        "status": d.status,
        "acm_status": d.acm_status,
        "acm_status_reason": d.acm_status_reason,
        "sni_endpoint": _endpoint(d.sni_endpoint),
        "app": {"id": a.id, "name": a.name},
        "created_at": iso(d.created_at),
        "updated_at": iso(d.updated_at),
    }


def default_domain(a: App, cove_domain: str) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid5(_DEFAULT_NAMESPACE, a.id)),
        "hostname": domains.cname(a, cove_domain),
        "kind": "heroku",
        "cname": None,
        "status": "none",
        "acm_status": None,
        "acm_status_reason": None,
        "sni_endpoint": None,
        "app": {"id": a.id, "name": a.name},
        "created_at": iso(a.created_at),
        "updated_at": iso(a.created_at),
    }


def _sni_endpoint(body: dict[str, Any]) -> str | None:
    value = body.get("sni_endpoint")
    if isinstance(value, dict):
        value = value.get("id") or value.get("name")
    if value is not None and not isinstance(value, str):
        raise InvalidParams("sni_endpoint must be a string (an SNI endpoint's id or name) or null.")
    return value or None


@router.get("/apps/{ident}/domains")
def list_domains(
    request: Request, ident: str, account: Account = Depends(current_account)
) -> list[dict[str, Any]]:
    app = load_app(request, ident, account)
    store, cove_domain = ctx(request).store, ctx(request).settings.domain
    return [default_domain(app, cove_domain)] + [
        serialize(d, app) for d in domains.list_for_app(store, app.id)
    ]


@router.post(
    "/apps/{ident}/domains",
    status_code=201,
    openapi_extra=openapi.json_body(
        openapi.obj(("hostname",), hostname=openapi.STRING, sni_endpoint=openapi.STRING),
        {"hostname": "www.example.com", "sni_endpoint": None},
    ),
)
def create_domain(
    request: Request,
    ident: str,
    body: dict[str, Any] = Body(...),
    account: Account = Depends(current_account),
) -> dict[str, Any]:
    app = load_app(request, ident, account)
    hostname = params.required_text(body, "hostname")
    domain = domains.create(ctx(request).store, app, hostname, ctx(request).settings.domain)
    endpoint = _sni_endpoint(body)
    if endpoint is not None:
        domain = domains.set_sni_endpoint(ctx(request).store, app, domain.id, endpoint)
    return serialize(domain, app)


@router.get("/apps/{ident}/domains/{domain}")
def get_domain(
    request: Request, ident: str, domain: str, account: Account = Depends(current_account)
) -> dict[str, Any]:
    app = load_app(request, ident, account)
    cove_domain = ctx(request).settings.domain
    default = default_domain(app, cove_domain)
    if domain in (default["id"], default["hostname"]):
        return default
    return serialize(domains.get(ctx(request).store, app.id, domain), app)


@router.patch("/apps/{ident}/domains/{domain}")
def update_domain(
    request: Request,
    ident: str,
    domain: str,
    body: dict[str, Any] = Body(...),
    account: Account = Depends(current_account),
) -> dict[str, Any]:
    app = load_app(request, ident, account)
    if "sni_endpoint" not in body:
        raise InvalidParams("sni_endpoint is required (an SNI endpoint's id or name, or null).")
    updated = domains.set_sni_endpoint(ctx(request).store, app, domain, _sni_endpoint(body))
    return serialize(updated, app)


@router.delete("/apps/{ident}/domains/{domain}")
def delete_domain(
    request: Request, ident: str, domain: str, account: Account = Depends(current_account)
) -> dict[str, Any]:
    app = load_app(request, ident, account)
    default = default_domain(app, ctx(request).settings.domain)
    if domain in (default["id"], default["hostname"]):
        raise InvalidParams(
            f"{default['hostname']} is the app's default domain: it can't be removed."
        )
    return serialize(domains.remove(ctx(request).store, app, domain), app)
