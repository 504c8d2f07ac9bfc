"""What the pages show, read from the store through the services the API uses. Each page
costs a few queries whatever the number of apps (no query per app or per release)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cove.domain.dyno_sizes import SIZES
from cove.services import access, addons, apps, dynos, formation, releases
from cove.settings import Settings
from cove.store import Account, App, Dyno, Formation, Release, Store

ACTIVITY_PAGE = 100  # releases listed on the Activity page, newest first
OVERVIEW_ACTIVITY = 5


def aware(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class ReleaseLine:
    version: int
    description: str
    status: str
    created_at: datetime
    user_email: str
    has_slug: bool
    current: bool = False


@dataclass(frozen=True)
class AppSummary:
    """One row of the apps list."""

    name: str
    owner_email: str
    dynos: Counter[str]  # by state: up, starting, crashed, down
    last_release: ReleaseLine | None
    maintenance: bool

    @property
    def status(self) -> str:
        if self.dynos["crashed"]:
            return "crashed"
        if self.dynos["up"]:
            return "up"
        if self.dynos["starting"]:
            return "starting"
        return "idle"


def account_emails(session: Session, ids: set[str]) -> dict[str, str]:
    if not ids:
        return {}
    rows = session.execute(select(Account.id, Account.email).where(Account.id.in_(ids)))
    return {row.id: row.email for row in rows}


def app_summaries(store: Store, account: Account, search: str = "") -> list[AppSummary]:
    """The apps ``account`` may see (every app for an admin), by name, whose name contains
    ``search``."""
    allowed = access.accessible_app_ids(store, account)
    needle = search.strip().lower()
    with store.session() as s:
        query = select(App).order_by(App.name)
        if allowed is not None:
            query = query.where(App.id.in_(allowed))
        if needle:
            query = query.where(App.name.contains(needle, autoescape=True))
        rows = list(s.scalars(query))
        ids = [a.id for a in rows]
        counts: dict[str, Counter[str]] = {a.id: Counter() for a in rows}
        for app_id, state, n in s.execute(
            select(Dyno.app_id, Dyno.state, func.count())
            .where(Dyno.app_id.in_(ids))
            .group_by(Dyno.app_id, Dyno.state)
        ):
            counts[app_id][state] += n
        latest = (
            select(Release.app_id, func.max(Release.version).label("version"))
            .where(Release.app_id.in_(ids))
            .group_by(Release.app_id)
            .subquery()
        )
        last = {
            r.app_id: r
            for r in s.scalars(
                select(Release).join(
                    latest,
                    (Release.app_id == latest.c.app_id) & (Release.version == latest.c.version),
                )
            )
        }
        emails = account_emails(s, {a.owner_id for a in rows} | {r.user_id for r in last.values()})
    return [
        AppSummary(
            a.name,
            emails.get(a.owner_id, ""),
            counts[a.id],
            _line(last[a.id], emails) if a.id in last else None,
            a.maintenance,
        )
        for a in rows
    ]


def _line(r: Release, emails: dict[str, str], current: int | None = None) -> ReleaseLine:
    return ReleaseLine(
        r.version,
        r.description,
        r.status,
        aware(r.created_at) or datetime.now(UTC),
        emails.get(r.user_id, ""),
        r.slug_id is not None,
        r.version == current,
    )


def release_lines(store: Store, app: App, limit: int) -> tuple[list[ReleaseLine], int | None]:
    """The app's newest ``limit`` releases (newest first) and the current version."""
    with store.session() as s:
        current = releases.current(s, app.id)
        rows = list(
            s.scalars(
                select(Release)
                .where(Release.app_id == app.id)
                .order_by(Release.version.desc())
                .limit(limit)
            )
        )
        emails = account_emails(s, {r.user_id for r in rows})
    version = current.version if current else None
    return [_line(r, emails, version) for r in rows], version


def current_release(store: Store, app: App) -> ReleaseLine | None:
    """The release the app runs (the newest that succeeded), with who made it."""
    with store.session() as s:
        current = releases.current(s, app.id)
        emails = account_emails(s, {current.user_id}) if current else {}
    return _line(current, emails, current.version) if current else None


@dataclass(frozen=True)
class DynoLine:
    name: str
    state: str
    size: str
    command: str
    release_version: int
    since: datetime


def dyno_lines(store: Store, app: App) -> list[DynoLine]:
    return [
        DynoLine(
            d.name,
            d.state,
            d.size,
            d.command,
            d.release_version,
            aware(d.updated_at) or datetime.now(UTC),
        )
        for d in sorted(dynos.list_dynos(store, app.id), key=_dyno_order)
    ]


def _dyno_order(d: Dyno) -> tuple[str, int, str]:
    kind, _, number = d.name.partition(".")
    return kind, int(number) if number.isdigit() else 0, number


@dataclass(frozen=True)
class ProcessLine:
    type: str
    command: str
    quantity: int
    size: str


def process_lines(store: Store, app: App) -> list[ProcessLine]:
    """The formation of the current release's process types (what ``ps:scale`` acts on)."""
    with store.session() as s:
        types = formation.process_types(s, app.id)
        rows = {f.type: f for f in s.scalars(select(Formation).where(Formation.app_id == app.id))}
    lines = []
    for type_, command in sorted(types.items(), key=lambda kv: (kv[0] != "web", kv[0])):
        if type_ == "release":
            continue
        row = rows.get(type_)
        lines.append(
            ProcessLine(
                type_, command, row.quantity if row else 0, row.size if row else "standard-1x"
            )
        )
    return lines


@dataclass(frozen=True)
class AddOnLine:
    name: str
    service: str
    plan: str
    attachments: list[str] = field(default_factory=list)


def addon_lines(store: Store, app: App) -> list[AddOnLine]:
    return [
        AddOnLine(
            v.addon.name,
            v.addon.service,
            v.addon.plan,
            [a.name for a in v.attachments if a.app_id == app.id],
        )
        for v in addons.list_for_app(store, app.id)
    ]


def app_header(store: Store, settings: Settings, app: App) -> dict[str, Any]:
    """What every app page shows at its top."""
    with store.session() as s:
        owner = s.get(Account, app.owner_id)
    return {
        "app": app,
        "owner_email": owner.email if owner else "",
        "web_url": settings.web_url(app.name),
        "git_url": settings.git_url(app.name),
    }


DYNO_SIZES = list(SIZES)


def find_app(store: Store, name: str, account: Account) -> App:
    """The app, if ``account`` may see it; ``NotFound`` otherwise (as the API answers)."""
    return access.check(store, apps.get(store, name), account, name)
