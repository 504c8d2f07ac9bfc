"""The add-on provider protocol: small enough that a new service is one module."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from cove.domain.errors import CoveError


@dataclass(frozen=True)
class Provisioned:
    resource: dict[str, Any]  # opaque to Cove: how the provider finds it again
    url: str  # the value of the NAME_URL config var


@dataclass(frozen=True)
class DynoAccess:
    """Where dynos in network namespaces of their own (cove.sandbox.netns) reach the add-on
    servers: ``address`` on this host, from addresses in ``network``. The servers listen
    there as well as on 127.0.0.1."""

    address: str
    network: str


class ProviderError(CoveError):
    """A provider failed in a way the user should hear about (message is shown)."""

    id = "addon_error"


class Provider(Protocol):
    service: str  # Heroku's service name: "heroku-postgresql"
    aliases: tuple[str, ...]  # other accepted names: ("cove-postgresql",)
    plans: tuple[str, ...]
    default_plan: str
    name_prefix: str  # add-on names: "<prefix>-<adjective>-<5 digits>"
    primary_attachment: str  # first attachment's name: "DATABASE" -> DATABASE_URL
    secondary_prefix: str  # later ones: "HEROKU_POSTGRESQL" -> HEROKU_POSTGRESQL_RED_URL

    async def start(self, resources: list[dict[str, Any]]) -> None:
        """Bring up the servers backing these existing add-ons (at `cove server` start)."""

    async def stop(self) -> None: ...

    def provision(self, addon_id: str, plan: str) -> Provisioned:
        """Create the add-on's resources, named after ``addon_id`` so that ``reclaim``
        finds them without being told more."""
        ...

    def reclaim(self, addon_id: str) -> None:
        """Remove whatever ``provision(addon_id, ...)`` may have created (an add-on whose
        provisioning failed or was cut short by a crash); nothing there is fine."""

    def deprovision(self, resource: dict[str, Any]) -> None: ...

    def info(self, resource: dict[str, Any]) -> dict[str, Any]: ...
