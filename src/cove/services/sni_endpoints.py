"""SNI endpoints (`certs:add`): an app's uploaded certificates. The router's HTTPS listener
follows the ``sni_endpoint.*`` and ``domain.*`` events (cove.router.sni).

An endpoint serves the app's custom domains its certificate covers; each such domain's
``sni_endpoint`` names it (kept in step when either side is added or removed). The private
key is never returned by the API nor logged."""

from __future__ import annotations

import secrets

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from cove.domain import certificates
from cove.domain.errors import InvalidParams, NotFound
from cove.store import App, Domain, SniEndpoint, Store

MAX_ENDPOINTS = 20  # per app


def list_for_app(store: Store, app_id: str) -> list[SniEndpoint]:
    with store.session() as s:
        return list(
            s.scalars(
                select(SniEndpoint)
                .where(SniEndpoint.app_id == app_id)
                .order_by(SniEndpoint.created_at, SniEndpoint.id)
            )
        )


def list_all(store: Store) -> list[SniEndpoint]:
    with store.session() as s:
        return list(s.scalars(select(SniEndpoint).order_by(SniEndpoint.created_at)))


def _link_domains(session: Session, endpoint: SniEndpoint) -> None:
    """Point the app's covered domains without an endpoint at this one."""
    for domain in session.scalars(
        select(Domain).where(Domain.app_id == endpoint.app_id, Domain.sni_endpoint.is_(None))
    ):
        if certificates.covers(endpoint.cert_domains, domain.hostname):
            domain.sni_endpoint = endpoint.name


def endpoint_for(session: Session, app_id: str, hostname: str) -> str | None:
    """The name of the app's first endpoint covering ``hostname`` (a new domain's)."""
    for endpoint in session.scalars(
        select(SniEndpoint).where(SniEndpoint.app_id == app_id).order_by(SniEndpoint.created_at)
    ):
        if certificates.covers(endpoint.cert_domains, hostname):
            return endpoint.name
    return None


def create(store: Store, app: App, certificate_chain: str, private_key: str) -> SniEndpoint:
    info = certificates.check(certificate_chain, private_key)
    with store.session() as s:
        count = len(list(s.scalars(select(SniEndpoint.id).where(SniEndpoint.app_id == app.id))))
        if count >= MAX_ENDPOINTS:
            raise InvalidParams(
                f"This app already has the most SNI endpoints allowed ({MAX_ENDPOINTS})."
            )
        endpoint = SniEndpoint(
            app_id=app.id,
            name=f"sni-{secrets.token_hex(4)}",
            certificate_chain=certificate_chain,
            private_key=private_key,
            cert_domains=list(info.cert_domains),
        )
        s.add(endpoint)
        s.flush()
        _link_domains(s, endpoint)
        store.emit(s, "sni_endpoint.created", app.id, app=app.name, name=endpoint.name)
    return endpoint


def update(
    store: Store, app: App, ident: str, certificate_chain: str, private_key: str
) -> SniEndpoint:
    """Replace an endpoint's certificate and key (a renewal)."""
    info = certificates.check(certificate_chain, private_key)
    with store.session() as s:
        endpoint = find(s, app.id, ident)
        endpoint.certificate_chain = certificate_chain
        endpoint.private_key = private_key
        endpoint.cert_domains = list(info.cert_domains)
        _link_domains(s, endpoint)
        store.emit(s, "sni_endpoint.updated", app.id, app=app.name, name=endpoint.name)
    return endpoint


def find(session: Session, app_id: str, ident: str) -> SniEndpoint:
    endpoint = session.scalar(
        select(SniEndpoint).where(
            SniEndpoint.app_id == app_id, or_(SniEndpoint.id == ident, SniEndpoint.name == ident)
        )
    )
    if endpoint is None:
        raise NotFound(f"Couldn't find that SNI endpoint: {ident} is not one of this app's.")
    return endpoint


def get(store: Store, app_id: str, ident: str) -> SniEndpoint:
    with store.session() as s:
        return find(s, app_id, ident)


def remove(store: Store, app: App, ident: str) -> SniEndpoint:
    with store.session() as s:
        endpoint = find(s, app.id, ident)
        for domain in s.scalars(
            select(Domain).where(Domain.app_id == app.id, Domain.sni_endpoint == endpoint.name)
        ):
            domain.sni_endpoint = None
        s.delete(endpoint)
        store.emit(s, "sni_endpoint.deleted", app.id, app=app.name, name=endpoint.name)
    return endpoint


def domains_of(store: Store, endpoint: SniEndpoint) -> list[Domain]:
    with store.session() as s:
        return list(
            s.scalars(
                select(Domain)
                .where(Domain.app_id == endpoint.app_id, Domain.sni_endpoint == endpoint.name)
                .order_by(Domain.hostname)
            )
        )
