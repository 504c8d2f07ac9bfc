"""Dynos as the API shows them (written by the dyno manager)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from cove.services import apps, formation
from cove.store import Dyno, Formation, Store


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


@dataclass(frozen=True)
class WebProcess:
    """What the router needs to know about an app's web process."""

    quantity: int  # the formation's web quantity (0 without a web row)
    declared: bool  # the current release's slug has a `web` process type
    dynos: list[Dyno]  # the app's web dynos, in any state


def web_process(store: Store, app_id: str) -> WebProcess:
    with store.session() as s:
        quantity = s.scalar(
            select(Formation.quantity).where(Formation.app_id == app_id, Formation.type == "web")
        )
        declared = "web" in formation.process_types(s, app_id)
        web = list(s.scalars(select(Dyno).where(Dyno.app_id == app_id, Dyno.type == "web")))
    return WebProcess(quantity or 0, declared, web)
