from cove.store.db import Store
from cove.store.models import (
    Account,
    AddOn,
    App,
    Attachment,
    Backup,
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
    "AddOn",
    "App",
    "Attachment",
    "Backup",
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
