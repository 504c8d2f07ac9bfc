"""Who may act on an app: owner, collaborators, admins; nobody else, and it reads as missing."""

from __future__ import annotations

import pytest

from cove.domain.errors import Conflict, Forbidden, InvalidParams, NotFound
from cove.services import access, accounts, apps
from cove.store import Account, Store

# Every test here runs on a SQLite and on a PostgreSQL store (tests/unit/conftest.py).
BOTH_STORES = True


def _account(store: Store, email: str) -> Account:
    accounts.create_account(store, email, "password-1234")
    return accounts.by_email(store, email)


def test_owner_collaborator_admin_and_stranger(store: Store) -> None:
    accounts.ensure_admin(store)
    admin = accounts.by_email(store, accounts.ADMIN_EMAIL)
    owner, friend, stranger = (_account(store, f"{n}@example.com") for n in ("o", "f", "s"))
    app = apps.create(store, owner.id, "shared-app")
    assert access.can_access(store, app, owner)
    assert access.can_access(store, app, admin)
    assert not access.can_access(store, app, friend)
    with pytest.raises(NotFound, match="Couldn't find that app"):
        access.check(store, app, stranger)
    access.add(store, app, "F@example.com")
    assert access.can_access(store, app, friend)
    assert not access.can_access(store, app, stranger)
    assert access.accessible_app_ids(store, friend) == {app.id}
    assert access.accessible_app_ids(store, stranger) == set()
    assert access.accessible_app_ids(store, admin) is None
    assert access.accessible_app_ids(store, admin, as_member=True) == set()
    listed = access.collaborators(store, app)
    assert [(row is None, user.email) for row, user in listed] == [
        (True, "o@example.com"),
        (False, "f@example.com"),
    ]
    access.remove(store, app, "f@example.com")
    assert not access.can_access(store, app, friend)


def test_add_refuses_owner_duplicates_and_unknown_users(store: Store) -> None:
    owner, _friend = _account(store, "o@example.com"), _account(store, "f@example.com")
    app = apps.create(store, owner.id, "shared-app")
    with pytest.raises(InvalidParams):
        access.add(store, app, "o@example.com")
    access.add(store, app, "f@example.com")
    with pytest.raises(Conflict):
        access.add(store, app, "f@example.com")
    with pytest.raises(NotFound):
        access.add(store, app, "nobody@example.com")
    with pytest.raises(NotFound):
        access.remove(store, app, "nobody@example.com")


def test_only_owner_or_admin_destroys_or_transfers(store: Store) -> None:
    accounts.ensure_admin(store)
    admin = accounts.by_email(store, accounts.ADMIN_EMAIL)
    owner, friend = _account(store, "o@example.com"), _account(store, "f@example.com")
    app = apps.create(store, owner.id, "shared-app")
    access.require_owner(app, owner, "destroy")
    access.require_owner(app, admin, "destroy")
    with pytest.raises(Forbidden):
        access.require_owner(app, friend, "destroy")


def test_transfer_keeps_previous_owner_as_collaborator(store: Store) -> None:
    owner, friend = _account(store, "o@example.com"), _account(store, "f@example.com")
    app = apps.create(store, owner.id, "shared-app")
    access.add(store, app, "f@example.com")
    moved, recipient = access.transfer(store, app, "f@example.com")
    assert moved.owner_id == recipient.id == friend.id
    emails = [(row is None, user.email) for row, user in access.collaborators(store, moved)]
    assert emails == [(True, "f@example.com"), (False, "o@example.com")]
    with pytest.raises(InvalidParams):
        access.transfer(store, moved, "f@example.com")


def test_owner_of_apps_cannot_be_removed(store: Store) -> None:
    owner = _account(store, "o@example.com")
    apps.create(store, owner.id, "shared-app")
    with pytest.raises(Conflict, match="transfer"):
        accounts.remove_account(store, "o@example.com")
