"""An app's builds on the Activity tab, and one build's output (what `git push` streamed
back, as `GET output_stream_url` serves it): kept in COVE_HOME/builds, live while the build
runs (the page then refreshes its output every few seconds)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from cove.dashboard import views
from cove.dashboard.sessions import Visitor
from cove.dashboard.web import dashboard, page, render
from cove.domain.errors import NotFound
from cove.store import Build, Release

BUILDS_SHOWN = 20  # on the Activity tab, newest first
OUTPUT_MAX_BYTES = 1024**2  # of a build's output on its page (the end is kept)
POLL_SECONDS = 2  # how often a running build's page fetches its output again


@dataclass(frozen=True)
class BuildLine:
    id: str
    status: str
    user_email: str
    created_at: datetime
    release_version: int | None
    failure_message: str | None


def build_lines(request: Request, visitor: Visitor, build_id: str | None = None) -> list[BuildLine]:
    """The newest builds of the app named in the path (if the visitor may see it), or
    only the build ``build_id`` of that app."""
    store = dashboard(request).ctx.store
    app = views.find_app(store, request.path_params["app"], visitor.account)
    query = select(Build).where(Build.app_id == app.id)
    if build_id is not None:
        query = query.where(Build.id == build_id)
    with store.session() as s:
        rows = list(s.scalars(query.order_by(Build.created_at.desc()).limit(BUILDS_SHOWN)))
        made = [b.release_id for b in rows if b.release_id]
        found = s.execute(select(Release.id, Release.version).where(Release.id.in_(made)))
        versions = {release_id: version for release_id, version in found}
        emails = views.account_emails(s, {b.user_id for b in rows})
    return [
        BuildLine(
            b.id,
            b.status,
            emails.get(b.user_id, ""),
            views.aware(b.created_at) or datetime.now(UTC),
            versions.get(b.release_id) if b.release_id else None,
            b.failure_message,
        )
        for b in rows
    ]


def _output(request: Request, build_id: str) -> tuple[str, bool]:
    """The build's output (its last ``OUTPUT_MAX_BYTES``) and whether it still runs."""
    builder = dashboard(request).ctx.builder
    live = builder.outputs.get(build_id)
    if live is not None and not live.done:
        text = "\n".join(live.lines)
    else:
        path = builder.log_path(build_id)
        if not path.is_file():
            return "", False
        with path.open("rb") as f:
            size = f.seek(0, 2)
            f.seek(max(0, size - OUTPUT_MAX_BYTES))
            text = f.read().decode("utf-8", errors="replace")
    return text[-OUTPUT_MAX_BYTES:], live is not None and not live.done


def _build(request: Request, visitor: Visitor) -> dict[str, Any]:
    store = dashboard(request).ctx.store
    app = views.find_app(store, request.path_params["app"], visitor.account)
    header = views.app_header(store, dashboard(request).ctx.settings, app)
    build_id = request.path_params["build"]
    found = build_lines(request, visitor, build_id)
    if not found:
        raise NotFound("Couldn't find that build.")
    output, running = _output(request, build_id)
    return {
        **header,
        "build": found[0],
        "output": output,
        "running": running,
        "poll_seconds": POLL_SECONDS,
    }


@page
async def build_page(request: Request, visitor: Visitor) -> Response:
    data = await run_in_threadpool(_build, request, visitor)
    return render(request, "build.html", visitor, tab="activity", **data)


@page
async def build_output_fragment(request: Request, visitor: Visitor) -> Response:
    """The output alone, for a running build's page to fetch again."""
    data = await run_in_threadpool(_build, request, visitor)
    response = render(request, "_build_output.html", visitor, **data)
    response.headers["Cache-Control"] = "no-store"
    return response
