"""The Deploy tab: how to push to the app with git, and the app's pipeline, its stages as
columns, each app with its current release. **Promote** on an app of the development or
staging stage does what ``cove pipelines:promote`` does (``services.pipelines.promote``:
the same slug, no build), and the page then follows each target's status until its
release settles."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from cove.dashboard import views
from cove.dashboard.sessions import Visitor
from cove.dashboard.web import action, audit, dashboard, failure, notice, page, render
from cove.domain.errors import CoveError, NotFound
from cove.services import access, pipelines, releases
from cove.store import App, Pipeline, PipelineCoupling, PromotionTarget, Release, Store

STAGE_COLUMNS = ("review", "development", "staging", "production")
POLL_SECONDS = 2  # how often a promotion's status refreshes itself while pending


@dataclass(frozen=True)
class StageApp:
    name: str
    visible: bool  # the visitor may open it (else its name only)
    release: str  # "v7 Deploy 1234abc", or "" before a first release
    this_app: bool


@dataclass(frozen=True)
class TargetLine:
    app_name: str
    status: str  # pending, succeeded, failed
    release: str
    error: str


def _pipeline(store: Store, app: App, visitor: Visitor) -> dict[str, Any] | None:
    """The app's pipeline by stage (None when it is in none): a few queries in all."""
    with store.session() as s:
        mine = s.scalar(select(PipelineCoupling).where(PipelineCoupling.app_id == app.id))
        if mine is None:
            return None
        pipeline = s.get(Pipeline, mine.pipeline_id)
        assert pipeline is not None
        rows = s.execute(
            select(PipelineCoupling.stage, App)
            .join(App, App.id == PipelineCoupling.app_id)
            .where(PipelineCoupling.pipeline_id == pipeline.id)
            .order_by(App.name)
        ).all()
        stages: dict[str, list[StageApp]] = {stage: [] for stage in pipelines.STAGES}
        for stage, coupled in rows:
            visible = access.may_access(s, coupled, visitor.account)
            current = releases.current(s, coupled.id) if visible else None
            text = f"v{current.version} {current.description}" if current else ""
            stages[stage].append(StageApp(coupled.name, visible, text, coupled.id == app.id))
    columns = [(stage, stages[stage]) for stage in STAGE_COLUMNS]
    if stages["test"]:
        columns.insert(0, ("test", stages["test"]))
    return {
        "name": pipeline.name,
        "owned": pipeline.owner_id == visitor.account.id,
        "columns": columns,
        "next_stage": _next_stages(),
    }


def _next_stages() -> dict[str, str]:
    order = pipelines.PROMOTION_ORDER
    return {stage: order[i + 1] for i, stage in enumerate(order[:-1])}


def _targets(store: Store, promotion_id: str, visitor: Visitor) -> list[TargetLine] | None:
    """A promotion's targets, if the visitor owns its pipeline (who may promote)."""
    try:
        pipelines.get_promotion(store, promotion_id[:36], visitor.account.id)
    except NotFound:
        return None
    rows = pipelines.targets_of(store, promotion_id)
    with store.session() as s:
        names = dict(
            s.execute(select(App.id, App.name).where(App.id.in_({t.app_id for t in rows})))
            .tuples()
            .all()
        )
        ids = [t.release_id for t in rows if t.release_id]
        versions = dict(
            s.execute(select(Release.id, Release.version).where(Release.id.in_(ids))).tuples().all()
        )
    return [_target_line(t, names, versions) for t in rows]


def _target_line(t: PromotionTarget, names: dict[str, str], versions: dict[str, int]) -> TargetLine:
    version = versions.get(t.release_id or "")
    return TargetLine(
        names.get(t.app_id, "(a removed app)"),
        t.status,
        f"v{version}" if version else "",
        t.error_message or "",
    )


def _deploy(request: Request, visitor: Visitor, promotion: str) -> dict[str, Any]:
    dash = dashboard(request)
    app = views.find_app(dash.ctx.store, request.path_params["app"], visitor.account)
    targets = _targets(dash.ctx.store, promotion, visitor) if promotion else None
    return {
        **views.app_header(dash.ctx.store, dash.ctx.settings, app),
        "pipeline": _pipeline(dash.ctx.store, app, visitor),
        "promotion": promotion if targets is not None else "",
        "targets": targets,
        "poll_seconds": POLL_SECONDS,
    }


@page
async def deploy(request: Request, visitor: Visitor) -> Response:
    promotion = request.query_params.get("promotion", "")
    data = await run_in_threadpool(_deploy, request, visitor, promotion)
    return render(request, "deploy.html", visitor, tab="deploy", **data)


@page
async def promotion_fragment(request: Request, visitor: Visitor) -> Response:
    """A promotion's targets alone: htmx fetches it until none is pending."""
    promotion = request.path_params["promotion"]
    data = await run_in_threadpool(_deploy, request, visitor, promotion)
    if data["targets"] is None:
        raise NotFound("Couldn't find that pipeline promotion.")
    response = render(request, "_promotion.html", visitor, **data)
    response.headers["Cache-Control"] = "no-store"
    return response


@action
async def promote(request: Request, visitor: Visitor, form: dict[str, str]) -> Response:
    """Like ``cove pipelines:promote -a SOURCE``: every app of the next stage gets a
    release of the source's current slug."""
    dash = dashboard(request)
    store = dash.ctx.store
    app = await run_in_threadpool(
        views.find_app, store, request.path_params["app"], visitor.account
    )
    back = dash.app_url(app.name, "/deploy")
    source_name = form.get("source", "")[:30]
    try:
        source = await run_in_threadpool(views.find_app, store, source_name, visitor.account)
        coupling = await run_in_threadpool(pipelines.for_app, store, source)
        promotion = await run_in_threadpool(
            pipelines.promote,
            store,
            coupling.pipeline.id,
            visitor.account.id,
            source.id,
            None,
            visitor.account.id,
        )
    except CoveError as exc:
        return await failure(request, visitor, exc, back)
    rows = await run_in_threadpool(pipelines.targets_of, store, promotion.id)
    with store.session() as s:
        made = [(t.app_id, s.get(Release, t.release_id)) for t in rows if t.release_id]
    for app_id, release in made:
        if release is not None:
            audit(request, app_id, visitor, release.description)
            audit(request, app_id, visitor, f"Release v{release.version} created")
    message = f"Promoted {source.name} to {len(rows)} app{'s' if len(rows) != 1 else ''}."
    return await notice(request, visitor, message, f"{back}?promotion={promotion.id}")
