"""A version ``Range`` on the releases list reads only its page from the store, and the
paging middleware then answers exactly what it would from the whole list."""

from __future__ import annotations

import pytest

from cove.api import paging
from cove.api.routes.releases import _version_range, ranged_releases
from cove.services import apps, releases
from cove.store import App, Release, Store
from tests.unit.accounts import add_account

# Every test here runs on a SQLite and on a PostgreSQL store (tests/unit/conftest.py).
BOTH_STORES = True

RANGES = [
    "version ..; max=1, order=desc",
    "version ..; order=desc,max=3",
    "version ]7..; max=3, order=desc",
    "version 7..; max=2, order=desc",
    "version ..; max=4",
    "version ]4..; max=4",
    "version 4..8",
    "version 4..8; order=desc",
    "version 8..4; order=desc",
    "version 3..3",
    "version 20..",
    "version ]12..; order=desc",
]


@pytest.fixture
def app_id(store: Store) -> str:
    owner_id = add_account(store, "dev@example.com")
    app = apps.create(store, owner_id, "ranged")
    with store.session() as s:
        row = s.get(App, app.id)
        assert row is not None
        for n in range(11):
            releases.append(s, row, slug_id=None, description=f"N={n}", user_id=owner_id)
    return app.id


def _items(rows: list[Release]) -> list[dict[str, object]]:
    return [{"id": r.id, "version": r.version} for r in rows]


@pytest.mark.parametrize("header", RANGES)
def test_a_page_read_from_the_store_is_the_page_of_the_whole_list(
    store: Store, app_id: str, header: str
) -> None:
    spec = paging.parse(header)
    assert spec is not None
    whole = paging.page(_items(releases.list_releases(store, app_id)), spec)
    ranged = ranged_releases(store, app_id, spec)
    assert len(ranged) <= spec.max + 1  # never the whole history
    assert paging.page(_items(ranged), spec) == whole


def test_the_config_of_listed_releases_is_not_loaded(store: Store, app_id: str) -> None:
    listed = releases.list_releases(store, app_id)
    with pytest.raises(Exception, match="config"):
        _ = listed[0].config


class _Request:
    def __init__(self, header: str | None) -> None:
        self.headers = {"range": header} if header is not None else {}


@pytest.mark.parametrize(
    "header", [None, "", "id ..; max=2", "version ..; max=none", "version a..b", "version -1.."]
)
def test_other_ranges_get_the_whole_list(header: str | None) -> None:
    assert _version_range(_Request(header)) is None  # type: ignore[arg-type]
