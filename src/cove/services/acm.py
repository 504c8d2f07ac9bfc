"""Automated Certificate Management (`certs:auto`): the app's flag, its custom domains'
``acm_status``, and the certificates the issuer gets (cove.acm.manager does the work).

Each domain's certificate is an SNI endpoint marked ``acm`` (its key encrypted at rest like
an uploaded one), naming that domain alone; the domain's ``sni_endpoint`` points at it once
it is issued. A failure only sets the status and its reason: a certificate the domain
already has stays. Turning ACM off removes the app's ACM endpoints (a domain an uploaded
certificate covers falls back to it).
"""

from __future__ import annotations

import datetime
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from cove.domain import acm, certificates
from cove.domain.errors import InvalidParams
from cove.services import sni_endpoints
from cove.store import App, Domain, SniEndpoint, Store

MAX_WORK = 100  # domains tried in one pass (the rest at the next)


@dataclass(frozen=True)
class Work:
    """A domain the manager should get a certificate for."""

    app_id: str
    app_name: str
    domain_id: str
    hostname: str
    status: str | None
    renewal: bool  # it has a certificate already, due for renewal


def enable(store: Store, app: App) -> App:
    with store.session() as s:
        row = s.get(App, app.id)
        assert row is not None
        if not row.acm:
            row.acm = True
            for domain in _domains(s, app.id):
                domain.acm_status, domain.acm_status_reason = acm.PENDING, None
            store.emit(s, "app.acm_enabled", app.id, app=app.name)
        s.flush()
        return row


def refresh(store: Store, app: App) -> App:
    """Try again now every domain without a current certificate."""
    with store.session() as s:
        row = s.get(App, app.id)
        assert row is not None
        if not row.acm:
            raise InvalidParams(
                "Automatic Certificate Management is not enabled on this app: "
                "enable it with cove certs:auto:enable."
            )
        for domain in _domains(s, app.id):
            if domain.acm_status != acm.ISSUED:
                domain.acm_status, domain.acm_status_reason = acm.PENDING, None
        store.emit(s, "app.acm_refreshed", app.id, app=app.name)
        s.flush()
        return row


def disable(store: Store, app: App) -> App:
    with store.session() as s:
        row = s.get(App, app.id)
        assert row is not None
        row.acm = False
        gone = {e.name for e in _acm_endpoints(s, app.id)}
        for endpoint in _acm_endpoints(s, app.id):
            s.delete(endpoint)
            store.emit(s, "sni_endpoint.deleted", app.id, app=app.name, name=endpoint.name)
        s.flush()
        for domain in _domains(s, app.id):
            domain.acm_status, domain.acm_status_reason = None, None
            if domain.sni_endpoint in gone:
                domain.sni_endpoint = sni_endpoints.endpoint_for(s, app.id, domain.hostname)
            store.emit(s, "domain.updated", app.id, app=app.name, hostname=domain.hostname)
        store.emit(s, "app.acm_disabled", app.id, app=app.name)
        s.flush()
        return row


def _domains(s: Session, app_id: str) -> list[Domain]:
    return list(s.scalars(select(Domain).where(Domain.app_id == app_id)))


def _acm_endpoints(s: Session, app_id: str) -> list[SniEndpoint]:
    return list(s.scalars(select(SniEndpoint).where(SniEndpoint.app_id == app_id, SniEndpoint.acm)))


def _endpoint_for(s: Session, domain: Domain) -> SniEndpoint | None:
    for endpoint in _acm_endpoints(s, domain.app_id):
        if endpoint.cert_domains == [domain.hostname]:
            return endpoint
    return None


def due(store: Store, now: datetime.datetime, *, retry_failing: bool) -> list[Work]:
    """The domains of ACM apps to get a certificate for now (new, pending, due for
    renewal; failing ones too at a periodic check). ACM endpoints whose domain is gone are
    removed on the way."""
    work: list[Work] = []
    with store.session() as s:
        apps = {a.id: a for a in s.scalars(select(App).where(App.acm))}
        hostnames = {
            (app_id, hostname)
            for app_id, hostname in s.execute(select(Domain.app_id, Domain.hostname)).all()
        }
        for endpoint in s.scalars(select(SniEndpoint).where(SniEndpoint.acm)):
            if not any((endpoint.app_id, h) in hostnames for h in endpoint.cert_domains):
                s.delete(endpoint)
                store.emit(s, "sni_endpoint.deleted", endpoint.app_id, name=endpoint.name)
        if not apps:
            return work
        for domain in s.scalars(
            select(Domain).where(Domain.app_id.in_(apps)).order_by(Domain.updated_at)
        ):
            app = apps[domain.app_id]
            current = _endpoint_for(s, domain)
            if current is not None and domain.acm_status == acm.ISSUED:
                info = certificates.check_chain(current.certificate_chain)
                if acm.renewal_due(info.starts_at, info.expires_at, now):
                    work.append(_work(app, domain, renewal=True))
            elif acm.needs_issuing(domain.acm_status, retry_failing=retry_failing):
                work.append(_work(app, domain, renewal=current is not None))
            if len(work) >= MAX_WORK:
                break
    return work


def _work(app: App, domain: Domain, *, renewal: bool) -> Work:
    return Work(app.id, app.name, domain.id, domain.hostname, domain.acm_status, renewal)


def _current(s: Session, work: Work) -> Domain | None:
    """The domain, if it is still there and its app still has ACM on."""
    domain = s.get(Domain, work.domain_id)
    app = s.get(App, work.app_id)
    if domain is None or app is None or not app.acm or domain.hostname != work.hostname:
        return None
    return domain


def set_status(store: Store, work: Work, status: str, reason: str | None = None) -> None:
    with store.session() as s:
        domain = _current(s, work)
        if domain is None:
            return
        domain.acm_status, domain.acm_status_reason = status, reason
        store.emit(s, "domain.updated", work.app_id, app=work.app_name, hostname=work.hostname)


def issued(store: Store, work: Work, certificate_chain: str, private_key: str) -> bool:
    """Keep a new certificate for the domain and serve it (False: the domain or the app's
    ACM went away meanwhile, and it is dropped)."""
    certificates.check(certificate_chain, private_key)
    with store.session() as s:
        domain = _current(s, work)
        if domain is None:
            return False
        endpoint = _endpoint_for(s, domain)
        if endpoint is None:
            endpoint = SniEndpoint(
                app_id=work.app_id,
                name=f"acm-{secrets.token_hex(4)}",
                certificate_chain=certificate_chain,
                private_key=private_key,
                cert_domains=[work.hostname],
                acm=True,
            )
            s.add(endpoint)
            kind = "sni_endpoint.created"
        else:
            endpoint.certificate_chain = certificate_chain
            endpoint.private_key = private_key
            endpoint.updated_at = datetime.datetime.now(datetime.UTC)  # the router reloads
            kind = "sni_endpoint.updated"
        s.flush()
        domain.sni_endpoint = endpoint.name
        domain.acm_status, domain.acm_status_reason = acm.ISSUED, None
        store.emit(s, kind, work.app_id, app=work.app_name, name=endpoint.name)
        store.emit(s, "domain.updated", work.app_id, app=work.app_name, hostname=work.hostname)
    return True
