"""Platform API v3 shapes (see docs/api.md) from store rows."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from cove.addons import catalog
from cove.domain.dyno_sizes import dyno_size
from cove.settings import STACK, Settings
from cove.store import (
    Account,
    AddOn,
    App,
    Attachment,
    Backup,
    Build,
    Dyno,
    Formation,
    LogDrain,
    Release,
)

REGION = {"id": "00000000-0000-0000-0000-000000000001", "name": "local"}
STACK_REF = {"id": "00000000-0000-0000-0000-000000000002", "name": STACK}


def iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    if moment.tzinfo is None:  # SQLite returns naive datetimes; they are UTC
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def account(a: Account) -> dict[str, Any]:
    return {
        "id": a.id,
        "email": a.email,
        "name": a.name,
        "allow_tracking": False,
        "beta": False,
        "verified": True,
        "two_factor_authentication": False,
        "federated": False,
        "default_organization": None,
        "default_team": None,
        "created_at": iso(a.created_at),
        "updated_at": iso(a.updated_at),
        "last_login": None,
    }


def app(a: App, owner: Account, settings: Settings, slug_size: int | None = None) -> dict[str, Any]:
    return {
        "id": a.id,
        "name": a.name,
        "owner": {"id": owner.id, "email": owner.email},
        "region": REGION,
        "stack": STACK_REF,
        "build_stack": STACK_REF,
        "generation": {"id": "00000000-0000-0000-0000-000000000003", "name": "cedar"},
        "git_url": settings.git_url(a.name),
        "web_url": settings.web_url(a.name),
        "maintenance": a.maintenance,
        "acm": a.acm,
        "repo_size": None,
        "slug_size": slug_size,
        "buildpack_provided_description": None,
        "create_status": "complete",
        "locked": False,
        "internal_routing": False,
        "space": None,
        "team": None,
        "organization": None,
        "archived_at": None,
        "released_at": iso(a.released_at),
        "created_at": iso(a.created_at),
        "updated_at": iso(a.updated_at),
    }


def release(
    r: Release,
    a: App,
    user: Account,
    current_version: int | None,
    output_stream_url: str | None = None,
) -> dict[str, Any]:
    return {
        "id": r.id,
        "version": r.version,
        "description": r.description,
        "status": r.status,
        "current": r.version == current_version,
        "eligible_for_rollback": r.slug_id is not None and r.status == "succeeded",
        "output_stream_url": output_stream_url,
        "slug": {"id": r.slug_id} if r.slug_id else None,
        "user": {"id": user.id, "email": user.email},
        "app": {"id": a.id, "name": a.name},
        "addon_plan_names": [],
        "artifacts": [{"type": "slug", "id": r.slug_id}] if r.slug_id else [],
        "created_at": iso(r.created_at),
        "updated_at": iso(r.updated_at),
    }


def formation(f: Formation, a: App, command: str) -> dict[str, Any]:
    size = f.size.title().replace("-1X", "-1X").replace("-2X", "-2X")
    return {
        "id": f.id,
        "type": f.type,
        "quantity": f.quantity,
        "size": size,
        "dyno_size": {"id": None, "name": size},
        "command": command,
        "app": {"id": a.id, "name": a.name},
        "created_at": iso(f.created_at),
        "updated_at": iso(f.updated_at),
    }


def dyno(d: Dyno, a: App, release_id: str | None, memory: int | None = None) -> dict[str, Any]:
    return {
        "id": d.id,
        "name": d.name,
        "type": d.type,
        "command": d.command,
        "size": d.size.title(),
        "state": d.state,
        "attach_url": None,
        # Cove's addition: memory in use now and the size's quota, in bytes.
        "memory_usage": memory,
        "memory_quota": dyno_size(d.size).memory_bytes,
        "release": {"id": release_id, "version": d.release_version},
        "app": {"id": a.id, "name": a.name},
        "created_at": iso(d.created_at),
        "updated_at": iso(d.updated_at),
    }


def build(b: Build, user: Account, settings: Settings) -> dict[str, Any]:
    return {
        "id": b.id,
        "app": {"id": b.app_id},
        "status": b.status,
        "source_blob": {"url": b.source_url, "version": b.version, "checksum": None},
        "buildpacks": None,
        "output_stream_url": f"{settings.api_url}/builds/{b.id}/output",
        "release": {"id": b.release_id} if b.release_id else None,
        "slug": {"id": b.slug_id} if b.slug_id else None,
        "stack": STACK,
        "user": {"id": user.id, "email": user.email},
        "failure_message": b.failure_message,
        "created_at": iso(b.created_at),
        "updated_at": iso(b.updated_at),
    }


# Cove's add-ons cost nothing: a free monthly price, in Heroku's shapes.
PRICE = {"cents": 0, "unit": "month", "contract": False, "metered": False}
BILLED_PRICE = {"cents": 0, "contract": False, "unit": "month"}


def addon_plan(service: str, plan: str) -> dict[str, Any]:
    return {"id": catalog.plan_id(service, plan), "name": f"{service}:{plan}", "price": PRICE}


def addon(a: AddOn, owner: App, attachments: list[Attachment]) -> dict[str, Any]:
    return {
        "id": a.id,
        "name": a.name,
        "app": {"id": owner.id, "name": owner.name},
        "addon_service": {"id": catalog.service_id(a.service), "name": a.service},
        "plan": addon_plan(a.service, a.plan),
        "state": a.state,
        "config_vars": [f"{x.name}_URL" for x in attachments if x.app_id == owner.id],
        "provision_message": None,
        "billed_price": BILLED_PRICE,
        "billing_entity": {"id": owner.id, "name": owner.name, "type": "app"},
        "provider_id": a.id,
        "actions": [],
        "web_url": None,
        "created_at": iso(a.created_at),
        "updated_at": iso(a.updated_at),
    }


def attachment(x: Attachment, a: AddOn, owner: App, app: App) -> dict[str, Any]:
    return {
        "id": x.id,
        "name": x.name,
        # The plan and config_vars are what `Accept-Inclusion: addon:plan,config_vars` asks
        # for (the CLI's pg:* find their database by them); always sent, they cost nothing.
        "addon": {
            "id": a.id,
            "name": a.name,
            "app": {"id": owner.id, "name": owner.name},
            "plan": addon_plan(a.service, a.plan),
        },
        "addon_service": {"id": catalog.service_id(a.service), "name": a.service},
        "app": {"id": app.id, "name": app.name},
        "config_vars": [f"{x.name}_URL"],
        "namespace": None,
        "web_url": None,
        "log_input_url": None,
        "created_at": iso(x.created_at),
        "updated_at": iso(x.updated_at),
    }


def backup(b: Backup, a: AddOn) -> dict[str, Any]:
    return {
        "id": b.id,
        "num": b.num,
        "name": f"b{b.num:03d}",
        "addon": {"id": a.id, "name": a.name},
        "size": b.size,
        "status": b.status,
        "created_at": iso(b.created_at),
    }


def log_drain(d: LogDrain, a: App) -> dict[str, Any]:
    return {
        "id": d.id,
        "url": d.url,
        "token": d.token,
        "addon": None,
        "app": {"id": a.id, "name": a.name},
        "created_at": iso(d.created_at),
        "updated_at": iso(d.updated_at),
    }
