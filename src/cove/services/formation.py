"""Formation: how many dynos of each process type, and restart requests."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from cove.domain.dyno_sizes import parse_size
from cove.domain.errors import InvalidParams, NotFound
from cove.services import apps, releases
from cove.store import Dyno, Formation, Slug, Store

MAX_QUANTITY = 100


def list_formation(store: Store, app_ident: str) -> list[Formation]:
    with store.session() as s:
        app = apps.find(s, app_ident)
        return list(
            s.scalars(select(Formation).where(Formation.app_id == app.id).order_by(Formation.type))
        )


def process_types(session: Session, app_id: str) -> dict[str, str]:
    release = releases.current_with_slug(session, app_id)
    if release is None:
        return {}
    slug = session.get(Slug, release.slug_id)
    return dict(slug.process_types) if slug else {}


def ensure_types(session: Session, app_id: str, types: Iterable[str]) -> None:
    """After a deploy: a new `web` type starts at one dyno, other new types at zero."""
    existing = set(session.scalars(select(Formation.type).where(Formation.app_id == app_id)))
    for type_ in types:
        if type_ not in existing and type_ != "release":
            session.add(Formation(app_id=app_id, type=type_, quantity=1 if type_ == "web" else 0))


def _quantity(current: int, value: Any) -> int:
    text = str(value).strip()
    try:
        if text.startswith(("+", "-")):
            quantity = current + int(text)
        else:
            quantity = int(text)
    except ValueError:
        raise InvalidParams(f"Invalid quantity {text!r}: must be a whole number.") from None
    if not 0 <= quantity <= MAX_QUANTITY:
        raise InvalidParams(f"Quantity must be between 0 and {MAX_QUANTITY}.")
    return quantity


def scale(store: Store, app_ident: str, updates: Iterable[Mapping[str, Any]]) -> list[Formation]:
    with store.session() as s:
        app = apps.find(s, app_ident)
        known = process_types(s, app.id)
        rows = {f.type: f for f in s.scalars(select(Formation).where(Formation.app_id == app.id))}
        changed = []
        for update in updates:
            type_ = str(update.get("type", ""))
            if type_ not in known or type_ == "release":
                raise NotFound(f"Couldn't find that process type ({type_}).")
            row = rows.get(type_)
            if row is None:
                row = rows[type_] = Formation(app_id=app.id, type=type_, quantity=0)
                s.add(row)
            if update.get("quantity") is not None:
                row.quantity = _quantity(row.quantity, update["quantity"])
            size = update.get("size") or (update.get("dyno_size") or {}).get("name")
            if size:
                row.size = parse_size(size)
            changed.append(row)
        s.flush()
        store.emit(s, "formation.changed", app.id)
        return changed


def get_type(store: Store, app_ident: str, type_: str) -> Formation:
    with store.session() as s:
        app = apps.find(s, app_ident)
        row = s.scalar(select(Formation).where(Formation.app_id == app.id, Formation.type == type_))
    if row is None:
        raise NotFound(f"Couldn't find that process type ({type_}).")
    return row


def request_restart(store: Store, app_ident: str, target: str = "*") -> None:
    """Restart all dynos (``*``), one process type (``web``) or one dyno (``web.1``): bump a
    counter that is part of the dyno revision, so the dyno manager replaces them. A one-off
    dyno named (``run.1234``) is stopped instead: one-off dynos are never restarted."""
    with store.session() as s:
        app = apps.find(s, app_ident)
        if target != "*":
            known = process_types(s, app.id)
            type_ = target.split(".", 1)[0]
            if type_ not in known:
                if s.scalar(select(Dyno.id).where(Dyno.app_id == app.id, Dyno.name == target)):
                    store.emit(s, "dyno.stop", app.id, target=target)  # as ps:stop does
                    return
                raise NotFound(f"Couldn't find that process type or dyno ({target}).")
        restarts = dict(app.restarts)
        restarts[target] = int(restarts.get(target, 0)) + 1
        app.restarts = restarts
        store.emit(s, "app.restart", app.id, target=target)


def request_stop(store: Store, app_ident: str, target: str) -> None:
    """``ps:stop``: the dyno manager stops the matching dynos (and, since the formation
    still wants them, starts new ones); one-off dynos (``run.1234``, or ``run``: all of
    them) are stopped by their owner and not started again."""
    with store.session() as s:
        app = apps.find(s, app_ident)
        one_off = s.scalar(
            select(Dyno.id)
            .where(Dyno.app_id == app.id, or_(Dyno.name == target, Dyno.type == target))
            .limit(1)
        )
        if target.split(".", 1)[0] not in process_types(s, app.id) and one_off is None:
            raise NotFound(f"Couldn't find that process type or dyno ({target}).")
        store.emit(s, "dyno.stop", app.id, target=target)
