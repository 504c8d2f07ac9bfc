"""Releases: append-only (version, slug, config snapshot, description)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session, defer

from cove.domain.errors import InvalidParams, NotFound
from cove.services import promotion_targets
from cove.store import App, Release, Slug, Store
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
    """Create release v(N+1) of ``app`` inside the caller's transaction.

    A release whose slug declares a ``release`` process type starts ``pending``: the
    release phase runs it, and only a ``succeeded`` release ever becomes current.
    """
    # Versions are numbered under the app's row lock: two releases of one app made at
    # once (by two server processes on PostgreSQL) never both take v(N+1).
    session.execute(select(App.id).where(App.id == app.id).with_for_update())
    latest = session.scalar(select(func.max(Release.version)).where(Release.app_id == app.id))
    slug = session.get(Slug, slug_id) if slug_id else None
    phase = slug is not None and "release" in slug.process_types
    release = Release(
        app_id=app.id,
        version=(latest or 0) + 1,
        description=description,
        slug_id=slug_id,
        config=dict(app.config if config is None else config),
        user_id=user_id,
        status="pending" if phase else "succeeded",
    )
    session.add(release)
    session.flush()
    if not phase:
        app.released_at = now()
    Store.emit(
        session,
        "release.created",
        app.id,
        version=release.version,
        release_id=release.id,
        pending=phase,
    )
    return release


def finish(store: Store, release_id: str, succeeded: bool) -> Release:
    """Record the release phase's outcome; a success makes the release current."""
    with store.session() as s:
        release = s.get(Release, release_id)
        if release is None:
            raise NotFound(f"Couldn't find that release. ({release_id})")
        release.status = "succeeded" if succeeded else "failed"
        app = s.get(App, release.app_id)
        if succeeded and app is not None:
            app.released_at = now()
        promotion_targets.settle(s, release, app.name if app is not None else release.app_id)
        store.emit(
            s, "release.updated", release.app_id, version=release.version, status=release.status
        )
        return release


def rollback(store: Store, app_id: str, target_ident: str, user_id: str) -> Release:
    """A new release with the slug and config vars of an earlier one (add-ons untouched)."""
    target = get(store, app_id, target_ident)
    if target.slug_id is None or target.status != "succeeded":
        raise InvalidParams(
            f"v{target.version} cannot be rolled back to: it has no slug or did not succeed."
        )
    with store.session() as s:
        app = s.get(App, app_id)
        assert app is not None
        app.config = dict(target.config)
        return append(
            s,
            app,
            slug_id=target.slug_id,
            description=f"Rollback to v{target.version}",
            user_id=user_id,
            config=dict(target.config),
        )


def from_slug(store: Store, app_id: str, slug_id: str, description: str, user_id: str) -> Release:
    """``POST /apps/{app}/releases {"slug": id}``: release an existing slug of the app."""
    with store.session() as s:
        slug = s.get(Slug, slug_id)
        app = s.get(App, app_id)
        if slug is None or app is None or slug.app_id != app_id:
            raise NotFound(f"Couldn't find that slug. ({slug_id})")
        return append(s, app, slug_id=slug_id, description=description or "Deploy", user_id=user_id)


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


def list_releases(
    store: Store,
    app_id: str,
    *,
    lowest: tuple[int, bool] | None = None,
    highest: tuple[int, bool] | None = None,
    newest_first: bool = False,
    limit: int | None = None,
) -> list[Release]:
    """The app's releases, oldest first unless ``newest_first``, without their config (not
    loaded: decrypting every release's config vars was most of the cost of listing a long
    history). ``lowest``/``highest``: (version, inclusive) bounds; ``limit``: at most that
    many, so a page of a long history reads only that page."""
    query = select(Release).where(Release.app_id == app_id)
    if lowest is not None:
        version, inclusive = lowest
        query = query.where(Release.version >= version if inclusive else Release.version > version)
    if highest is not None:
        version, inclusive = highest
        query = query.where(Release.version <= version if inclusive else Release.version < version)
    order = Release.version.desc() if newest_first else Release.version
    query = query.order_by(order).options(defer(Release.config, raiseload=True)).limit(limit)
    with store.session() as s:
        return list(s.scalars(query))


def current_slug_sizes(session: Session) -> dict[str, int]:
    """Each app's current release's slug size, by app id, in one query (for the app list;
    apps whose current release has no slug are missing)."""
    latest = (
        select(Release.app_id, func.max(Release.version).label("version"))
        .where(Release.status == "succeeded")
        .group_by(Release.app_id)
        .subquery()
    )
    rows = session.execute(
        select(Release.app_id, Slug.size)
        .join(latest, (Release.app_id == latest.c.app_id) & (Release.version == latest.c.version))
        .join(Slug, Slug.id == Release.slug_id)
    )
    return {app_id: size for app_id, size in rows}


def get(store: Store, app_id: str, ident: str) -> Release:
    ident = ident.removeprefix("v")
    with store.session() as s:
        query = select(Release).where(Release.app_id == app_id)
        # ASCII digits only ("²".isdigit() too), and no number past SQLite's 64-bit
        # integers: such a version doesn't exist, and binding it would overflow.
        if ident.isascii() and ident.isdigit() and len(ident) < 19:
            query = query.where(Release.version == int(ident))
        else:
            query = query.where(Release.id == ident)
        release = s.scalar(query)
    if release is None:
        raise NotFound(f"Couldn't find that release. ({ident})")
    return release
