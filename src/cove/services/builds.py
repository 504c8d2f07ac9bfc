"""Builds seen after the fact: which went live, which a stopped server interrupted."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import select

from cove.store import Build, Release, Store

INTERRUPTED = "The build was interrupted: cove server stopped while it ran. Push again."


def went_live(store: Store, build_id: str) -> bool:
    """Whether the build succeeded and its release did (what makes a push accepted)."""
    with store.session() as s:
        build = s.get(Build, build_id)
        if build is None or build.status != "succeeded" or build.release_id is None:
            return False
        release = s.get(Release, build.release_id)
        return release is not None and release.status == "succeeded"


def fail_interrupted(store: Store, only: Collection[str] | None = None) -> list[Build]:
    """Mark the builds a previous run of the server left pending as failed (no build runs
    before the builder starts), or of these builds ``only`` (API servers sharing the store
    run builds of their own); returns them."""
    with store.session() as s:
        pending = select(Build).where(Build.status == "pending")
        if only is not None:
            pending = pending.where(Build.id.in_(only))
        builds = list(s.scalars(pending))
        for build in builds:
            build.status = "failed"
            build.failure_message = INTERRUPTED
        return builds
