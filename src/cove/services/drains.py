"""Log drains: add, list, remove. The delivery side (``cove.logs.drains``) follows the
``log_drain.created`` / ``log_drain.deleted`` events."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cove.domain import drain_url
from cove.domain.errors import InvalidParams, NotFound
from cove.store import App, LogDrain, Store
from cove.store.digests import candidates, digest
from cove.store.secrets import keyring_of

MAX_DRAINS = 5  # per app, as Heroku


def list_for_app(store: Store, app_id: str) -> list[LogDrain]:
    with store.session() as s:
        return list(
            s.scalars(
                select(LogDrain)
                .where(LogDrain.app_id == app_id)
                .order_by(LogDrain.created_at, LogDrain.id)
            )
        )


def list_all(store: Store) -> list[LogDrain]:
    with store.session() as s:
        return list(s.scalars(select(LogDrain).order_by(LogDrain.created_at, LogDrain.id)))


def create(store: Store, app: App, url: str) -> LogDrain:
    drain_url.parse(url)
    try:
        with store.session() as s:
            # URLs are encrypted (non-deterministically): compared by their keyed digest.
            if _by_url(s, app.id, url) is not None:
                raise _taken()
            count = s.scalar(
                select(func.count()).select_from(LogDrain).where(LogDrain.app_id == app.id)
            )
            if (count or 0) >= MAX_DRAINS:
                raise InvalidParams(
                    "You have already added the maximum number of drains allowed "
                    f"({MAX_DRAINS} per app)."
                )
            drain = LogDrain(app_id=app.id, url=url, url_digest=digest(store.keyring, url))
            s.add(drain)
            s.flush()
            store.emit(s, "log_drain.created", app.id, drain_id=drain.id)
    except IntegrityError:  # the same URL, added concurrently: (app_id, url_digest) refuses it
        raise _taken() from None
    return drain


def _taken() -> InvalidParams:
    return InvalidParams("Url has already been taken: this app already drains to that URL.")


def find(session: Session, app_id: str, ident: str) -> LogDrain:
    """A drain of the app by its id, URL or token (what `drains:remove` is given)."""
    drain = session.scalars(
        select(LogDrain).where(
            LogDrain.app_id == app_id, (LogDrain.id == ident) | (LogDrain.token == ident)
        )
    ).first() or _by_url(session, app_id, ident)
    if drain is None:
        raise NotFound("Couldn't find that log drain (give its URL or its token, d.<uuid>).")
    return drain


def _by_url(session: Session, app_id: str, url: str) -> LogDrain | None:
    keyring = keyring_of(session.get_bind().dialect)
    return session.scalars(
        select(LogDrain).where(
            LogDrain.app_id == app_id, LogDrain.url_digest.in_(candidates(keyring, url))
        )
    ).first()


def get(store: Store, app_id: str, ident: str) -> LogDrain:
    with store.session() as s:
        return find(s, app_id, ident)


def remove(store: Store, app_id: str, ident: str) -> LogDrain:
    with store.session() as s:
        drain = find(s, app_id, ident)
        s.delete(drain)
        store.emit(s, "log_drain.deleted", app_id, drain_id=drain.id)
    return drain


def by_id(store: Store, drain_id: str) -> LogDrain | None:
    with store.session() as s:
        return s.get(LogDrain, drain_id)
