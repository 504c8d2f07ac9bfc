"""Custom domains' certificates for the HTTPS listeners: SNI name -> SSL context.

Kept in step with the store like the route table (list, then follow ``domain.*`` and
``sni_endpoint.*`` events): a domain whose ``sni_endpoint`` is set is answered with that
endpoint's certificate; every other name keeps Cove's own. An exact domain wins over a
wildcard one label up, as in the route table.

``ssl`` loads a key only from a file: each key is written to a private temporary file in
Cove's TLS directory (0600, in a 0700 directory), loaded, and removed at once.
"""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import select

from cove.domain.hostnames import wildcard_for
from cove.store import Domain, SniEndpoint, Store
from cove.tls import ServerTls

log = logging.getLogger("cove.router.sni")

EVENTS = frozenset(
    {
        "domain.created",
        "domain.updated",
        "domain.deleted",
        "sni_endpoint.created",
        "sni_endpoint.updated",
        "sni_endpoint.deleted",
        "app.destroyed",
    }
)


@dataclass(frozen=True)
class _Loaded:
    updated_at: datetime
    context: ssl.SSLContext


class SniCertificates:
    """The current SNI name -> context map (swapped whole, read by the SNI callback)."""

    def __init__(self) -> None:
        self._by_host: dict[str, ssl.SSLContext] = {}

    def replace(self, by_host: dict[str, ssl.SSLContext]) -> None:
        self._by_host = by_host

    def lookup(self, name: str) -> ssl.SSLContext | None:
        by_host = self._by_host
        context = by_host.get(name)
        if context is None:
            wildcard = wildcard_for(name)
            if wildcard is not None:
                context = by_host.get(wildcard)
        return context


def load_context(directory: Path, certificate_chain: str, private_key: str) -> ssl.SSLContext:
    fd, name = tempfile.mkstemp(prefix=".sni-", suffix=".pem", dir=directory)
    try:
        with os.fdopen(fd, "w") as pem:  # mkstemp makes it 0600
            pem.write(private_key.rstrip("\n") + "\n" + certificate_chain)
        return ServerTls.new_context(Path(name), Path(name))
    finally:
        os.unlink(name)


class SniFeed:
    def __init__(self, store: Store, server_tls: ServerTls, directory: Path) -> None:
        self.store = store
        self.directory = directory
        self.certificates = SniCertificates()
        self._loaded: dict[str, _Loaded] = {}  # endpoint id -> its context
        server_tls.use_custom(self.certificates.lookup)

    def _reload(self) -> None:
        with self.store.session() as s:
            endpoints = {e.name: e for e in s.scalars(select(SniEndpoint))}
            domains = list(s.scalars(select(Domain).where(Domain.sni_endpoint.is_not(None))))
        loaded: dict[str, _Loaded] = {}
        for endpoint in endpoints.values():
            old = self._loaded.get(endpoint.id)
            if old is not None and old.updated_at == endpoint.updated_at:
                loaded[endpoint.id] = old
                continue
            try:
                context = load_context(
                    self.directory, endpoint.certificate_chain, endpoint.private_key
                )
            except (OSError, ssl.SSLError) as exc:
                # The reason only: never the key or the certificate's text.
                log.warning(
                    "SNI endpoint %s can't be loaded: %s",
                    endpoint.name,
                    exc.strerror or type(exc).__name__,
                )
                continue
            loaded[endpoint.id] = _Loaded(endpoint.updated_at, context)
        by_host: dict[str, ssl.SSLContext] = {}
        for domain in domains:
            serving = endpoints.get(domain.sni_endpoint or "")
            if serving is not None and serving.app_id == domain.app_id:
                entry = loaded.get(serving.id)
                if entry is not None:
                    by_host[domain.hostname] = entry.context
        self._loaded = loaded
        self.certificates.replace(by_host)

    async def run(self) -> None:
        cursor = await asyncio.to_thread(self.store.last_event_id)
        await asyncio.to_thread(self._reload)
        async for event in self.store.watch(cursor):
            if event.kind in EVENTS:
                await asyncio.to_thread(self._reload)
