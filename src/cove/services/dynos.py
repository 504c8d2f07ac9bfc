"""Dynos as the API shows them (written by the dyno manager)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from cove.services import apps, formation
from cove.store import Dyno, Formation, Store


def list_dynos(store: Store, app_ident: str) -> list[Dyno]:
    """The app's dynos, one per name (see ``one_per_name``), by name."""
    with store.session() as s:
        app = apps.find(s, app_ident)
        rows = s.scalars(select(Dyno).where(Dyno.app_id == app.id).order_by(Dyno.name))
        return one_per_name(rows)


def one_per_name(dynos: Iterable[Dyno]) -> list[Dyno]:
    """While a dyno is replaced (a release, a restart, cycling), its successor starts beside
    it under the same name, and the old one stops once the new one is up. Clients act on
    names (``ps:restart web.1``, heroku3's restart of every listed dyno), so a name is
    listed once: the dyno that serves under it (the newest of those up), else the newest.
    The list then agrees with the router: a name shown ``up`` is routed to."""
    chosen: dict[str, Dyno] = {}
    for dyno in dynos:
        best = chosen.get(dyno.name)
        if best is None or _preference(dyno) > _preference(best):
            chosen[dyno.name] = dyno
    return list(chosen.values())


def _preference(dyno: Dyno) -> tuple[bool, datetime]:
    return dyno.state == "up", dyno.created_at


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
