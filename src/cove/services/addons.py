"""Add-ons and attachments. Attaching sets NAME_URL on the app, detaching removes it; each
is a new release (so dynos restart onto it, without downtime)."""

from __future__ import annotations

import contextlib
import re
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session

from cove import testpoints
from cove.addons import Provider, Registry
from cove.domain.errors import Conflict, InvalidParams, NotFound
from cove.domain.names import random_app_name
from cove.services import apps, releases
from cove.store import Account, AddOn, App, Attachment, Backup, Store
from cove.store.models import Collaborator, new_id

COLORS = (
    "AMBER",
    "BLACK",
    "BLUE",
    "BRONZE",
    "CHARCOAL",
    "COBALT",
    "COPPER",
    "CRIMSON",
    "GOLD",
    "GRAY",
    "GREEN",
    "IVORY",
    "JADE",
    "MAROON",
    "NAVY",
    "OLIVE",
    "ONYX",
    "ORANGE",
    "PINK",
    "PURPLE",
    "RED",
    "SILVER",
    "TEAL",
    "VIOLET",
    "WHITE",
    "YELLOW",
)
ADDON_NAME = re.compile(r"^[a-zA-Z][A-Za-z0-9_-]{2,63}$")
# Add-on states (Heroku's names). A row is written `provisioning` before its resources are
# created and marked `deprovisioning` before they are dropped, so a crash in between leaves
# a row that `reconcile` (at start) finishes: an add-on exists fully or not at all.
PROVISIONED = "provisioned"
PROVISIONING = "provisioning"
DEPROVISIONING = "deprovisioning"
ATTACHMENT_NAME = re.compile(r"^[A-Z][A-Z0-9_]{0,59}$")


@dataclass(frozen=True)
class AddOnView:
    addon: AddOn
    attachments: list[Attachment]


# -- lookups ---------------------------------------------------------------------------------
def find_for_app(session: Session, app: App, ident: str) -> AddOn:
    """An add-on the app owns or has attached, by name, id, attachment name (``DATABASE``)
    or config var (``DATABASE_URL``)."""
    attachment_name = ident.removesuffix("_URL").upper()
    addon = session.scalar(
        select(AddOn)
        .outerjoin(Attachment, Attachment.addon_id == AddOn.id)
        .where(
            AddOn.state == PROVISIONED,
            or_(AddOn.app_id == app.id, Attachment.app_id == app.id),
            or_(
                AddOn.name == ident,
                AddOn.id == ident,
                (Attachment.name == attachment_name) & (Attachment.app_id == app.id),
            ),
        )
    )
    if addon is None:
        raise NotFound(f"Couldn't find that add-on on {app.name}. ({ident})")
    return addon


def view(session: Session, addon: AddOn) -> AddOnView:
    attachments = list(session.scalars(select(Attachment).where(Attachment.addon_id == addon.id)))
    return AddOnView(addon, attachments)


def list_for_app(store: Store, app_id: str) -> list[AddOnView]:
    with store.session() as s:
        attached = select(Attachment.addon_id).where(Attachment.app_id == app_id)
        rows = s.scalars(
            select(AddOn)
            .where(AddOn.state == PROVISIONED, or_(AddOn.app_id == app_id, AddOn.id.in_(attached)))
            .order_by(AddOn.name)
        )
        return [view(s, a) for a in rows]


def list_for_owner(store: Store, owner_id: str) -> list[AddOnView]:
    """Add-ons of the apps account ``owner_id`` may act on: apps it owns or collaborates
    on (every app for an admin)."""
    shared = select(Collaborator.app_id).where(Collaborator.account_id == owner_id)
    is_admin = select(Account.admin).where(Account.id == owner_id).scalar_subquery()
    with store.session() as s:
        rows = s.scalars(
            select(AddOn)
            .join(App, App.id == AddOn.app_id)
            .where(
                or_(App.owner_id == owner_id, App.id.in_(shared), is_admin),
                AddOn.state == PROVISIONED,
            )
        )
        return [view(s, a) for a in rows]


