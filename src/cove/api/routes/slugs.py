"""``GET /apps/{app}/slugs/{id}``: a slug the app built or was given by a promotion (the
Heroku CLI's ``pipelines:diff`` reads each stage's ``commit`` here); and the slug archives
themselves at signed, expiring URLs, for the swarm backend's nodes (cove.swarm.slug_urls)."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse
from sqlalchemy import select

from cove.api import serializers
from cove.api.auth import current_account
from cove.api.routes.common import ctx, load_app
from cove.domain.errors import NotFound
from cove.store import Account, Release, Slug
from cove.swarm import slug_urls

router = APIRouter()
_ARCHIVE = re.compile(r"[0-9a-f]{64}\.(?:tar\.zst|tgz)")


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


@router.get(slug_urls.PATH + "/{name}", include_in_schema=False)
def download_slug(
    request: Request, name: str, expires: str = "", signature: str = ""
) -> FileResponse:
    """A slug archive, for whoever holds its signed URL (no credentials: a swarm node)."""
    context = ctx(request)
    path = context.settings.slugs_dir / name
    if (
        not _ARCHIVE.fullmatch(name)
        or not slug_urls.valid(context.store.keyring, name, expires, signature)
        or not path.is_file()
    ):
        # One answer for a bad signature, an expired URL and a missing slug.
        raise NotFound("Couldn't find that slug, or its URL has expired.")
    return FileResponse(path, media_type="application/zstd")
