"""Dynos as the API shows them (written by the dyno manager)."""

from __future__ import annotations

from sqlalchemy import select

from cove.services import apps
from cove.store import Dyno, Store


def list_dynos(store: Store, app_ident: str) -> list[Dyno]:
    with store.session() as s:
        app = apps.find(s, app_ident)
        return list(s.scalars(select(Dyno).where(Dyno.app_id == app.id).order_by(Dyno.name)))


def up_web_dynos(store: Store, app_id: str) -> list[Dyno]:
    with store.session() as s:
        return list(
            s.scalars(
                select(Dyno).where(Dyno.app_id == app_id, Dyno.type == "web", Dyno.state == "up")
            )
        )
