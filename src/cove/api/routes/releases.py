"""Releases: listing, rollback, release from a slug, release-command output."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Body, Depends, Request
from fastapi.responses import StreamingResponse
from sqlalchemy import select

from cove.api import openapi, paging, params, serializers
from cove.api.auth import current_account
from cove.api.routes.common import audit, ctx, load_app
from cove.domain.errors import InvalidParams
from cove.services import accounts, releases
from cove.store import Account, App, Release, Slug, Store

router = APIRouter()


def _json(request: Request, app: App, rows: list[Release]) -> list[dict[str, Any]]:
    store = ctx(request).store
    with store.session() as s:
        current = releases.current(s, app.id)
        # The rows' own slugs: a promoted release names a slug another app built.
        slug_ids = {r.slug_id for r in rows if r.slug_id}
        with_phase = {
            slug.id
            for slug in s.scalars(select(Slug).where(Slug.id.in_(slug_ids)))
            if "release" in slug.process_types
        }
    users: dict[str, Account] = {}
    out = []
    base = ctx(request).settings.api_url
    for r in rows:
        user = users.get(r.user_id) or accounts.get_account(store, r.user_id)
        users[r.user_id] = user
        stream = f"{base}/releases/{r.id}/output" if r.slug_id in with_phase else None
        out.append(serializers.release(r, app, user, current.version if current else None, stream))
    return out


@router.get("/apps/{ident}/releases")
def list_releases(
    request: Request, ident: str, account: Account = Depends(current_account)
) -> list[dict[str, Any]]:
    """Oldest first; ``Range: version ..; max=N, order=desc`` (the Heroku CLI's, which
    reads the newest release as the first element) is applied by ``cove.api.paging``."""
    app = load_app(request, ident, account)
    store = ctx(request).store
    return _json(request, app, ranged_releases(store, app.id, _version_range(request)))


def ranged_releases(store: Store, app_id: str, spec: paging.Range | None) -> list[Release]:
    """The releases a version range can show (all of them without one): only the page asked
    for, plus one to show whether more remain. The paging middleware then cuts and labels
    it exactly as it would the whole list."""
    if spec is None:
        return releases.list_releases(store, app_id)
    bound = (int(spec.start), not spec.after_start) if spec.start is not None else None
    end = (int(spec.end), True) if spec.end is not None else None
    return releases.list_releases(
        store,
        app_id,
        lowest=end if spec.descending else bound,
        highest=bound if spec.descending else end,
        newest_first=spec.descending,
        limit=spec.max + 1,
    )


def _version_range(request: Request) -> paging.Range | None:
    """The request's ``Range`` when it ranges by version with numeric bounds (the CLI's);
    None for no range or any other (the middleware pages, or refuses, the whole list)."""
    header = request.headers.get("range")
    try:
        spec = paging.parse(header) if header is not None else None
    except paging.RangeNotSatisfiable:
        return None
    if spec is None or spec.field != "version":
        return None
    if not all(b is None or b.isdigit() for b in (spec.start, spec.end)):
        return None
    return spec


@router.get("/apps/{ident}/releases/{release}")
def get_release(
    request: Request, ident: str, release: str, account: Account = Depends(current_account)
) -> dict[str, Any]:
    app = load_app(request, ident, account)
    return _json(request, app, [releases.get(ctx(request).store, app.id, release)])[0]


@router.get("/apps/{ident}/releases/{release}/config-vars")
def get_release_config(
    request: Request, ident: str, release: str, account: Account = Depends(current_account)
) -> dict[str, str]:
    """The config vars the release runs with (``heroku releases:info`` prints them)."""
    app = load_app(request, ident, account)
    return dict(releases.get(ctx(request).store, app.id, release).config)


@router.post(
    "/apps/{ident}/releases",
    status_code=201,
    openapi_extra=openapi.json_body(
        openapi.obj(
            release=openapi.one_of(openapi.STRING, openapi.INTEGER),
            slug=openapi.STRING,
            description=openapi.STRING,
        ),
        {"release": "v1"},
    ),
)
def create_release(
    request: Request,
    ident: str,
    body: dict[str, Any] = Body(...),
    account: Account = Depends(current_account),
) -> dict[str, Any]:
    """``{"release": id-or-version}`` rolls back (a new release with that release's slug and
    config vars); ``{"slug": id}`` releases an existing slug of the app."""
    app = load_app(request, ident, account)
    store = ctx(request).store
    if body.get("release") is not None:
        release = releases.rollback(store, app.id, str(body["release"]), account.id)
    elif body.get("slug") is not None:
        slug = params.required_text(body, "slug")
        description = params.text(body, "description") or ""
        release = releases.from_slug(store, app.id, slug, description, account.id)
    else:
        raise InvalidParams("Give either release (to roll back to) or slug (to release).")
    audit(request, app, account, release.description)
    audit(request, app, account, f"Release v{release.version} created")
    return _json(request, app, [release])[0]


@router.get(
    "/releases/{release_id}/output",
    response_class=StreamingResponse,
    responses=openapi.streamed("text/plain", description="The release command's output"),
)
async def release_output(request: Request, release_id: str) -> StreamingResponse:
    """The release command's output, streamed until it ends (the id is the capability)."""

    async def lines() -> AsyncIterator[bytes]:
        async for line in ctx(request).follow_release(release_id):
            yield (line + "\n").encode()

    return StreamingResponse(lines(), media_type="text/plain; charset=utf-8")
