"""Config vars: every change is a new release (which restarts the dynos)."""

from __future__ import annotations

from collections.abc import Mapping

from cove.domain.config_vars import apply_changes, describe_changes, validate_changes
from cove.services import apps, releases
from cove.store import Store


def get(store: Store, app_ident: str) -> dict[str, str]:
    return dict(apps.get(store, app_ident).config)


def update(
    store: Store, app_ident: str, body: Mapping[str, object], user_id: str
) -> dict[str, str]:
    changes = validate_changes(body)
    with store.session() as s:
        app = apps.find(s, app_ident)
        new_config = apply_changes(app.config, changes)
        if new_config == app.config:
            return new_config  # nothing changed: no release, no restart (as Heroku)
        app.config = new_config
        current = releases.current(s, app.id)
        releases.append(
            s,
            app,
            slug_id=current.slug_id if current else None,
            description=describe_changes(changes),
            user_id=user_id,
        )
    return new_config
