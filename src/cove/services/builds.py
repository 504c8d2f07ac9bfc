"""Builds seen after the fact: which went live, which a stopped server interrupted."""

from __future__ import annotations

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


def fail_interrupted(store: Store) -> list[Build]:
    """Mark the builds a previous run of the server left pending as failed (no build runs
    before the builder starts); returns them."""
    with store.session() as s:
        builds = list(s.scalars(select(Build).where(Build.status == "pending")))
        for build in builds:
            build.status = "failed"
            build.failure_message = INTERRUPTED
        return builds
