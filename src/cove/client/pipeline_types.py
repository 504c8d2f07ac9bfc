"""JSON shapes of the pipelines API (typing aids only, as ``cove.client.types``)."""

from __future__ import annotations

from typing import Any, TypedDict

from cove.client.types import IdName, IdRef


class Pipeline(TypedDict):
    id: str
    name: str
    owner: dict[str, Any] | None
    generation: IdName
    created_at: str
    updated_at: str


class PipelineCoupling(TypedDict):
    id: str
    app: IdName
    pipeline: IdName
    stage: str
    created_at: str
    updated_at: str


class PromotionSource(TypedDict):
    app: IdRef
    release: IdRef


class PipelinePromotion(TypedDict):
    id: str
    pipeline: IdRef
    source: PromotionSource
    status: str  # pending | completed
    created_at: str
    updated_at: str


class PromotionTarget(TypedDict):
    id: str
    app: IdRef
    status: str  # pending | succeeded | failed
    error_message: str | None
    release: IdRef | None
    pipeline_promotion: IdRef


class Slug(TypedDict):
    id: str
    checksum: str
    commit: str | None
    process_types: dict[str, str]
    size: int
    stack: dict[str, Any]
    created_at: str
    updated_at: str
