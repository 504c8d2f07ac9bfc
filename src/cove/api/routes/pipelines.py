"""Pipelines, couplings, promotions and ``POST /filters/apps``, in Heroku's shapes (the
Heroku CLI's pipelines commands read ``pipeline.name`` from a coupling, so it is there)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Request
from sqlalchemy import select

from cove.api import openapi, params, serializers
from cove.api.auth import current_account
from cove.api.routes.common import audit, ctx, load_app, owner_of
from cove.domain.errors import InvalidParams
from cove.services import access, pipelines
from cove.store import Account, App, Pipeline, PipelinePromotion, PromotionTarget, Release

router = APIRouter()
GENERATION = {"id": "00000000-0000-0000-0000-000000000003", "name": "cedar"}


def pipeline_json(p: Pipeline) -> dict[str, Any]:
    return {
        "id": p.id,
        "name": p.name,
        "owner": {"id": p.owner_id, "type": "user"},
        "generation": GENERATION,
        "created_at": serializers.iso(p.created_at),
        "updated_at": serializers.iso(p.updated_at),
    }


def coupling_json(c: pipelines.Coupling) -> dict[str, Any]:
    return {
        "id": c.row.id,
        "app": {"id": c.app.id, "name": c.app.name},
        "pipeline": {"id": c.pipeline.id, "name": c.pipeline.name},
        "stage": c.row.stage,
        "created_at": serializers.iso(c.row.created_at),
        "updated_at": serializers.iso(c.row.updated_at),
    }


def promotion_json(p: PipelinePromotion, targets: list[PromotionTarget]) -> dict[str, Any]:
    done = all(t.status != "pending" for t in targets)
    return {
        "id": p.id,
        "pipeline": {"id": p.pipeline_id},
        "source": {"app": {"id": p.source_app_id}, "release": {"id": p.source_release_id}},
        "status": "completed" if done else "pending",
        "created_at": serializers.iso(p.created_at),
        "updated_at": serializers.iso(max((t.updated_at for t in targets), default=p.updated_at)),
    }


def target_json(t: PromotionTarget) -> dict[str, Any]:
    return {
        "id": t.id,
        "app": {"id": t.app_id},
        "status": t.status,
        "error_message": t.error_message,
        "release": {"id": t.release_id} if t.release_id else None,
        "pipeline_promotion": {"id": t.promotion_id},
    }


def _ident(value: Any, field: str) -> str:
    """An identity given as a string or as ``{"id": ...}`` / ``{"name": ...}``."""
    if isinstance(value, dict):
        value = value.get("id") or value.get("name")
    if not isinstance(value, str) or not value:
        raise InvalidParams(f"{field} is required (a name or an id).")
    return value


# -- pipelines ------------------------------------------------------------------------------


@router.get("/pipelines")
def list_pipelines(
    request: Request, account: Account = Depends(current_account)
) -> list[dict[str, Any]]:
    """``?eq[name]=NAME`` (what the Heroku CLI sends) filters by name."""
    name = request.query_params.get("eq[name]")
    rows = pipelines.list_pipelines(ctx(request).store, account.id, name)
    return [pipeline_json(p) for p in rows]


@router.post(
    "/pipelines",
    status_code=201,
    openapi_extra=openapi.json_body(
        openapi.obj(("name",), name=openapi.STRING), {"name": "example"}
    ),
)
def create_pipeline(
    request: Request, body: dict[str, Any] = Body(...), account: Account = Depends(current_account)
) -> dict[str, Any]:
    owner = params.mapping(body, "owner")
    if owner.get("id") not in (None, account.id, "~") or owner.get("type") not in (None, "user"):
        raise InvalidParams("A pipeline can only be owned by you (owner type user).")
    name = params.required_text(body, "name")
    return pipeline_json(pipelines.create(ctx(request).store, account.id, name))


@router.get("/pipelines/{ident}")
def get_pipeline(
    request: Request, ident: str, account: Account = Depends(current_account)
) -> dict[str, Any]:
    return pipeline_json(pipelines.get(ctx(request).store, ident, account.id))


@router.patch(
    "/pipelines/{ident}",
    openapi_extra=openapi.json_body(
        openapi.obj(("name",), name=openapi.STRING), {"name": "renamed"}
    ),
)
def update_pipeline(
    request: Request,
    ident: str,
    body: dict[str, Any] = Body(...),
    account: Account = Depends(current_account),
) -> dict[str, Any]:
    name = params.required_text(body, "name")
    return pipeline_json(pipelines.rename(ctx(request).store, ident, account.id, name))


@router.delete("/pipelines/{ident}")
def delete_pipeline(
    request: Request, ident: str, account: Account = Depends(current_account)
) -> dict[str, Any]:
    return pipeline_json(pipelines.destroy(ctx(request).store, ident, account.id))


# -- couplings ------------------------------------------------------------------------------


@router.get("/pipelines/{ident}/pipeline-couplings")
def list_pipeline_couplings(
    request: Request, ident: str, account: Account = Depends(current_account)
) -> list[dict[str, Any]]:
    return [coupling_json(c) for c in pipelines.of_pipeline(ctx(request).store, ident, account.id)]


@router.get("/pipeline-couplings")
@router.get("/users/~/pipeline-couplings")
def list_couplings(
    request: Request, account: Account = Depends(current_account)
) -> list[dict[str, Any]]:
    return [coupling_json(c) for c in pipelines.of_owner(ctx(request).store, account.id)]


@router.post(
    "/pipeline-couplings",
    status_code=201,
    openapi_extra=openapi.json_body(
        openapi.obj(
            ("app", "pipeline", "stage"),
            app=openapi.STRING,
            pipeline=openapi.STRING,
            stage=openapi.STRING,
        ),
        {"app": "example-staging", "pipeline": "example", "stage": "staging"},
    ),
)
def create_coupling(
    request: Request, body: dict[str, Any] = Body(...), account: Account = Depends(current_account)
) -> dict[str, Any]:
    app = load_app(request, _ident(body.get("app"), "app"), account)
    pipeline = _ident(body.get("pipeline"), "pipeline")
    stage = params.required_text(body, "stage")
    return coupling_json(pipelines.couple(ctx(request).store, pipeline, account.id, app, stage))


@router.get("/pipeline-couplings/{coupling_id}")
def get_coupling(
    request: Request, coupling_id: str, account: Account = Depends(current_account)
) -> dict[str, Any]:
    return coupling_json(pipelines.get_coupling(ctx(request).store, coupling_id, account.id))


@router.patch(
    "/pipeline-couplings/{coupling_id}",
    openapi_extra=openapi.json_body(
        openapi.obj(("stage",), stage=openapi.STRING), {"stage": "production"}
    ),
)
def update_coupling(
    request: Request,
    coupling_id: str,
    body: dict[str, Any] = Body(...),
    account: Account = Depends(current_account),
) -> dict[str, Any]:
    stage = params.required_text(body, "stage")
    coupling = pipelines.update_stage(ctx(request).store, coupling_id, account.id, stage)
    return coupling_json(coupling)


@router.delete("/pipeline-couplings/{coupling_id}")
def delete_coupling(
    request: Request, coupling_id: str, account: Account = Depends(current_account)
) -> dict[str, Any]:
    return coupling_json(pipelines.uncouple(ctx(request).store, coupling_id, account.id))


@router.get("/apps/{ident}/pipeline-couplings")
def app_coupling(
    request: Request, ident: str, account: Account = Depends(current_account)
) -> dict[str, Any]:
    """One object (or 404 when the app is in no pipeline), as Heroku answers."""
    app = load_app(request, ident, account)
    return coupling_json(pipelines.for_app(ctx(request).store, app))


# -- promotions -----------------------------------------------------------------------------


@router.post(
    "/pipeline-promotions",
    status_code=201,
    openapi_extra=openapi.json_body(
        openapi.obj(
            ("pipeline", "source"),
            pipeline=openapi.obj(("id",), id=openapi.STRING),
            source=openapi.obj(("app",), app=openapi.obj(("id",), id=openapi.STRING)),
            targets=openapi.array(
                openapi.obj(("app",), app=openapi.obj(("id",), id=openapi.STRING))
            ),
        ),
        {
            "pipeline": {"id": "example"},
            "source": {"app": {"id": "example-staging"}},
            "targets": [{"app": {"id": "example"}}],
        },
    ),
)
def create_promotion(
    request: Request, body: dict[str, Any] = Body(...), account: Account = Depends(current_account)
) -> dict[str, Any]:
    """Every target gets a release of the source's current slug now; its status follows
    its release phase (poll ``/pipeline-promotions/{id}/promotion-targets``)."""
    pipeline = _ident(body.get("pipeline"), "pipeline")
    source = load_app(
        request, _ident(params.mapping(body, "source").get("app"), "source.app"), account
    )
    targets = body.get("targets")
    if targets is not None and not isinstance(targets, list):
        raise InvalidParams("targets must be a list of {app: {id}}.")
    target_ids = [
        load_app(
            request,
            _ident((t or {}).get("app") if isinstance(t, dict) else None, "targets[].app"),
            account,
        ).id
        for t in targets or []
    ]
    store = ctx(request).store
    promotion = pipelines.promote(store, pipeline, account.id, source.id, target_ids, account.id)
    rows = pipelines.targets_of(store, promotion.id)
    _audit_releases(request, account, rows)
    return promotion_json(promotion, rows)


def _audit_releases(request: Request, account: Account, rows: list[PromotionTarget]) -> None:
    with ctx(request).store.session() as s:
        made = [(s.get(App, t.app_id), s.get(Release, t.release_id)) for t in rows if t.release_id]
    for app, release in made:
        if app is not None and release is not None:
            audit(request, app, account, release.description)
            audit(request, app, account, f"Release v{release.version} created")


@router.get("/pipeline-promotions/{promotion_id}")
def get_promotion(
    request: Request, promotion_id: str, account: Account = Depends(current_account)
) -> dict[str, Any]:
    store = ctx(request).store
    promotion = pipelines.get_promotion(store, promotion_id, account.id)
    return promotion_json(promotion, pipelines.targets_of(store, promotion.id))


@router.get("/pipeline-promotions/{promotion_id}/promotion-targets")
def list_promotion_targets(
    request: Request, promotion_id: str, account: Account = Depends(current_account)
) -> list[dict[str, Any]]:
    store = ctx(request).store
    promotion = pipelines.get_promotion(store, promotion_id, account.id)
    return [target_json(t) for t in pipelines.targets_of(store, promotion.id)]


# -- filters --------------------------------------------------------------------------------


@router.post(
    "/filters/apps",
    openapi_extra=openapi.json_body(
        openapi.obj(("in",), **{"in": openapi.obj(("id",), id=openapi.array(openapi.STRING))}),
        {"in": {"id": ["01234567-89ab-cdef-0123-456789abcdef"]}},
    ),
)
def filter_apps(
    request: Request, body: dict[str, Any] = Body(...), account: Account = Depends(current_account)
) -> list[dict[str, Any]]:
    """The caller's apps among the ids given (unknown ids are left out, as Heroku does)."""
    ids = params.mapping(body, "in").get("id")
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise InvalidParams("in.id must be a list of app ids.")
    store = ctx(request).store
    with store.session() as s:
        rows = list(s.scalars(select(App).where(App.id.in_(ids)).order_by(App.name)))
    found = []
    for app in rows:
        if access.can_access(store, app, account):
            found.append(serializers.app(app, owner_of(request, app), ctx(request).settings))
    return found
