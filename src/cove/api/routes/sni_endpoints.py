"""SNI endpoints: ``/apps/{app}/sni-endpoints``, an app's uploaded certificates (named by id
or name). Answers never hold the private key."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Request

from cove.api import openapi, params
from cove.api.auth import current_account
from cove.api.routes.common import ctx, load_app
from cove.api.serializers import iso
from cove.domain import certificates
from cove.services import sni_endpoints
from cove.store import Account, App, SniEndpoint

router = APIRouter()


def serialize(request: Request, e: SniEndpoint, a: App) -> dict[str, Any]:
    info = certificates.check_chain(e.certificate_chain)
    domains = sni_endpoints.domains_of(ctx(request).store, e)
    return {
        "id": e.id,
        "name": e.name,
        "display_name": None,
        "certificate_chain": e.certificate_chain,
        "domains": [d.id for d in domains],
        "app": {"id": a.id, "name": a.name},
        "ssl_cert": {
            "id": e.id,
            "cert_domains": list(e.cert_domains),
            "starts_at": iso(info.starts_at),
            "expires_at": iso(info.expires_at),
            "subject": info.subject,
            "issuer": info.issuer,
            "self_signed?": info.self_signed,
            "ca_signed?": info.ca_signed,
            "acm": e.acm,
        },
        "created_at": iso(e.created_at),
        "updated_at": iso(e.updated_at),
    }


_BODY = openapi.json_body(
    openapi.obj(
        ("certificate_chain", "private_key"),
        certificate_chain=openapi.STRING,
        private_key=openapi.STRING,
    ),
    {"certificate_chain": "-----BEGIN CERTIFICATE-----...", "private_key": "-----BEGIN..."},
)


@router.get("/apps/{ident}/sni-endpoints")
def list_sni_endpoints(
    request: Request, ident: str, account: Account = Depends(current_account)
) -> list[dict[str, Any]]:
    app = load_app(request, ident, account)
    return [
        serialize(request, e, app) for e in sni_endpoints.list_for_app(ctx(request).store, app.id)
    ]


@router.post("/apps/{ident}/sni-endpoints", status_code=201, openapi_extra=_BODY)
def create_sni_endpoint(
    request: Request,
    ident: str,
    body: dict[str, Any] = Body(...),
    account: Account = Depends(current_account),
) -> dict[str, Any]:
    app = load_app(request, ident, account)
    endpoint = sni_endpoints.create(
        ctx(request).store,
        app,
        params.required_text(body, "certificate_chain"),
        params.required_text(body, "private_key"),
    )
    return serialize(request, endpoint, app)


@router.get("/apps/{ident}/sni-endpoints/{endpoint}")
def get_sni_endpoint(
    request: Request, ident: str, endpoint: str, account: Account = Depends(current_account)
) -> dict[str, Any]:
    app = load_app(request, ident, account)
    return serialize(request, sni_endpoints.get(ctx(request).store, app.id, endpoint), app)


@router.patch("/apps/{ident}/sni-endpoints/{endpoint}", openapi_extra=_BODY)
def update_sni_endpoint(
    request: Request,
    ident: str,
    endpoint: str,
    body: dict[str, Any] = Body(...),
    account: Account = Depends(current_account),
) -> dict[str, Any]:
    app = load_app(request, ident, account)
    updated = sni_endpoints.update(
        ctx(request).store,
        app,
        endpoint,
        params.required_text(body, "certificate_chain"),
        params.required_text(body, "private_key"),
    )
    return serialize(request, updated, app)


@router.delete("/apps/{ident}/sni-endpoints/{endpoint}")
def delete_sni_endpoint(
    request: Request, ident: str, endpoint: str, account: Account = Depends(current_account)
) -> dict[str, Any]:
    app = load_app(request, ident, account)
    removed = sni_endpoints.remove(ctx(request).store, app, endpoint)
    return serialize(request, removed, app)
