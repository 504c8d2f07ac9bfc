"""Apps: create, look up, update, destroy."""

from __future__ import annotations

from sqlalchemy import delete, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cove.domain.errors import NameTaken, NotFound
from cove.domain.names import random_app_name, validate_app_name
from cove.services import releases
from cove.store import App, Build, Dyno, Formation, Release, Slug, Store


def find(session: Session, ident: str) -> App:
    app = session.scalar(select(App).where(or_(App.name == ident, App.id == ident)))
    if app is None:
        raise NotFound(f"Couldn't find that app. ({ident})")
    return app


def get(store: Store, ident: str) -> App:
    with store.session() as s:
        return find(s, ident)


def list_apps(store: Store) -> list[App]:
    with store.session() as s:
        return list(s.scalars(select(App).order_by(App.name)))


def create(store: Store, owner_id: str, name: str | None) -> App:
    if name is None:
        with store.session() as s:
            taken = set(s.scalars(select(App.name)))
        name = random_app_name()
        while name in taken:
            name = random_app_name()
    validate_app_name(name)
    try:
        with store.session() as s:
            if s.scalar(select(App.id).where(App.name == name)):
                raise NameTaken(f"Name {name} is already taken")
            app = App(name=name, owner_id=owner_id)
            s.add(app)
            s.flush()
            releases.append(s, app, slug_id=None, description="Initial release", user_id=owner_id)
            store.emit(s, "app.created", app.id, name=name)
    except IntegrityError as exc:  # a concurrent create won the race for the name
        raise NameTaken(f"Name {name} is already taken") from exc
    return app


def set_maintenance(store: Store, ident: str, maintenance: bool) -> App:
    with store.session() as s:
        app = find(s, ident)
        app.maintenance = maintenance
        store.emit(s, "app.updated", app.id, name=app.name, maintenance=maintenance)
    return app


def destroy(store: Store, ident: str) -> App:
    """Delete the app's rows; the dyno manager stops its dynos when it sees the event and
    the server removes its repository, slugs and cache."""
    with store.session() as s:
        app = find(s, ident)
        slugs = list(s.scalars(select(Slug.checksum).where(Slug.app_id == app.id)))
        builds = list(s.scalars(select(Build.id).where(Build.app_id == app.id)))
        for model in (Dyno, Formation, Build, Release, Slug):
            s.execute(delete(model).where(model.app_id == app.id))
        s.delete(app)
        store.emit(s, "app.destroyed", app.id, name=app.name, slugs=slugs, builds=builds)
    return app
