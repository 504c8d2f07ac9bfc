"""Reference lists with Cove's own answers: its one stack, its one region, and features
(Cove has no feature flags, so those lists are empty)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from cove.api import serializers
from cove.api.auth import current_account
from cove.api.routes.common import load_app
from cove.domain.errors import InvalidParams, NotFound
from cove.store import Account

router = APIRouter()


def stack() -> dict[str, Any]:
    """The stack every app builds and runs on (``cove.settings.STACK``)."""
    return {
        **serializers.STACK_REF,
        "state": "public",
        "default": True,
        "created_at": None,
        "updated_at": None,
    }


def region() -> dict[str, Any]:
    """The one region: wherever this server runs."""
    return {
        **serializers.REGION,
        "description": "This Cove server",
        "country": None,
        "locale": None,
        "private_capable": False,
        "provider": {"name": "cove", "region": serializers.REGION["name"]},
        "created_at": None,
        "updated_at": None,
    }


def check_region(value: Any) -> None:
    """A region asked for when an app is created (a name or id, or ``{"name"}``/``{"id"}``)
    must be Cove's own. (A stack is not checked: heroku3 asks for ``cedar`` always.)"""
    if isinstance(value, dict):
        value = value.get("name") or value.get("id")
    if value is None:
        return
    if value not in (serializers.REGION["id"], serializers.REGION["name"]):
        raise InvalidParams(f"Couldn't find that region ({value}): this Cove's only one is local.")


def _one(item: dict[str, Any], ident: str, what: str) -> dict[str, Any]:
    if ident not in (item["id"], item["name"]):
        raise NotFound(f"Couldn't find that {what}. ({ident})")
    return item


@router.get("/stacks")
def list_stacks(_: Account = Depends(current_account)) -> list[dict[str, Any]]:
    return [stack()]


@router.get("/stacks/{ident}")
def get_stack(ident: str, _: Account = Depends(current_account)) -> dict[str, Any]:
    return _one(stack(), ident, "stack")


@router.get("/regions")
def list_regions(_: Account = Depends(current_account)) -> list[dict[str, Any]]:
    return [region()]


@router.get("/regions/{ident}")
def get_region(ident: str, _: Account = Depends(current_account)) -> dict[str, Any]:
    return _one(region(), ident, "region")


@router.get("/account/features")
def list_account_features(_: Account = Depends(current_account)) -> list[dict[str, Any]]:
    return []


@router.get("/account/features/{ident}")
def get_account_feature(ident: str, _: Account = Depends(current_account)) -> dict[str, Any]:
    raise NotFound(f"Couldn't find that feature: Cove has no account features. ({ident})")


@router.get("/apps/{app}/features")
def list_app_features(
    request: Request, app: str, account: Account = Depends(current_account)
) -> list[dict[str, Any]]:
    load_app(request, app, account)
    return []


@router.get("/apps/{app}/features/{ident}")
def get_app_feature(
    request: Request, app: str, ident: str, account: Account = Depends(current_account)
) -> dict[str, Any]:
    load_app(request, app, account)
    raise NotFound(f"Couldn't find that feature: Cove has no app features. ({ident})")
