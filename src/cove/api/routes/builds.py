"""Sources (upload URLs) and builds (``POST /apps/{app}/builds``), as Heroku's Build API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Body, Depends, Request
from fastapi.responses import StreamingResponse
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from cove.api import openapi, serializers
from cove.api.auth import current_account
from cove.api.routes.common import audit, ctx, load_app
from cove.domain.errors import InvalidParams, NotFound
from cove.services import accounts
from cove.store import Account, Build, Source

router = APIRouter()


@router.post("/sources", status_code=201)
def create_source(request: Request, account: Account = Depends(current_account)) -> dict[str, Any]:
    with ctx(request).store.session() as s:
        source = Source()
        s.add(source)
        s.flush()
        source_id = source.id
    url = f"{ctx(request).settings.api_url}/sources/{source_id}"
    return {"source_blob": {"get_url": url, "put_url": url}}


@router.post("/apps/{ident}/sources", status_code=201)
def create_app_source(
    request: Request, ident: str, account: Account = Depends(current_account)
) -> dict[str, Any]:
    """Heroku's older, per-app form of ``POST /sources``."""
    load_app(request, ident, account)
    return create_source(request, account)


@router.put("/sources/{source_id}", openapi_extra=openapi.binary_body())
async def upload_source(request: Request, source_id: str) -> dict[str, Any]:
    """The put URL is a capability (unguessable id), as Heroku's pre-signed URLs are."""
    store = ctx(request).store
    with store.session() as s:
        source = s.get(Source, source_id)
        if source is None or source.uploaded:
            raise NotFound("Unknown or already used source URL.")
    path = ctx(request).settings.sources_dir / source_id
    # Streamed to disk; the body guard stops it at COVE_SOURCE_MAX_BYTES (413).
    try:
        with path.open("wb") as f:
            async for chunk in request.stream():
                f.write(chunk)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    with store.session() as s:
        row = s.get(Source, source_id)
        assert row is not None
        row.uploaded = True
    return {}


@router.post(
    "/apps/{ident}/builds",
    status_code=201,
    openapi_extra=openapi.json_body(
        openapi.obj(
            ("source_blob",),
            source_blob=openapi.obj(
                ("url",), url=openapi.STRING, version=openapi.nullable(openapi.STRING)
            ),
        ),
        {"source_blob": {"url": "http://127.0.0.1:5055/sources/<id>", "version": "abc123"}},
    ),
)
async def create_build(
    request: Request,
    ident: str,
    body: dict[str, Any] = Body(...),
    account: Account = Depends(current_account),
) -> dict[str, Any]:
    app = await run_in_threadpool(load_app, request, ident, account)
    blob = body.get("source_blob")
    if not isinstance(blob, dict) or not isinstance(blob.get("url"), str):
        raise InvalidParams("source_blob.url is required.")
    version = blob.get("version")
    with ctx(request).store.session() as s:
        build = Build(
            app_id=app.id,
            source_url=blob["url"],
            version=str(version) if version is not None else None,
            user_id=account.id,
        )
        s.add(build)
    audit(request, app, account, "Build started")
    ctx(request).builder.submit(build.id, app.id)
    return serializers.build(build, account, ctx(request).settings)


@router.get("/apps/{ident}/builds")
def list_builds(
    request: Request, ident: str, account: Account = Depends(current_account)
) -> list[dict[str, Any]]:
    """The app's builds, oldest first (``Range`` as every list: ``cove.api.paging``)."""
    app = load_app(request, ident, account)
    store = ctx(request).store
    with store.session() as s:
        rows = list(
            s.scalars(select(Build).where(Build.app_id == app.id).order_by(Build.created_at))
        )
    users: dict[str, Account] = {}
    for user_id in {b.user_id for b in rows}:
        users[user_id] = accounts.get_account(store, user_id)
    return [serializers.build(b, users[b.user_id], ctx(request).settings) for b in rows]


@router.get("/apps/{ident}/builds/{build_id}")
def get_build(
    request: Request, ident: str, build_id: str, account: Account = Depends(current_account)
) -> dict[str, Any]:
    app = load_app(request, ident, account)
    with ctx(request).store.session() as s:
        build = s.get(Build, build_id)
    if build is None or build.app_id != app.id:
        raise NotFound(f"Couldn't find that build. ({build_id})")
    return serializers.build(build, account, ctx(request).settings)


@router.get(
    "/builds/{build_id}/output",
    response_class=StreamingResponse,
    responses=openapi.streamed("text/plain", description="The build's output, live"),
)
async def build_output(request: Request, build_id: str) -> StreamingResponse:
    """Streams the build's output as it happens, until the build ends. The build id is the
    capability, as with Heroku's output_stream_url."""
    builder = ctx(request).builder
    output = builder.outputs.get(build_id)
    path = builder.log_path(build_id)
    if output is None and not path.is_file():
        raise NotFound("Unknown build.")

    async def lines() -> AsyncIterator[bytes]:
        if output is not None:
            async for line in output.follow():
                yield (line + "\n").encode()
        else:
            yield path.read_bytes()

    return StreamingResponse(lines(), media_type="text/plain; charset=utf-8")
