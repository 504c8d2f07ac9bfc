"""Accounts for unit tests that need more than the admin."""

from __future__ import annotations

from cove.store import Account, Store


def add_account(store: Store, email: str) -> str:
    """A new account's id."""
    with store.session() as s:
        row = Account(email=email)
        s.add(row)
        s.flush()
        return row.id