# -- attachments -----------------------------------------------------------------------------
def _attachment_name(session: Session, app: App, provider: Provider, wanted: str | None) -> str:
    taken = set(session.scalars(select(Attachment.name).where(Attachment.app_id == app.id)))
    if wanted:
        name = wanted.upper().removesuffix("_URL")
        if not ATTACHMENT_NAME.match(name):
            raise InvalidParams(
                f"Invalid attachment name {wanted!r}: use letters, digits and underscores, "
                "starting with a letter."
            )
        if name in taken:
            raise Conflict(f"{name} is already attached to {app.name}.")
        return name
    primary = provider.primary_attachment
    if primary not in taken and f"{primary}_URL" not in app.config:
        return primary
    free = [c for c in COLORS if f"{provider.secondary_prefix}_{c}" not in taken]
    return f"{provider.secondary_prefix}_{secrets.choice(free)}"


def _set_var(
    session: Session, app: App, key: str, value: str | None, description: str, user_id: str
) -> None:
    config = dict(app.config)
    if value is None:
        config.pop(key, None)
    else:
        config[key] = value
    app.config = config
    current = releases.current(session, app.id)
    releases.append(
        session,
        app,
        slug_id=current.slug_id if current else None,
        description=description,
        user_id=user_id,
    )


def _attach(
    session: Session, store: Store, app: App, addon: AddOn, name: str, user_id: str
) -> Attachment:
    attachment = Attachment(addon_id=addon.id, app_id=app.id, name=name)
    session.add(attachment)
    _set_var(session, app, f"{name}_URL", addon.url, f"Attach {name} (@ref:{addon.name})", user_id)
    store.emit(session, "addon.attached", app.id, addon=addon.name, name=name)
    return attachment


def _detach(
    session: Session, store: Store, attachment: Attachment, addon: AddOn, user_id: str
) -> None:
    app = session.get(App, attachment.app_id)
    assert app is not None
    session.delete(attachment)
    _set_var(
        session,
        app,
        f"{attachment.name}_URL",
        None,
        f"Detach {attachment.name} (@ref:{addon.name})",
        user_id,
    )
    store.emit(session, "addon.detached", app.id, addon=addon.name, name=attachment.name)


# -- use cases -------------------------------------------------------------------------------
def create(
    store: Store,
    registry: Registry,
    app_ident: str,
    plan_spec: str,
    user_id: str,
    attachment_name: str | None = None,
    name: str | None = None,
) -> AddOnView:
    provider, plan = registry.resolve(plan_spec)
    with store.session() as s:
        app = apps.find(s, app_ident)
        _attachment_name(s, app, provider, attachment_name)  # refuse a bad name before work
        if name is not None:
            if not ADDON_NAME.match(name):
                raise InvalidParams(f"Invalid add-on name {name!r}.")
            if s.scalar(select(AddOn.id).where(AddOn.name == name)):
                raise Conflict(f"An add-on named {name} already exists.")
        else:
            taken = set(s.scalars(select(AddOn.name)))
            name = f"{provider.name_prefix}-{_random_words()}"
            while name in taken:
                name = f"{provider.name_prefix}-{_random_words()}"
        # The intent, committed before anything exists on the provider's side.
        addon_id = new_id()
        s.add(
            AddOn(
                id=addon_id,
                name=name,
                app_id=app.id,
                service=provider.service,
                plan=plan,
                state=PROVISIONING,
                url="",
            )
        )
    try:
        provisioned = provider.provision(addon_id, plan)
    except BaseException:
        _abandon(store, provider, addon_id)
        raise
    testpoints.pause("addon-provisioned")
    try:
        with store.session() as s:
            app = apps.find(s, app_ident)
            addon = s.get(AddOn, addon_id)
            assert addon is not None
            addon.state = PROVISIONED
            addon.resource = provisioned.resource
            addon.url = provisioned.url
            _attach(
                s, store, app, addon, _attachment_name(s, app, provider, attachment_name), user_id
            )
            return view(s, addon)
    except BaseException:
        _abandon(store, provider, addon_id)  # nothing half-made is left behind
        raise


