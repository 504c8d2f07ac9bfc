"""Releases: append-only (version, slug, config snapshot, description)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cove.domain.errors import NotFound
from cove.store import App, Release, Store
from cove.store.models import now


def append(
    session: Session,
    app: App,
    *,
    slug_id: str | None,
    description: str,
    user_id: str,
    config: dict[str, str] | None = None,
) -> Release:
    """Create release v(N+1) of ``app`` inside the caller's transaction."""
    latest = session.scalar(select(func.max(Release.version)).where(Release.app_id == app.id))
    release = Release(
        app_id=app.id,
        version=(latest or 0) + 1,
        description=description,
        slug_id=slug_id,
        config=dict(app.config if config is None else config),
        user_id=user_id,
        status="succeeded",
    )
    session.add(release)
    session.flush()
    app.released_at = now()
    Store.emit(session, "release.created", app.id, version=release.version)
    return release


def current(session: Session, app_id: str) -> Release | None:
    return session.scalar(
        select(Release)
        .where(Release.app_id == app_id, Release.status == "succeeded")
        .order_by(Release.version.desc())
        .limit(1)
    )


def current_with_slug(session: Session, app_id: str) -> Release | None:
    release = current(session, app_id)
    return release if release is not None and release.slug_id is not None else None


def list_releases(store: Store, app_id: str) -> list[Release]:
    with store.session() as s:
        return list(
            s.scalars(select(Release).where(Release.app_id == app_id).order_by(Release.version))
        )


def get(store: Store, app_id: str, ident: str) -> Release:
    ident = ident.removeprefix("v")
    with store.session() as s:
        query = select(Release).where(Release.app_id == app_id)
        if ident.isdigit():
            query = query.where(Release.version == int(ident))
        else:
            query = query.where(Release.id == ident)
        release = s.scalar(query)
    if release is None:
        raise NotFound(f"Couldn't find that release. ({ident})")
    return release
