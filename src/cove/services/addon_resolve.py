"""Heroku's add-on resolvers: what a user typed (an add-on's name or id, an attachment's
name, a config var, ``app::NAME``) to the add-ons or attachments it means. The Heroku CLI
asks these before every add-on and pg:* command."""

from __future__ import annotations

from cove.services import addons
from cove.store import AddOn, Attachment, Store


def split(ident: str, app: str | None) -> tuple[str, str | None]:
    """``app::NAME`` names the app in the identifier itself (it wins over ``app``)."""
    if "::" in ident:
        app, _, ident = ident.partition("::")
    return ident, app


def _attachment_name(ident: str) -> str:
    return ident.upper().removesuffix("_URL")


def resolve_addons(
    store: Store,
    owner_id: str,
    ident: str,
    app_id: str | None,
    service: str | None,
) -> list[AddOn]:
    """The owner's add-ons ``ident`` names: by name or id anywhere, or (with an app) by an
    attachment name or config var on that app (``split`` first)."""
    found = []
    for view in addons.list_for_owner(store, owner_id):
        a = view.addon
        by_name = ident in (a.name, a.id)
        by_attachment = app_id is not None and any(
            x.app_id == app_id and x.name == _attachment_name(ident) for x in view.attachments
        )
        if (by_name or by_attachment) and service in (None, a.service):
            found.append(a)
    return found


def resolve_attachments(
    store: Store,
    owner_id: str,
    ident: str,
    app_id: str | None,
    service: str | None,
) -> list[tuple[Attachment, AddOn]]:
    """The attachments ``ident`` names: an attachment's id, its name or config var on the
    app, or an add-on's name or id (its attachments, on the app when one is given)."""
    found = []
    for view in addons.list_for_owner(store, owner_id):
        a = view.addon
        if service not in (None, a.service):
            continue
        for x in view.attachments:
            on_app = app_id is None or x.app_id == app_id
            by_own_name = x.id == ident or (
                app_id is not None and x.name == _attachment_name(ident)
            )
            if on_app and (by_own_name or ident in (a.name, a.id)):
                found.append((x, a))
    return found