def _abandon(store: Store, provider: Provider, addon_id: str) -> None:
    """Undo an add-on whose provisioning failed: whatever of it exists, then its row."""
    provider.reclaim(addon_id)
    with store.session() as s:
        s.execute(delete(AddOn).where(AddOn.id == addon_id))


def reconcile(store: Store, registry: Registry) -> list[str]:
    """At start, before the add-ons' servers start: finish what a crash interrupted.
    An add-on still `provisioning` is undone (whatever of it was created, then its row);
    one `deprovisioning` is dropped again. Returns one line per add-on."""
    with store.session() as s:
        rows = list(s.scalars(select(AddOn).where(AddOn.state != PROVISIONED)))
    done = []
    for addon in rows:
        try:
            provider = registry.get(addon.service)
            if addon.state == DEPROVISIONING:
                provider.deprovision(addon.resource)
                with store.session() as s:
                    s.execute(delete(AddOn).where(AddOn.id == addon.id))
                done.append(f"finished destroying {addon.name}")
            else:
                _abandon(store, provider, addon.id)
                done.append(f"undid the interrupted creation of {addon.name}")
        except Exception as exc:  # e.g. its server is gone: the row waits for the next start
            done.append(f"could not finish {addon.name} ({addon.state}): {exc}")
    return done


def _random_words() -> str:
    adjective = random_app_name().split("-")[0]
    return f"{adjective}-{secrets.randbelow(90000) + 10000}"


def attach(
    store: Store,
    registry: Registry,
    addon_ident: str,
    app_ident: str,
    name: str | None,
    user_id: str,
) -> Attachment:
    with store.session() as s:
        app = apps.find(s, app_ident)
        addon = s.scalar(
            select(AddOn).where(or_(AddOn.name == addon_ident, AddOn.id == addon_ident))
        )
        if addon is None:
            raise NotFound(f"Couldn't find that add-on. ({addon_ident})")
        provider = registry.get(addon.service)
        return _attach(s, store, app, addon, _attachment_name(s, app, provider, name), user_id)


def detach(store: Store, app_ident: str, ident: str, user_id: str) -> Attachment:
    with store.session() as s:
        app = apps.find(s, app_ident)
        attachment = s.scalar(
            select(Attachment).where(
                Attachment.app_id == app.id,
                or_(Attachment.id == ident, Attachment.name == ident.upper().removesuffix("_URL")),
            )
        )
        if attachment is None:
            raise NotFound(f"Couldn't find that attachment on {app.name}. ({ident})")
        addon = s.get(AddOn, attachment.addon_id)
        assert addon is not None
        _detach(s, store, attachment, addon, user_id)
        return attachment


def destroy(store: Store, registry: Registry, app_ident: str, ident: str, user_id: str) -> AddOn:
    """Detach from every app (each gets a release without the var), delete, deprovision:
    the data is gone."""
    with store.session() as s:
        app = apps.find(s, app_ident)
        addon = find_for_app(s, app, ident)
        if addon.app_id != app.id:
            owner = s.get(App, addon.app_id)
            raise InvalidParams(
                f"{addon.name} belongs to {owner.name if owner else 'another app'}: destroy it "
                f"there, or detach it from {app.name} with addons:detach."
            )
        for attachment in view(s, addon).attachments:
            _detach(s, store, attachment, addon, user_id)
        s.execute(delete(Backup).where(Backup.addon_id == addon.id))
        addon.state = DEPROVISIONING  # deleted once its resources are gone (see reconcile)
        store.emit(s, "addon.destroyed", app.id, addon=addon.name)
    registry.get(addon.service).deprovision(addon.resource)
    with store.session() as s:
        s.execute(delete(AddOn).where(AddOn.id == addon.id))
    return addon


