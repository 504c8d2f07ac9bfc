"""``pg:diagnose``'s reports (``PGDIAGNOSE_URL``, which defaults to a Heroku host that
would receive the database's URL and the user's token): Cove answers them itself, with
checks run on the database."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Body, Depends, Request

from cove.api import openapi, params
from cove.api.auth import current_account
from cove.api.routes.common import ctx
from cove.api.routes.data_api import find_database
from cove.api.serializers import iso
from cove.domain.errors import InvalidParams, NotFound
from cove.services import addons
from cove.store import Account

router = APIRouter()
REPORTS_KEPT = 100  # reports since the server started, newest last


def _reports(request: Request) -> list[dict[str, Any]]:
    state = request.app.state
    if not hasattr(state, "diagnose_reports"):
        state.diagnose_reports = []
    reports: list[dict[str, Any]] = state.diagnose_reports
    return reports


@router.post(
    "/reports",
    status_code=201,
    openapi_extra=openapi.json_body(
        openapi.obj(
            ("url",),
            url=openapi.STRING,
            app=openapi.STRING,
            database=openapi.STRING,
            plan=openapi.STRING,
        ),
        {"url": "postgres://...", "app": "my-app", "database": "DATABASE_URL"},
    ),
)
def create_report(
    request: Request, body: dict[str, Any] = Body(...), account: Account = Depends(current_account)
) -> dict[str, Any]:
    url = params.required_text(body, "url")
    found = next(
        (
            v.addon
            for v in addons.list_for_owner(ctx(request).store, account.id)
            if v.addon.url == url
        ),
        None,
    )
    if found is None:
        raise InvalidParams("Cove diagnoses its own databases only.")
    db = find_database(request, found.id, account)
    report = {
        "id": str(uuid.uuid4()),
        "app": params.text(body, "app") or db.owner.name,
        "database": params.text(body, "database") or f"{db.attachment_name}_URL",
        "created_at": iso(datetime.now(UTC)),
        "owner_id": account.id,
        "checks": db.provider.diagnose(db.addon.resource),
    }
    reports = _reports(request)
    reports.append(report)
    del reports[:-REPORTS_KEPT]
    return {k: v for k, v in report.items() if k != "owner_id"}


@router.get("/reports/{report_id}")
def get_report(
    request: Request, report_id: str, account: Account = Depends(current_account)
) -> dict[str, Any]:
    for report in _reports(request):
        if report["id"] == report_id and report["owner_id"] == account.id:
            return {k: v for k, v in report.items() if k != "owner_id"}
    raise NotFound(
        f"Couldn't find that report (they last until the server restarts). ({report_id})"
    )
