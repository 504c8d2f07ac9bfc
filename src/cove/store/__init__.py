from cove.store.db import Store
from cove.store.models import (
    Account,
    App,
    Build,
    Dyno,
    Event,
    Formation,
    Release,
    Slug,
    Source,
    Token,
)

__all__ = [
    "Account",
    "App",
    "Build",
    "Dyno",
    "Event",
    "Formation",
    "Release",
    "Slug",
    "Source",
    "Store",
    "Token",
]
