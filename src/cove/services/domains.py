"""Custom domains: add, list, find, update, remove. The router follows the
``domain.created`` / ``domain.updated`` / ``domain.deleted`` events (cove.router.feed).

Cove provisions nothing in DNS, so a domain is usable as soon as it is added: its status is
``succeeded`` at once. Its ``cname`` (the DNS target its owner points a CNAME record at) is
the app's default hostname, ``<app>.<COVE_DOMAIN>``, where Heroku gives a
``<random>.herokudns.com`` name.
"""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cove.domain import hostnames
from cove.domain.errors import InvalidParams, NotFound
from cove.services import sni_endpoints
from cove.store import App, Domain, Store


def cname(app: App, cove_domain: str) -> str:
    return f"{app.name}.{cove_domain}"


def list_for_app(store: Store, app_id: str) -> list[Domain]:
    with store.session() as s:
        return list(
            s.scalars(select(Domain).where(Domain.app_id == app_id).order_by(Domain.hostname))
        )


def create(store: Store, app: App, hostname: str, cove_domain: str) -> Domain:
    host = hostnames.normalize(hostname)
    own = cove_domain.lower().rstrip(".")
    if host == own or host.endswith(f".{own}") or host == f"*.{own}":
        raise InvalidParams(
            f"{host} is under Cove's own domain ({own}): every app already has "
            f"<app>.{own}; add a domain you own instead."
        )
    try:
        with store.session() as s:
            if s.scalar(select(Domain.id).where(Domain.hostname == host)):
                raise _taken(host)
            domain = Domain(
                app_id=app.id,
                hostname=host,
                cname=cname(app, cove_domain),
                sni_endpoint=sni_endpoints.endpoint_for(s, app.id, host),
            )
            s.add(domain)
            s.flush()
            store.emit(s, "domain.created", app.id, app=app.name, hostname=host)
    except IntegrityError:  # added concurrently, by this app or another
        raise _taken(host) from None
    return domain


def _taken(host: str) -> InvalidParams:
    return InvalidParams(f"Hostname {host} is already taken (by this app or another one).")


def find(session: Session, app_id: str, ident: str) -> Domain:
    """A domain of the app by its id or its hostname."""
    host = ident.strip().lower().rstrip(".")
    domain = session.scalar(
        select(Domain).where(
            Domain.app_id == app_id, or_(Domain.id == ident, Domain.hostname == host)
        )
    )
    if domain is None:
        raise NotFound(f"Couldn't find that domain: {ident} is not a custom domain of this app.")
    return domain


def get(store: Store, app_id: str, ident: str) -> Domain:
    with store.session() as s:
        return find(s, app_id, ident)


def set_sni_endpoint(store: Store, app: App, ident: str, endpoint: str | None) -> Domain:
    with store.session() as s:
        domain = find(s, app.id, ident)
        if endpoint is not None:
            try:
                endpoint = sni_endpoints.find(s, app.id, endpoint).name
            except NotFound:
                raise InvalidParams(
                    f"sni_endpoint {endpoint} is not one of this app's SNI endpoints."
                ) from None
        domain.sni_endpoint = endpoint
        store.emit(s, "domain.updated", app.id, app=app.name, hostname=domain.hostname)
    return domain


def remove(store: Store, app: App, ident: str) -> Domain:
    with store.session() as s:
        domain = find(s, app.id, ident)
        s.delete(domain)
        store.emit(s, "domain.deleted", app.id, app=app.name, hostname=domain.hostname)
    return domain


def hostnames_of(store: Store, app_id: str) -> list[str]:
    with store.session() as s:
        return list(s.scalars(select(Domain.hostname).where(Domain.app_id == app_id)))
