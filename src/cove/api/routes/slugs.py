"""``GET /apps/{app}/slugs/{id}``: a slug the app built or was given by a promotion (the
Heroku CLI's ``pipelines:diff`` reads each stage's ``commit`` here)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from sqlalchemy import select

from cove.api import serializers
from cove.api.auth import current_account
from cove.api.routes.common import ctx, load_app
from cove.domain.errors import NotFound
from cove.store import Account, Release, Slug

router = APIRouter()


@router.get("/apps/{ident}/slugs/{slug_id}")
def get_slug(
    request: Request, ident: str, slug_id: str, account: Account = Depends(current_account)
) -> dict[str, Any]:
    app = load_app(request, ident, account)
    with ctx(request).store.session() as s:
        slug = s.get(Slug, slug_id)
        released_here = s.scalar(
            select(Release.id).where(Release.app_id == app.id, Release.slug_id == slug_id).limit(1)
        )
    if slug is None or (slug.app_id != app.id and released_here is None):
        raise NotFound(f"Couldn't find that slug. ({slug_id})")
    return {
        "id": slug.id,
        "blob": None,
        "buildpack_provided_description": slug.buildpack_description or None,
        "checksum": slug.checksum,
        "commit": slug.commit,
        "commit_description": None,
        "process_types": dict(slug.process_types),
        "size": slug.size,
        "stack": {"id": None, "name": slug.stack},
        "created_at": serializers.iso(slug.created_at),
        "updated_at": serializers.iso(slug.updated_at),
    }
