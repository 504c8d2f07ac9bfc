"""Who may act on an app: its owner, its collaborators, and the Cove's admins.

Everyone else is told the app does not exist (``not_found``), so names don't leak."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from cove.domain.errors import Conflict, Forbidden, InvalidParams, NotFound
from cove.services import accounts
from cove.store import Account, App, Store
from cove.store.models import Collaborator


def may_access(session: Session, app: App, account: Account) -> bool:
    if account.admin or app.owner_id == account.id:
        return True
    found = session.scalar(
        select(Collaborator.id).where(
            Collaborator.app_id == app.id, Collaborator.account_id == account.id
        )
    )
    return found is not None


def can_access(store: Store, app: App, account: Account) -> bool:
    with store.session() as s:
        return may_access(s, app, account)


def check(store: Store, app: App, account: Account, ident: str | None = None) -> App:
    """``app`` if ``account`` may act on it, else Heroku's "Couldn't find that app."."""
    if not can_access(store, app, account):
        raise NotFound(f"Couldn't find that app. ({ident or app.name})")
    return app


def require_owner(app: App, account: Account, action: str) -> None:
    """Destroying and transferring an app are its owner's (or an admin's) alone."""
    if not (account.admin or app.owner_id == account.id):
        raise Forbidden(f"Only the owner of {app.name} can {action} it.")


def accessible_app_ids(
    store: Store, account: Account, *, as_member: bool = False
) -> set[str] | None:
    """Ids of the apps ``account`` may act on (None: every app, for an admin unless
    ``as_member``: then only those it owns or collaborates on)."""
    if account.admin and not as_member:
        return None
    with store.session() as s:
        owned = set(s.scalars(select(App.id).where(App.owner_id == account.id)))
        shared = set(
            s.scalars(select(Collaborator.app_id).where(Collaborator.account_id == account.id))
        )
    return owned | shared


def collaborators(store: Store, app: App) -> list[tuple[Collaborator | None, Account]]:
    """The owner first (no row: Heroku lists it with role ``owner``), then collaborators."""
    with store.session() as s:
        owner = s.get(Account, app.owner_id)
        rows = s.execute(
            select(Collaborator, Account)
            .join(Account, Account.id == Collaborator.account_id)
            .where(Collaborator.app_id == app.id)
            .order_by(Account.email)
        ).all()
    listed: list[tuple[Collaborator | None, Account]] = [(None, owner)] if owner else []
    return listed + [(row, account) for row, account in rows]


def add(store: Store, app: App, email: str) -> tuple[Collaborator, Account]:
    account = accounts.by_email(store, email)
    if account.id == app.owner_id:
        raise InvalidParams(f"{account.email} owns {app.name} already.")
    with store.session() as s:
        exists = s.scalar(
            select(Collaborator).where(
                Collaborator.app_id == app.id, Collaborator.account_id == account.id
            )
        )
        if exists is not None:
            raise Conflict(f"{account.email} is already a collaborator on {app.name}.")
        row = Collaborator(app_id=app.id, account_id=account.id)
        s.add(row)
    return row, account


def remove(store: Store, app: App, ident: str) -> tuple[Collaborator, Account]:
    """Remove a collaborator by email or id (of the user or of the collaborator row)."""
    with store.session() as s:
        found = s.execute(
            select(Collaborator, Account)
            .join(Account, Account.id == Collaborator.account_id)
            .where(Collaborator.app_id == app.id)
            .where(
                (Account.email == ident.strip().lower())
                | (Account.id == ident)
                | (Collaborator.id == ident)
            )
        ).first()
        if found is None:
            raise NotFound(f"Couldn't find that collaborator. ({ident})")
        row, account = found
        s.delete(row)
    return row, account


def transfer(store: Store, app: App, email: str) -> tuple[App, Account]:
    """Make ``email`` the owner; the previous owner stays on as a collaborator."""
    recipient = accounts.by_email(store, email)
    if recipient.id == app.owner_id:
        raise InvalidParams(f"{recipient.email} owns {app.name} already.")
    with store.session() as s:
        row = s.get(App, app.id)
        if row is None:
            raise NotFound(f"Couldn't find that app. ({app.name})")
        previous = row.owner_id
        for old in s.scalars(
            select(Collaborator).where(
                Collaborator.app_id == app.id, Collaborator.account_id == recipient.id
            )
        ):
            s.delete(old)
        s.flush()
        row.owner_id = recipient.id
        s.add(Collaborator(app_id=app.id, account_id=previous))
    return row, recipient
