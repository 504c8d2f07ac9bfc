"""Config vars: every change is a new release (which restarts the dynos)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from cove.domain.config_vars import apply_changes, describe_changes, validate_changes
from cove.services import apps, releases
from cove.store import Release, Store


def get(store: Store, app_ident: str) -> dict[str, str]:
    return dict(apps.get(store, app_ident).config)


@dataclass(frozen=True)
class ConfigUpdate:
    config: dict[str, str]
    release: Release | None  # None when nothing changed (no release, no restart)


def update(store: Store, app_ident: str, body: Mapping[str, object], user_id: str) -> ConfigUpdate:
    changes = validate_changes(body)
    with store.session() as s:
        app = apps.find(s, app_ident)
        new_config = apply_changes(app.config, changes)
        if new_config == app.config:
            return ConfigUpdate(new_config, None)  # as Heroku: no release, no restart
        app.config = new_config
        current = releases.current(s, app.id)
        release = releases.append(
            s,
            app,
            slug_id=current.slug_id if current else None,
            description=describe_changes(changes),
            user_id=user_id,
        )
    return ConfigUpdate(new_config, release)
