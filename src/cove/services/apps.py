"""Apps: create, look up, update, destroy."""

from __future__ import annotations

from sqlalchemy import delete, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, defer

from cove.domain.errors import NameTaken, NotFound
from cove.domain.names import random_app_name, validate_app_name
from cove.services import releases
from cove.store import App, Build, Dyno, Formation, Release, Slug, Store

FIRST_APP_UID = 200000


def find(session: Session, ident: str, *, lock: bool = True) -> App:
    """The app, by name or id. Locked until the transaction ends (on PostgreSQL; SQLite
    has one writer at a time anyway): a change made from what was read here is never
    lost to another server process changing the same app."""
    query = select(App).where(or_(App.name == ident, App.id == ident))
    app = session.scalar(query.with_for_update() if lock else query)
    if app is None:
        raise NotFound(f"Couldn't find that app. ({ident})")
    return app


def get(store: Store, ident: str) -> App:
    """The app, read only."""
    with store.session() as s:
        return find(s, ident, lock=False)


def list_apps(store: Store) -> list[App]:
    """Every app by name, without its config vars (not loaded: decrypting each app's
    config was a large part of listing many apps)."""
    with store.session() as s:
        return list(
            s.scalars(select(App).order_by(App.name).options(defer(App.config, raiseload=True)))
        )


def create(store: Store, owner_id: str, name: str | None) -> App:
    if name is None:
        with store.session() as s:
            taken = set(s.scalars(select(App.name)))
        name = random_app_name()
        while name in taken:
            name = random_app_name()
    validate_app_name(name)
    for _ in range(5):
        try:
            with store.session() as s:
                if s.scalar(select(App.id).where(App.name == name)):
                    raise NameTaken(f"Name is already taken ({name})")
                app = App(name=name, owner_id=owner_id, uid=_next_uid(s))
                s.add(app)
                s.flush()
                releases.append(
                    s, app, slug_id=None, description="Initial release", user_id=owner_id
                )
                store.emit(s, "app.created", app.id, name=name)
            return app
        except IntegrityError:
            # A concurrent create won the race for the name (final), or for the uid (retry).
            with store.session() as s:
                if s.scalar(select(App.id).where(App.name == name)):
                    raise NameTaken(f"Name is already taken ({name})") from None
    raise RuntimeError("could not allocate a Unix user id for the app")


def _next_uid(session: Session) -> int:
    """Each app's builds and dynos run as their own Unix user: uids from FIRST_APP_UID up,
    far above the host's own accounts. A uid is reused only after the app that had the highest
    one is destroyed, and destroying an app removes everything its user owned."""
    highest = session.scalar(select(func.max(App.uid)))
    return FIRST_APP_UID if highest is None else highest + 1


def set_maintenance(store: Store, ident: str, maintenance: bool) -> App:
    with store.session() as s:
        app = find(s, ident)
        app.maintenance = maintenance
        store.emit(s, "app.updated", app.id, name=app.name, maintenance=maintenance)
    return app


def rename(store: Store, ident: str, name: str) -> App:
    """The app under a new name (its id, and all that hangs on it, stay)."""
    validate_app_name(name)
    try:
        with store.session() as s:
            app = find(s, ident)
            if s.scalar(select(App.id).where(App.name == name, App.id != app.id)):
                raise NameTaken(f"Name is already taken ({name})")
            old = app.name
            app.name = name
            store.emit(s, "app.updated", app.id, name=name, renamed_from=old)
    except IntegrityError:  # a concurrent create or rename took the name first
        raise NameTaken(f"Name is already taken ({name})") from None
    return app


def destroy(store: Store, ident: str) -> App:
    """Delete the app's rows; the dyno manager stops its dynos when it sees the event and
    the server removes its repository, slugs and cache."""
    with store.session() as s:
        app = find(s, ident)
        _hand_over_promoted_slugs(s, app.id)
        slugs = list(s.scalars(select(Slug.checksum).where(Slug.app_id == app.id)))
        builds = list(s.scalars(select(Build.id).where(Build.app_id == app.id)))
        for model in (Dyno, Formation, Build, Release, Slug):
            s.execute(delete(model).where(model.app_id == app.id))
        s.delete(app)
        store.emit(s, "app.destroyed", app.id, name=app.name, slugs=slugs, builds=builds)
    return app


def _hand_over_promoted_slugs(session: Session, app_id: str) -> None:
    """A slug of this app that a pipeline promotion released on another app now belongs to
    that app: its releases still name it, and its file must stay."""
    for slug in list(session.scalars(select(Slug).where(Slug.app_id == app_id))):
        heir = session.scalar(
            select(Release.app_id)
            .where(Release.slug_id == slug.id, Release.app_id != app_id)
            .order_by(Release.created_at)
            .limit(1)
        )
        if heir is not None:
            slug.app_id = heir
