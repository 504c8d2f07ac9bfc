"""Typed HTTP client for Cove's Heroku Platform API v3, shared by the CLI and tests.

The client itself (httpx) is loaded on first use: the git hook imports ``cove.client.trust``
alone on every push, where httpx would cost ~0.1 s.
"""

from typing import TYPE_CHECKING, Any

from cove.client.types import (
    Account,
    App,
    Build,
    BuildpackInstallation,
    Dyno,
    Formation,
    FormationUpdate,
    LogSession,
    OAuthAuthorization,
    Release,
    Source,
)

if TYPE_CHECKING:
    from cove.client.api import ACCEPT, ApiConnectionError, ApiError, CoveClient

__all__ = [
    "ACCEPT",
    "Account",
    "ApiConnectionError",
    "ApiError",
    "App",
    "Build",
    "BuildpackInstallation",
    "CoveClient",
    "Dyno",
    "Formation",
    "FormationUpdate",
    "LogSession",
    "OAuthAuthorization",
    "Release",
    "Source",
]


def __getattr__(name: str) -> Any:
    if name in ("ACCEPT", "ApiConnectionError", "ApiError", "CoveClient"):
        from cove.client import api

        return getattr(api, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
