"""Log drains: add, list, remove. The delivery side (``cove.logs.drains``) follows the
``log_drain.created`` / ``log_drain.deleted`` events."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cove.domain import drain_url
from cove.domain.errors import InvalidParams, NotFound
from cove.store import App, LogDrain, Store

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
            # URLs are encrypted (non-deterministically): compared here, not in SQL.
            if any(
                d.url == url for d in s.scalars(select(LogDrain).where(LogDrain.app_id == app.id))
            ):
                raise _taken()
            count = s.scalar(
                select(func.count()).select_from(LogDrain).where(LogDrain.app_id == app.id)
            )
            if (count or 0) >= MAX_DRAINS:
                raise InvalidParams(
                    "You have already added the maximum number of drains allowed "
                    f"({MAX_DRAINS} per app)."
                )
            drain = LogDrain(app_id=app.id, url=url)
            s.add(drain)
            s.flush()
            store.emit(s, "log_drain.created", app.id, drain_id=drain.id)
    except IntegrityError:  # the same URL, added concurrently
        raise _taken() from None
    return drain


def _taken() -> InvalidParams:
    return InvalidParams("Url has already been taken: this app already drains to that URL.")


def find(session: Session, app_id: str, ident: str) -> LogDrain:
    """A drain of the app by its id, URL or token (what `drains:remove` is given)."""
    drains = session.scalars(select(LogDrain).where(LogDrain.app_id == app_id))
    # (a URL is encrypted in the store, so it is matched here; an app has few drains)
    drain = next((d for d in drains if ident in (d.id, d.url, d.token)), None)
    if drain is None:
        raise NotFound("Couldn't find that log drain (give its URL or its token, d.<uuid>).")
    return drain


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
