"""The add-on resolvers behind the Heroku CLI's add-on and pg:* commands: which add-ons and
attachments an identifier names, with and without an app."""

from __future__ import annotations

import pytest

from cove.addons import catalog
from cove.services import addon_resolve, apps
from cove.store import AddOn, App, Attachment, Store
from tests.unit.accounts import add_account

# Every test here runs on a SQLite and on a PostgreSQL store (tests/unit/conftest.py).
BOTH_STORES = True


def addon(store: Store, app: App, name: str, service: str, attach: dict[str, str]) -> AddOn:
    """An add-on owned by ``app``, attached as ``{app_id: attachment name}``."""
    with store.session() as s:
        row = AddOn(name=name, app_id=app.id, service=service, plan="mini", url=f"x://{name}")
        s.add(row)
        s.flush()
        for app_id, attachment in attach.items():
            s.add(Attachment(addon_id=row.id, app_id=app_id, name=attachment))
        return row


@pytest.fixture
def world(store: Store) -> dict[str, str]:
    """Two apps of one owner: `shop` owns a database (DATABASE there, SHARED_DB on
    `worker`) and a cache; a stranger owns a database too."""
    owner = add_account(store, "dev@example.com")
    stranger = add_account(store, "other@example.com")
    shop = apps.create(store, owner, "shop")
    worker = apps.create(store, owner, "worker")
    theirs = apps.create(store, stranger, "theirs")
    db = addon(
        store,
        shop,
        "postgresql-a-1",
        "heroku-postgresql",
        {shop.id: "DATABASE", worker.id: "SHARED_DB"},
    )
    cache = addon(store, shop, "redis-b-2", "heroku-redis", {shop.id: "REDIS"})
    addon(store, theirs, "postgresql-c-3", "heroku-postgresql", {theirs.id: "DATABASE"})
    return {"owner": owner, "shop": shop.id, "worker": worker.id, "db": db.id, "cache": cache.id}


def names(found: list[AddOn]) -> list[str]:
    return sorted(a.name for a in found)


def test_addons_by_name_id_attachment_or_config_var(store: Store, world: dict[str, str]) -> None:
    def resolve(ident: str, app: str | None, service: str | None = None) -> list[str]:
        return names(addon_resolve.resolve_addons(store, world["owner"], ident, app, service))

    assert resolve("postgresql-a-1", None) == ["postgresql-a-1"]
    assert resolve(world["db"], None) == ["postgresql-a-1"]
    assert resolve("DATABASE", world["shop"]) == ["postgresql-a-1"]
    assert resolve("database_url", world["shop"]) == ["postgresql-a-1"]
    assert resolve("SHARED_DB", world["worker"]) == ["postgresql-a-1"]
    assert resolve("SHARED_DB", world["shop"]) == []  # that name is the worker's
    assert resolve("DATABASE", None) == []  # attachment names need an app
    assert resolve("redis-b-2", world["worker"]) == ["redis-b-2"]  # own name: anywhere
    assert resolve("REDIS", world["shop"], "heroku-postgresql") == []
    assert resolve("postgresql-c-3", None) == []  # another owner's


def test_attachments_by_id_name_or_addon(store: Store, world: dict[str, str]) -> None:
    def resolve(ident: str, app: str | None) -> list[tuple[str, str]]:
        found = addon_resolve.resolve_attachments(store, world["owner"], ident, app, None)
        return sorted((x.name, x.app_id) for x, _ in found)

    shop, worker = world["shop"], world["worker"]
    assert resolve("DATABASE_URL", shop) == [("DATABASE", shop)]
    assert resolve("shared_db", worker) == [("SHARED_DB", worker)]
    assert resolve("postgresql-a-1", worker) == [("SHARED_DB", worker)]
    assert resolve("postgresql-a-1", None) == sorted([("DATABASE", shop), ("SHARED_DB", worker)])
    assert resolve("NOPE", shop) == []
    with store.session() as s:
        attachment_id = s.query(Attachment).filter_by(name="REDIS").one().id
    assert resolve(attachment_id, None) == [("REDIS", shop)]


def test_app_prefix_names_the_app() -> None:
    assert addon_resolve.split("shop::DATABASE", None) == ("DATABASE", "shop")
    assert addon_resolve.split("shop::DATABASE", "other") == ("DATABASE", "shop")
    assert addon_resolve.split("DATABASE", "other") == ("DATABASE", "other")


def test_catalogue_ids_are_stable_uuids() -> None:
    assert catalog.service_id("heroku-postgresql") == catalog.service_id("heroku-postgresql")
    assert catalog.service_id("heroku-postgresql") != catalog.service_id("heroku-redis")
    assert catalog.plan_id("heroku-redis", "mini") != catalog.plan_id("heroku-redis", "premium-0")
    assert len(catalog.plan_id("heroku-redis", "mini")) == 36
