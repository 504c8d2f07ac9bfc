"""Pipelines: apps grouped by stage, and promotion of one app's release to the next stage.

A promotion gives each target app a new release with the *same slug* as the source's
current release (no build) and the target's *own* config vars (its add-ons' included).
Each target's release phase then runs as for any release (``ReleasePhase``); a target is
``pending`` until its release succeeded or failed (``releases.finish`` settles it:
``promotion_targets.settle``), so one
failing target leaves its running release in place and doesn't stop the others.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cove.domain.errors import InvalidParams, NotFound
from cove.services import formation, releases
from cove.store import (
    App,
    Pipeline,
    PipelineCoupling,
    PipelinePromotion,
    PromotionTarget,
    Release,
    Slug,
    Store,
)

# Heroku's stages (the API's enum), and the order promotion follows.
STAGES = ("test", "review", "development", "staging", "production")
PROMOTION_ORDER = ("development", "staging", "production")
NAME = re.compile(r"[a-z][a-z0-9-]{2,29}")


def validate_name(name: str) -> str:
    if not NAME.fullmatch(name):
        raise InvalidParams(
            f"Pipeline name {name!r} is invalid: it must start with a lowercase letter and "
            "have 3 to 30 lowercase letters, digits and dashes."
        )
    return name


def validate_stage(stage: str) -> str:
    if stage not in STAGES:
        raise InvalidParams(f"Stage {stage!r} is invalid: use one of {', '.join(STAGES)}.")
    return stage


# -- pipelines ------------------------------------------------------------------------------


def _not_found(ident: str) -> NotFound:
    return NotFound(f"Couldn't find that pipeline. ({ident})")


def find(session: Session, ident: str, owner_id: str) -> Pipeline:
    """A pipeline of ``owner_id`` by id or name (another user's reads as missing)."""
    pipeline = session.scalar(
        select(Pipeline).where(
            or_(Pipeline.id == ident, Pipeline.name == ident), Pipeline.owner_id == owner_id
        )
    )
    if pipeline is None:
        raise _not_found(ident)
    return pipeline


def get(store: Store, ident: str, owner_id: str) -> Pipeline:
    with store.session() as s:
        return find(s, ident, owner_id)


def list_pipelines(store: Store, owner_id: str, name: str | None = None) -> list[Pipeline]:
    with store.session() as s:
        query = select(Pipeline).where(Pipeline.owner_id == owner_id)
        if name is not None:
            query = query.where(Pipeline.name == name)
        return list(s.scalars(query.order_by(Pipeline.name)))


def _taken(name: str) -> InvalidParams:
    return InvalidParams(f"Name {name} is already taken by another pipeline.")


def create(store: Store, owner_id: str, name: str) -> Pipeline:
    validate_name(name)
    try:
        with store.session() as s:
            if s.scalar(select(Pipeline.id).where(Pipeline.name == name)):
                raise _taken(name)
            pipeline = Pipeline(name=name, owner_id=owner_id)
            s.add(pipeline)
            s.flush()
            store.emit(s, "pipeline.created", None, pipeline_id=pipeline.id, name=name)
    except IntegrityError:  # the same name, created concurrently
        raise _taken(name) from None
    return pipeline


def rename(store: Store, pipeline_id: str, owner_id: str, name: str) -> Pipeline:
    validate_name(name)
    try:
        with store.session() as s:
            pipeline = find(s, pipeline_id, owner_id)
            if pipeline.name != name and s.scalar(select(Pipeline.id).where(Pipeline.name == name)):
                raise _taken(name)
            pipeline.name = name
            store.emit(s, "pipeline.updated", None, pipeline_id=pipeline.id, name=name)
    except IntegrityError:
        raise _taken(name) from None
    return pipeline


def destroy(store: Store, pipeline_id: str, owner_id: str) -> Pipeline:
    """The pipeline goes with its couplings and promotions; its apps stay."""
    with store.session() as s:
        pipeline = find(s, pipeline_id, owner_id)
        for model in (PipelineCoupling, PipelinePromotion):
            for row in s.scalars(select(model).where(model.pipeline_id == pipeline.id)):
                s.delete(row)
        s.delete(pipeline)
        store.emit(s, "pipeline.destroyed", None, pipeline_id=pipeline.id, name=pipeline.name)
    return pipeline


# -- couplings ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Coupling:
    """A coupling with the names clients print (the app's, the pipeline's)."""

    row: PipelineCoupling
    app: App
    pipeline: Pipeline


def _coupling(s: Session, row: PipelineCoupling) -> Coupling:
    app = s.get(App, row.app_id)
    pipeline = s.get(Pipeline, row.pipeline_id)
    assert app is not None and pipeline is not None
    return Coupling(row, app, pipeline)


def couple(store: Store, pipeline_id: str, owner_id: str, app: App, stage: str) -> Coupling:
    validate_stage(stage)
    try:
        with store.session() as s:
            pipeline = find(s, pipeline_id, owner_id)
            existing = s.scalar(select(PipelineCoupling).where(PipelineCoupling.app_id == app.id))
            if existing is not None:
                raise _already_coupled(app, s.get(Pipeline, existing.pipeline_id))
            row = PipelineCoupling(pipeline_id=pipeline.id, app_id=app.id, stage=stage)
            s.add(row)
            s.flush()
            store.emit(s, "pipeline_coupling.created", app.id, pipeline_id=pipeline.id, stage=stage)
            return _coupling(s, row)
    except IntegrityError:  # coupled concurrently
        with store.session() as s:
            existing = s.scalar(select(PipelineCoupling).where(PipelineCoupling.app_id == app.id))
            other = s.get(Pipeline, existing.pipeline_id) if existing else None
        raise _already_coupled(app, other) from None


def _already_coupled(app: App, pipeline: Pipeline | None) -> InvalidParams:
    where = f"pipeline {pipeline.name}" if pipeline is not None else "a pipeline"
    return InvalidParams(
        f"{app.name} is already in {where}: an app can be in only one pipeline. "
        f"Remove it first (pipelines:remove -a {app.name})."
    )


def for_app(store: Store, app: App) -> Coupling:
    with store.session() as s:
        row = s.scalar(select(PipelineCoupling).where(PipelineCoupling.app_id == app.id))
        if row is None:
            raise NotFound(f"{app.name} is not in a pipeline.")
        return _coupling(s, row)


def of_pipeline(store: Store, pipeline_id: str, owner_id: str) -> list[Coupling]:
    with store.session() as s:
        pipeline = find(s, pipeline_id, owner_id)
        rows = s.scalars(
            select(PipelineCoupling)
            .where(PipelineCoupling.pipeline_id == pipeline.id)
            .order_by(PipelineCoupling.created_at, PipelineCoupling.id)
        )
        return [_coupling(s, row) for row in rows]


def of_owner(store: Store, owner_id: str) -> list[Coupling]:
    with store.session() as s:
        rows = s.scalars(
            select(PipelineCoupling)
            .join(Pipeline, Pipeline.id == PipelineCoupling.pipeline_id)
            .where(Pipeline.owner_id == owner_id)
            .order_by(PipelineCoupling.created_at, PipelineCoupling.id)
        )
        return [_coupling(s, row) for row in rows]


def get_coupling(store: Store, coupling_id: str, owner_id: str) -> Coupling:
    with store.session() as s:
        return _owned_coupling(s, coupling_id, owner_id)


def _owned_coupling(s: Session, coupling_id: str, owner_id: str) -> Coupling:
    row = s.get(PipelineCoupling, coupling_id)
    coupling = _coupling(s, row) if row is not None else None
    if coupling is None or coupling.pipeline.owner_id != owner_id:
        raise NotFound(f"Couldn't find that pipeline coupling. ({coupling_id})")
    return coupling


def update_stage(store: Store, coupling_id: str, owner_id: str, stage: str) -> Coupling:
    validate_stage(stage)
    with store.session() as s:
        coupling = _owned_coupling(s, coupling_id, owner_id)
        coupling.row.stage = stage
        store.emit(s, "pipeline_coupling.updated", coupling.app.id, stage=stage)
        return coupling


def uncouple(store: Store, coupling_id: str, owner_id: str) -> Coupling:
    with store.session() as s:
        coupling = _owned_coupling(s, coupling_id, owner_id)
        s.delete(coupling.row)
        store.emit(
            s, "pipeline_coupling.deleted", coupling.app.id, pipeline_id=coupling.pipeline.id
        )
        return coupling


# -- promotions -----------------------------------------------------------------------------


def downstream(couplings: list[Coupling], stage: str) -> tuple[str, list[Coupling]]:
    """The stage after ``stage`` and the couplings in it (``PROMOTION_ORDER``)."""
    if stage not in PROMOTION_ORDER or stage == PROMOTION_ORDER[-1]:
        raise InvalidParams(f"Cannot promote from the {stage!r} stage.")
    target = PROMOTION_ORDER[PROMOTION_ORDER.index(stage) + 1]
    return target, [c for c in couplings if c.row.stage == target]


def promote(
    store: Store,
    pipeline_id: str,
    owner_id: str,
    source_app_id: str,
    target_app_ids: list[str] | None,
    user_id: str,
) -> PipelinePromotion:
    """Record the promotion and give every target its release (each in its own
    transaction: one that can't be made fails that target only). With no targets given,
    they are the apps of the next stage."""
    couplings = of_pipeline(store, pipeline_id, owner_id)
    by_app = {c.app.id: c for c in couplings}
    by_name = {c.app.name: c for c in couplings}
    source = by_app.get(source_app_id) or by_name.get(source_app_id)
    if source is None:
        raise InvalidParams(f"{_app_name(store, source_app_id)} is not in this pipeline.")
    if target_app_ids:
        targets = []
        for ident in dict.fromkeys(target_app_ids):
            target = by_app.get(ident) or by_name.get(ident)
            if target is None:
                raise InvalidParams(
                    f"Cannot find app {_app_name(store, ident)} in pipeline {source.pipeline.name}."
                )
            if target.app.id == source.app.id:
                raise InvalidParams(f"Cannot promote from an app to itself: {source.app.name}.")
            targets.append(target)
    else:
        stage, targets = downstream(couplings, source.row.stage)
        if not targets:
            raise InvalidParams(
                f"Cannot promote from {source.app.name} as there are no downstream apps in "
                f"{stage} stage."
            )
    with store.session() as s:
        release = releases.current_with_slug(s, source.app.id)
        if release is None:
            raise InvalidParams(
                f"Cannot promote from {source.app.name}: it has no release with a slug yet "
                "(deploy it first)."
            )
        promotion = PipelinePromotion(
            pipeline_id=source.pipeline.id,
            source_app_id=source.app.id,
            source_release_id=release.id,
            user_id=user_id,
        )
        s.add(promotion)
        s.flush()
        rows = [PromotionTarget(promotion_id=promotion.id, app_id=t.app.id) for t in targets]
        s.add_all(rows)
        s.flush()
        target_ids = [row.id for row in rows]
        store.emit(s, "pipeline_promotion.created", source.app.id, promotion_id=promotion.id)
    description = f"Promote {source.app.name} v{release.version}"
    for target_id in target_ids:
        _release_target(store, target_id, release, description, user_id)
    return promotion


def _app_name(store: Store, ident: str) -> str:
    with store.session() as s:
        app = s.scalar(select(App).where(or_(App.id == ident, App.name == ident)))
        return app.name if app is not None else ident


def _release_target(
    store: Store, target_id: str, source: Release, description: str, user_id: str
) -> None:
    try:
        with store.session() as s:
            target = s.get(PromotionTarget, target_id)
            app = s.get(App, target.app_id) if target is not None else None
            slug = s.get(Slug, source.slug_id) if source.slug_id else None
            if target is None or app is None:
                return  # the target app was destroyed meanwhile: its rows went with it
            if slug is None:
                raise RuntimeError("the source release's slug is gone")
            # A target never deployed gets the slug's process types, as a deploy gives them.
            formation.ensure_types(s, app.id, slug.process_types)
            release = releases.append(
                s, app, slug_id=source.slug_id, description=description, user_id=user_id
            )
            target.release_id = release.id
            if release.status != "pending":  # no release phase: live now
                target.status = release.status
    except Exception as exc:  # this target fails, the others go on
        with store.session() as s:
            target = s.get(PromotionTarget, target_id)
            if target is not None:
                target.status = "failed"
                target.error_message = f"Could not create the release: {exc}"


def get_promotion(store: Store, promotion_id: str, owner_id: str) -> PipelinePromotion:
    with store.session() as s:
        promotion = s.get(PipelinePromotion, promotion_id)
        pipeline = s.get(Pipeline, promotion.pipeline_id) if promotion is not None else None
        if promotion is None or pipeline is None or pipeline.owner_id != owner_id:
            raise NotFound(f"Couldn't find that pipeline promotion. ({promotion_id})")
        return promotion


def targets_of(store: Store, promotion_id: str) -> list[PromotionTarget]:
    with store.session() as s:
        return list(
            s.scalars(
                select(PromotionTarget)
                .where(PromotionTarget.promotion_id == promotion_id)
                .order_by(PromotionTarget.created_at, PromotionTarget.id)
            )
        )
