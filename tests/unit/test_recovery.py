"""Start-up recovery against a real store: add-on intents and the build leftovers sweep
(the providers are fakes that record calls; the end-to-end kill -9 tests use real ones)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from cove import recovery
from cove.addons import Provisioned, Registry
from cove.builder.service import SLUG_MARKER
from cove.services import accounts, addons, apps, builds
from cove.settings import Settings
from cove.store import Account, AddOn, Build, Source, Store

# Every test here runs on a SQLite and on a PostgreSQL store (tests/unit/conftest.py).
BOTH_STORES = True


class FakeProvider:
    service = "fake-db"
    aliases: tuple[str, ...] = ()
    plans = ("basic",)
    default_plan = "basic"
    name_prefix = "fake"
    primary_attachment = "FAKE"
    secondary_prefix = "FAKE"

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.calls: list[tuple[str, str]] = []

    async def start(self, resources: list[dict[str, Any]]) -> None: ...

    async def stop(self) -> None: ...

    def provision(self, addon_id: str, plan: str) -> Provisioned:
        self.calls.append(("provision", addon_id))
        if self.fail:
            raise RuntimeError("provider down")
        return Provisioned({"id": addon_id}, f"fake://{addon_id}")

    def reclaim(self, addon_id: str) -> None:
        self.calls.append(("reclaim", addon_id))

    def deprovision(self, resource: dict[str, Any]) -> None:
        self.calls.append(("deprovision", resource["id"]))

    def info(self, resource: dict[str, Any]) -> dict[str, Any]:
        return {}


@pytest.fixture
def store(store: Store) -> Store:
    """The conftest's store, with its admin account."""
    accounts.ensure_admin(store)
    return store


def owner(store: Store) -> str:
    with store.session() as s:
        admin = s.scalar(select(Account).where(Account.email == accounts.ADMIN_EMAIL))
        assert admin is not None
        return admin.id


def states(store: Store) -> dict[str, str]:
    with store.session() as s:
        return {a.name: a.state for a in s.scalars(select(AddOn))}


def test_interrupted_add_on_intents_are_finished_at_start(store: Store) -> None:
    provider = FakeProvider()
    registry = Registry([provider])  # type: ignore[list-item]
    user = owner(store)
    app = apps.create(store, user, "intents")
    kept = addons.create(store, registry, app.id, "fake-db", user, name="kept")
    doomed = addons.create(store, registry, app.id, "fake-db", user, name="doomed")
    with store.session() as s:  # what a crash leaves: one half-created, one half-destroyed
        half = AddOn(id="half", name="half", app_id=app.id, service="fake-db", plan="basic")
        half.state, half.url = addons.PROVISIONING, ""
        s.add(half)
        gone = s.get(AddOn, doomed.addon.id)
        assert gone is not None
        gone.state = addons.DEPROVISIONING
    assert [a.addon.name for a in addons.list_for_app(store, app.id)] == ["kept"]

    provider.calls.clear()
    done = addons.reconcile(store, registry)
    assert sorted(done) == [
        "finished destroying doomed",
        "undid the interrupted creation of half",
    ]
    assert sorted(provider.calls) == [("deprovision", doomed.addon.id), ("reclaim", "half")]
    assert states(store) == {"kept": addons.PROVISIONED}
    assert kept.addon.url == f"fake://{kept.addon.id}"


def test_a_failed_provisioning_leaves_no_row_and_reclaims(store: Store) -> None:
    provider = FakeProvider(fail=True)
    registry = Registry([provider])  # type: ignore[list-item]
    user = owner(store)
    app = apps.create(store, user, "failing")
    with pytest.raises(RuntimeError, match="provider down"):
        addons.create(store, registry, app.id, "fake-db", user)
    (_, addon_id) = provider.calls[0]
    assert provider.calls == [("provision", addon_id), ("reclaim", addon_id)]
    assert states(store) == {}


def test_the_sweep_removes_what_interrupted_builds_left(store: Store, tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home")
    settings.ensure_dirs()
    user = owner(store)
    app = apps.create(store, user, "sweepy")
    with store.session() as s:
        spent, partial, waiting = Source(uploaded=True), Source(), Source(uploaded=True)
        s.add_all([spent, partial, waiting])
        s.flush()
        url = f"http://127.0.0.1:1/sources/{spent.id}"
        build = Build(app_id=app.id, source_url=url, user_id=user)
        s.add(build)
    for source in (spent, partial, waiting):
        (settings.sources_dir / source.id).write_text("tar")
    (settings.sources_dir / "unknown").write_text("tar")
    # A build directory whose slug was written and never released, a half-written slug
    # and a half-unpacked one, a build log (kept), a dyno's copy.
    workdir = settings.builds_dir / build.id
    (workdir / "app").mkdir(parents=True)
    digest = "ab" * 32
    (workdir / SLUG_MARKER).write_text(f"SHA256:{digest}")
    (settings.slugs_dir / f"{digest}.tar.zst").write_text("slug")
    (settings.slugs_dir / digest).mkdir()
    (settings.slugs_dir / ".tmp-1-2.tar.zst").write_text("half")
    (settings.slugs_dir / ".unpack-1-2").mkdir()
    (settings.builds_dir / f"{build.id}.log").write_text("-----> Building\n")
    (settings.dynos_dir / "some-dyno" / "app").mkdir(parents=True)

    done = recovery.sweep_builds(settings, store)

    assert done == [f"build {build.id} was interrupted: marked failed"]
    with store.session() as s:
        row = s.get(Build, build.id)
        assert row is not None and row.status == "failed"
        assert row.failure_message == builds.INTERRUPTED
    assert sorted(p.name for p in settings.sources_dir.iterdir()) == [waiting.id]
    assert list(settings.slugs_dir.iterdir()) == []
    assert [p.name for p in settings.builds_dir.iterdir()] == [f"{build.id}.log"]
    assert list(settings.dynos_dir.iterdir()) == []
