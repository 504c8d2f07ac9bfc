"""The app list reads every app's current slug size in one query; it must agree with the
per-app answer (``GET /apps/{app}``): the newest succeeded release's slug, if it has one."""

from __future__ import annotations

from cove.services import apps, releases
from cove.store import App, Slug, Store
from tests.unit.accounts import add_account


def _slug(store: Store, app_id: str, size: int) -> str:
    with store.session() as s:
        slug = Slug(app_id=app_id, checksum=f"SHA256:{size:064x}", size=size, stack="heroku-24")
        s.add(slug)
        s.flush()
        return slug.id


def _release(store: Store, app_id: str, owner_id: str, slug_id: str | None, status: str) -> None:
    with store.session() as s:
        app = s.get(App, app_id)
        assert app is not None
        release = releases.append(s, app, slug_id=slug_id, description="x", user_id=owner_id)
        release.status = status


def test_slug_sizes_match_each_apps_current_release(store: Store) -> None:
    owner_id = add_account(store, "dev@example.com")
    deployed, bare, failed_last = (
        apps.create(store, owner_id, n).id for n in ("app-a", "app-b", "app-c")
    )
    _release(store, deployed, owner_id, _slug(store, deployed, 100), "succeeded")
    _release(store, deployed, owner_id, _slug(store, deployed, 200), "succeeded")
    _release(store, failed_last, owner_id, _slug(store, failed_last, 300), "succeeded")
    _release(store, failed_last, owner_id, _slug(store, failed_last, 400), "failed")

    with store.session() as s:
        sizes = releases.current_slug_sizes(s)
        one_by_one = {}
        for app_id in (deployed, bare, failed_last):
            current = releases.current_with_slug(s, app_id)
            slug = s.get(Slug, current.slug_id) if current and current.slug_id else None
            if slug is not None:
                one_by_one[app_id] = slug.size
    assert sizes == one_by_one == {deployed: 200, failed_last: 300}
