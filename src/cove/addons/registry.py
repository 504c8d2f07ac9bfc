"""The add-on services this server offers, by name and alias."""

from __future__ import annotations

import asyncio
from pathlib import Path

from cove.addons.postgres import PostgresProvider
from cove.addons.provider import DynoAccess, Provider
from cove.addons.redis import RedisProvider
from cove.domain.errors import InvalidParams
from cove.tls import TlsFiles


class Registry:
    def __init__(self, providers: list[Provider]) -> None:
        self.providers = providers
        self._by_name = {n: p for p in providers for n in (p.service, *p.aliases)}

    @classmethod
    def default(
        cls,
        root: Path,
        loop: asyncio.AbstractEventLoop,
        tls: TlsFiles | None = None,
        dynos: DynoAccess | None = None,
    ) -> Registry:
        """``tls``: Cove's CA, which signs the add-on servers' certificates (None: no TLS).
        ``dynos``: where namespaced dynos reach the add-on servers."""
        return cls([PostgresProvider(root, loop, tls, dynos), RedisProvider(root, loop, dynos)])

    def get(self, service: str) -> Provider:
        provider = self._by_name.get(service)
        if provider is None:
            raise InvalidParams(f"Unknown service {service!r}.")
        return provider

    def resolve(self, spec: str) -> tuple[Provider, str]:
        """``heroku-postgresql[:plan]`` -> (provider, plan); unknown names list the valid ones."""
        service, _, plan = spec.strip().partition(":")
        provider = self._by_name.get(service)
        if provider is None:
            names = ", ".join(sorted(self._by_name))
            raise InvalidParams(
                f"Couldn't find either the add-on service or the add-on plan "
                f"of {spec!r}. Services: {names}."
            )
        plan = plan or provider.default_plan
        if plan not in provider.plans:
            raise InvalidParams(
                f"Couldn't find the plan {plan!r} of {provider.service}. Plans: "
                f"{', '.join(provider.plans)}."
            )
        return provider, plan
