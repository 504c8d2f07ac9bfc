"""A promotion target waits on its release: ``releases.finish`` settles it in the same
transaction that records the release phase's outcome (kept apart from ``pipelines`` so
``releases`` needn't import it)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from cove.store import PromotionTarget, Release


def settle(session: Session, release: Release, app_name: str) -> None:
    for target in session.scalars(
        select(PromotionTarget).where(
            PromotionTarget.release_id == release.id, PromotionTarget.status == "pending"
        )
    ):
        target.status = release.status
        if release.status == "failed":
            target.error_message = (
                f"The release command of v{release.version} failed: {app_name} keeps "
                "running its current release."
            )
