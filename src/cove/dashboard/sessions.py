"""Dashboard log-ins: an opaque random cookie, of which the store keeps only a SHA-256.

A session lapses ``LIFETIME`` after it was opened (absolute, not sliding), at log-out, and
as soon as its account's password changes or the account is removed (the row keeps a
digest of the password hash it was opened with). Each session has its own CSRF token,
which every form carries and every POST must send back."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select

from cove.store import Account, Store
from cove.store.models import DashboardSession

LIFETIME = timedelta(hours=12)


@dataclass(frozen=True)
class Visitor:
    """A logged-in dashboard user, as one request sees them."""

    account: Account
    session_id: str
    csrf_token: str
    flash: str | None  # the notice left by the previous POST (already consumed)

    def csrf_ok(self, sent: str | None) -> bool:
        return sent is not None and hmac.compare_digest(sent.encode(), self.csrf_token.encode())


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def password_digest(password_hash: str | None) -> str:
    return _hash(password_hash or "")


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)  # SQLite: naive


def open_session(store: Store, account: Account, now: datetime | None = None) -> str:
    """A new session for ``account`` (just logged in by password): the cookie's value.
    Lapsed sessions of every account are swept here, so the table stays small."""
    now = now or datetime.now(UTC)
    token = secrets.token_urlsafe(32)
    with store.session() as s:
        s.execute(delete(DashboardSession).where(DashboardSession.expires_at < now))
        s.add(
            DashboardSession(
                account_id=account.id,
                token_hash=_hash(token),
                csrf_token=secrets.token_urlsafe(32),
                password_digest=password_digest(account.password_hash),
                expires_at=now + LIFETIME,
            )
        )
    return token


def visitor(
    store: Store, token: str | None, now: datetime | None = None, *, take_flash: bool = True
) -> Visitor | None:
    """Who the cookie ``token`` logs in, or None (no such session, lapsed, or the
    password changed since). A pending notice is handed over once (unless ``take_flash``
    is false: a check that shows no page, such as a live tail's)."""
    if not token or len(token) > 128:
        return None
    now = now or datetime.now(UTC)
    with store.session() as s:
        found = s.execute(
            select(DashboardSession, Account)
            .join(Account, Account.id == DashboardSession.account_id)
            .where(DashboardSession.token_hash == _hash(token))
        ).first()
        if found is None:
            return None
        row, account = found
        if _aware(row.expires_at) <= now or not hmac.compare_digest(
            row.password_digest, password_digest(account.password_hash)
        ):
            s.delete(row)
            return None
        flash = row.flash
        if flash is not None and take_flash:  # (a write only when there was a notice)
            row.flash = None
        return Visitor(account, row.id, row.csrf_token, flash)


def set_flash(store: Store, session_id: str, message: str) -> None:
    """A notice for the next page this session shows."""
    with store.session() as s:
        row = s.get(DashboardSession, session_id)
        if row is not None:
            row.flash = message[:500]


def close_session(store: Store, session_id: str) -> None:
    with store.session() as s:
        s.execute(delete(DashboardSession).where(DashboardSession.id == session_id))
