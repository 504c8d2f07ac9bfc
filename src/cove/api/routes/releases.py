"""Releases (read side; rollback arrives with the release-management issue)."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from cove.api import serializers
from cove.api.auth import current_account
from cove.api.routes.common import ctx, load_app
from cove.services import accounts, releases
from cove.store import Account, App, Release

router = APIRouter()
_MAX = re.compile(r"max=(\d+)")


def _json(request: Request, app: App, rows: list[Release]) -> list[dict[str, Any]]:
    store = ctx(request).store
    with store.session() as s:
        current = releases.current(s, app.id)
    users: dict[str, Account] = {}
    out = []
    for r in rows:
        user = users.get(r.user_id) or accounts.get_account(store, r.user_id)
        users[r.user_id] = user
        out.append(serializers.release(r, app, user, current.version if current else None))
    return out


@router.get("/apps/{ident}/releases")
def list_releases(
    request: Request, response: Response, ident: str, account: Account = Depends(current_account)
) -> list[dict[str, Any]]:
    """Honours ``Range: version ..; max=N, order=desc``: the Heroku CLI reads the newest
    release as the first element."""
    app = load_app(request, ident, account)
    rows = releases.list_releases(ctx(request).store, app.id)
    spec = request.headers.get("range", "")
    if "order=desc" in spec:
        rows.reverse()
    limit = _MAX.search(spec)
    if limit:
        rows = rows[: int(limit.group(1))]
    response.headers["Accept-Ranges"] = "id, version"
    return _json(request, app, rows)


@router.get("/apps/{ident}/releases/{release}")
def get_release(
    request: Request, ident: str, release: str, account: Account = Depends(current_account)
) -> dict[str, Any]:
    app = load_app(request, ident, account)
    return _json(request, app, [releases.get(ctx(request).store, app.id, release)])[0]
