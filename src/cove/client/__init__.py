"""Typed HTTP client for Cove's Heroku Platform API v3, shared by the CLI, git hook and tests."""

from cove.client.api import ACCEPT, ApiConnectionError, ApiError, CoveClient
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