def update(
    store: Store,
    registry: Registry,
    addon_id: str,
    name: str | None = None,
    plan_spec: str | None = None,
) -> AddOnView:
    """Rename an add-on and/or change its plan (``addons:rename``, ``addons:upgrade``).
    Cove's plans share one kind of server, so a new plan changes the name only."""
    plan = None
    if plan_spec is not None:
        with store.session() as s:
            current = s.get(AddOn, addon_id)
            assert current is not None
            service = current.service
        provider, plan = registry.resolve(plan_spec)
        if provider.service != service:
            raise InvalidParams(
                f"{plan_spec} is a plan of {provider.service}; this add-on is {service}."
            )
    with store.session() as s:
        addon = s.get(AddOn, addon_id)
        assert addon is not None
        if name is not None and name != addon.name:
            if not ADDON_NAME.match(name):
                raise InvalidParams(
                    f"Invalid add-on name {name!r}: 3 to 64 letters, digits, - or _, "
                    "starting with a letter."
                )
            if s.scalar(select(AddOn.id).where(AddOn.name == name)):
                raise Conflict(f"An add-on named {name} already exists.")
            addon.name = name
        if plan is not None:
            addon.plan = plan
        return view(s, addon)


def replace_url(
    store: Store, addon_id: str, resource: dict[str, Any], url: str, reason: str, user_id: str
) -> None:
    """New credentials of an add-on: its resource and URL, and the config var of each
    attachment (a release per attached app)."""
    with store.session() as s:
        addon = s.get(AddOn, addon_id)
        assert addon is not None
        addon.resource = resource
        addon.url = url
        for x in view(s, addon).attachments:
            app = s.get(App, x.app_id)
            assert app is not None
            description = f"Update {x.name} by {reason} (@ref:{addon.name})"
            _set_var(s, app, f"{x.name}_URL", url, description, user_id)
        store.emit(s, "addon.updated", addon.app_id, addon=addon.name)


def destroy_for_app(store: Store, registry: Registry, app_id: str, user_id: str) -> None:
    """Before an app is destroyed: its add-ons are destroyed, other apps' add-ons detached."""
    for item in list_for_app(store, app_id):
        if item.addon.app_id == app_id:
            destroy(store, registry, app_id, item.addon.id, user_id)
        else:
            for attachment in item.attachments:
                if attachment.app_id == app_id:
                    detach(store, app_id, attachment.id, user_id)


# -- backups ---------------------------------------------------------------------------------
def next_backup_num(store: Store, addon_id: str) -> int:
    with store.session() as s:
        latest = s.scalar(select(func.max(Backup.num)).where(Backup.addon_id == addon_id))
    return (latest or 0) + 1


def record_backup(store: Store, addon_id: str, num: int, size: int) -> Backup:
    with store.session() as s:
        backup = Backup(addon_id=addon_id, num=num, size=size)
        s.add(backup)
        return backup


def list_backups(store: Store, addon_id: str) -> list[Backup]:
    with store.session() as s:
        return list(
            s.scalars(select(Backup).where(Backup.addon_id == addon_id).order_by(Backup.num))
        )


def delete_backup(store: Store, backup_id: str) -> None:
    with store.session() as s:
        s.execute(delete(Backup).where(Backup.id == backup_id))


def find_backup(store: Store, addon_id: str, ident: str | None) -> Backup:
    backups = list_backups(store, addon_id)
    if not backups:
        raise NotFound("No backups. Capture one with pg:backups:capture.")
    if ident in (None, "", "latest"):
        return backups[-1]
    for backup in backups:
        if ident in (backup.id, f"b{backup.num:03d}", str(backup.num)):
            return backup
    raise NotFound(f"Couldn't find that backup. ({ident})")


LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost"})


def local_addon_ports(store: Store, app_id: str) -> set[int]:
    """The ports of the add-on servers on this host (their URLs name loopback) that the
    app's attachments name: its dynos may reach these, and no other (cove.sandbox.netns)."""
    with store.session() as s:
        urls = s.scalars(
            select(AddOn.url)
            .join(Attachment, Attachment.addon_id == AddOn.id)
            .where(Attachment.app_id == app_id)
        ).all()
    ports = set()
    for url in urls:
        with contextlib.suppress(ValueError):
            parts = urlsplit(url)
            if parts.hostname in LOOPBACK_HOSTS and parts.port:
                ports.add(parts.port)
    return ports
