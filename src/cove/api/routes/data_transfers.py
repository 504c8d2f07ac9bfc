"""Backups, restores and copies as the Heroku CLI's *transfers* (``pg:backups*``,
``pg:copy``), in the data API (see data_api.py): backed by Cove's Postgres add-on and
its backups. Every transfer is finished when its request is answered."""

from __future__ import annotations

import secrets
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Body, Depends, Request
from fastapi.responses import FileResponse
from starlette.datastructures import State

from cove.api import openapi, params
from cove.api.auth import current_account
from cove.api.routes.common import audit, ctx, load_app
from cove.api.routes.data_api import Database, app_databases, find_database
from cove.api.serializers import iso
from cove.domain.errors import InvalidParams, NotFound
from cove.services import addons
from cove.store import Account, App, Backup

router = APIRouter()


PUBLIC_URL_TTL = 3600  # seconds a backup's public URL works, as Heroku's
PUBLIC_URLS_MAX = 256  # live public URLs kept; the oldest go first
RESTORES_KEPT = 100


def _dump_url(request: Request, app: App, backup_id: str) -> str:
    """Where a backup's file is (with the API's credentials): the transfer's ``to_url``,
    which ``pg:backups:restore`` sends back."""
    return f"{ctx(request).settings.api_url}/client/v11/apps/{app.id}/transfers/{backup_id}/dump"


def _transfer(request: Request, b: Backup, db: Database, verbose: bool = False) -> dict[str, Any]:
    """A backup as Heroku's transfer: ``pg_dump`` to ``gof3r`` (its store), numbered bNNN."""
    succeeded = b.status == "succeeded"
    body: dict[str, Any] = {
        "uuid": b.id,
        "num": b.num,
        "from_name": db.attachment_name,
        "from_type": "pg_dump",
        "to_name": "BACKUP",
        "to_type": "gof3r",
        "to_url": _dump_url(request, db.owner, b.id),
        "options": {},
        "source_bytes": b.size,
        "processed_bytes": b.size,
        "succeeded": succeeded,
        "warnings": 0,
        "schedule": None,
        "created_at": iso(b.created_at),
        "started_at": iso(b.created_at),
        "finished_at": iso(b.updated_at or b.created_at),
        "updated_at": iso(b.updated_at or b.created_at),
        "deleted_at": None,
        "app_name": db.owner.name,
        "from_database": {"name": db.addon.name},
    }
    if verbose:
        body["logs"] = [
            {
                "created_at": iso(b.created_at),
                "message": f"pg_dump of {db.addon.name}: {b.size} bytes ({b.status})",
            }
        ]
    return body


def _restores(state: State) -> list[dict[str, Any]]:
    """Restores and copies done since the server started (newest last, at most
    RESTORES_KEPT): they are transfers too, listed by ``pg:backups`` and polled by
    ``pg:backups:restore`` and ``pg:copy``."""
    if not hasattr(state, "restores"):
        state.restores = []
    restores: list[dict[str, Any]] = state.restores
    return restores


def _app_restores(request: Request, app: App) -> list[dict[str, Any]]:
    return [r for r in _restores(request.app.state) if r["app_uuid"] == app.id]


def _remember(
    request: Request,
    target: Database,
    from_name: str,
    from_type: str,
    size: int,
    started: str | None,
) -> dict[str, Any]:
    """A finished restore (from a backup: ``gof3r``) or copy (``pg_dump``) into ``target``."""
    finished = iso(datetime.now(UTC))
    restores = _restores(request.app.state)
    record = {
        "uuid": str(uuid.uuid4()),
        "num": 1 + max((r["num"] for r in _app_restores(request, target.owner)), default=0),
        "from_name": from_name,
        "from_type": from_type,
        "to_name": target.attachment_name,
        "to_type": "pg_restore",
        "options": {},
        "source_bytes": size,
        "processed_bytes": size,
        "succeeded": True,
        "warnings": 0,
        "schedule": None,
        "created_at": started,
        "started_at": started,
        "finished_at": finished,
        "updated_at": finished,
        "deleted_at": None,
        "app_uuid": target.owner.id,
        "app_name": target.owner.name,
    }
    restores.append(record)
    del restores[:-RESTORES_KEPT]
    return record


def _find_transfer(request: Request, app: App, ident: str) -> tuple[Backup, Database]:
    """A transfer by uuid or number (``b003``'s 3)."""
    for db in app_databases(request, app):
        for b in addons.list_backups(ctx(request).store, db.addon.id):
            if ident in (b.id, str(b.num), f"b{b.num:03d}"):
                return b, db
    raise NotFound(f"Couldn't find that backup on {app.name}. ({ident})")


@router.post("/client/v11/databases/{ident}/backups", status_code=201)
def capture(
    request: Request, ident: str, account: Account = Depends(current_account)
) -> dict[str, Any]:
    """``pg:backups:capture``: a ``pg_dump`` now; the transfer is finished when answered."""
    db = find_database(request, ident, account)
    store = ctx(request).store
    num = addons.next_backup_num(store, db.addon.id)
    size = db.provider.capture(db.addon.resource, num)
    backup = addons.record_backup(store, db.addon.id, num, size)
    audit(request, db.owner, account, f"Backup b{num:03d} of {db.addon.name}")
    return _transfer(request, backup, db)


# -- transfers (backups) ---------------------------------------------------------------------
@router.get("/client/v11/apps/{ident}/transfers")
def list_transfers(
    request: Request, ident: str, account: Account = Depends(current_account)
) -> list[dict[str, Any]]:
    app = load_app(request, ident, account)
    backups = [
        _transfer(request, b, db)
        for db in app_databases(request, app)
        for b in addons.list_backups(ctx(request).store, db.addon.id)
    ]
    return backups + _app_restores(request, app)


@router.get("/client/v11/apps/{ident}/transfers/{transfer}")
def get_transfer(
    request: Request,
    ident: str,
    transfer: str,
    verbose: bool = False,
    account: Account = Depends(current_account),
) -> dict[str, Any]:
    app = load_app(request, ident, account)
    restores = _app_restores(request, app)
    for restore in restores:
        if transfer == restore["uuid"]:
            return restore
    try:  # a number names a backup first (pg:backups:info bNNN), then a restore or copy
        backup, db = _find_transfer(request, app, transfer)
    except NotFound:
        for restore in restores:
            if transfer == str(restore["num"]):
                return restore
        raise
    return _transfer(request, backup, db, verbose)


@router.get("/client/v11/apps/{ident}/transfers/{transfer}/dump", response_class=FileResponse)
def dump_file(
    request: Request, ident: str, transfer: str, account: Account = Depends(current_account)
) -> FileResponse:
    """A backup's file (a transfer's ``to_url``), for the API's credentials."""
    backup, db = _find_transfer(request, load_app(request, ident, account), transfer)
    return _file(db.provider.backup_path(db.addon.resource, backup.num))


def _file(path: Path) -> FileResponse:
    if not path.is_file():
        raise NotFound(f"The file of backup {path.stem} is missing.")
    return FileResponse(path, media_type="application/octet-stream", filename=path.name)


@router.delete("/client/v11/apps/{ident}/transfers/{transfer}")
def delete_transfer(
    request: Request, ident: str, transfer: str, account: Account = Depends(current_account)
) -> dict[str, Any]:
    """``pg:backups:delete``: the record and its file."""
    app = load_app(request, ident, account)
    backup, db = _find_transfer(request, app, transfer)
    body = _transfer(request, backup, db)
    db.provider.backup_path(db.addon.resource, backup.num).unlink(missing_ok=True)
    addons.delete_backup(ctx(request).store, backup.id)
    audit(request, app, account, f"Delete backup b{backup.num:03d} of {db.addon.name}")
    return body


def _public_urls(state: State) -> dict[str, tuple[Path, float]]:
    if not hasattr(state, "backup_urls"):
        state.backup_urls = {}
    urls: dict[str, tuple[Path, float]] = state.backup_urls
    return urls


@router.post("/client/v11/apps/{ident}/transfers/{transfer}/actions/public-url")
def public_url(
    request: Request, ident: str, transfer: str, account: Account = Depends(current_account)
) -> dict[str, Any]:
    """``pg:backups:url`` and ``:download``: a capability URL to the dump, for an hour."""
    app = load_app(request, ident, account)
    backup, db = _find_transfer(request, app, transfer)
    path = db.provider.backup_path(db.addon.resource, backup.num)
    if not path.is_file():
        raise NotFound(f"The file of backup b{backup.num:03d} is missing.")
    urls = _public_urls(request.app.state)
    now = time.monotonic()
    for key, (_, expires) in list(urls.items()):
        if expires <= now or len(urls) >= PUBLIC_URLS_MAX:
            del urls[key]
    token = secrets.token_urlsafe(32)
    urls[token] = (path, now + PUBLIC_URL_TTL)
    expires_at = datetime.now(UTC) + timedelta(seconds=PUBLIC_URL_TTL)
    audit(request, app, account, f"Public URL of backup b{backup.num:03d} of {db.addon.name}")
    return {
        "url": f"{ctx(request).settings.api_url}/client/v11/backup-files/{token}",
        "expires_at": iso(expires_at),
    }


@router.get("/client/v11/backup-files/{token}", response_class=FileResponse)
def download(request: Request, token: str) -> FileResponse:
    """The file behind a public URL: the token is the credential (no Authorization)."""
    found = _public_urls(request.app.state).get(token)
    if found is None or found[1] <= time.monotonic():
        raise NotFound("Unknown or expired backup URL.")
    return _file(found[0])


# -- restores --------------------------------------------------------------------------------
def _backup_for_url(request: Request, url: str, account: Account) -> tuple[Path, str]:
    """The file and name of a backup ``url`` points at: a transfer's ``to_url`` or a public
    URL of this server. Cove fetches nothing from elsewhere."""
    parts = urlsplit(url).path.strip("/").split("/")
    if parts[:3] == ["client", "v11", "apps"] and len(parts) == 7 and parts[6] == "dump":
        backup, db = _find_transfer(request, load_app(request, parts[3], account), parts[5])
        return db.provider.backup_path(db.addon.resource, backup.num), f"b{backup.num:03d}"
    if parts[:3] == ["client", "v11", "backup-files"] and len(parts) == 4:
        found = _public_urls(request.app.state).get(parts[3])
        if found is not None and found[1] > time.monotonic():
            return found[0], found[0].stem
        raise NotFound("Unknown or expired backup URL.")
    raise InvalidParams(
        "Cove restores its own backups only (a backup name such as b001 or app::b001, or "
        "a URL from pg:backups:url). Restore another dump with pg_restore and pg:credentials:url."
    )


@router.post(
    "/client/v11/databases/{ident}/restores",
    status_code=201,
    openapi_extra=openapi.json_body(
        openapi.obj(("backup_url",), backup_url=openapi.STRING),
        {"backup_url": "https://cove.example:5000/client/v11/backup-files/TOKEN"},
    ),
)
def restore(
    request: Request,
    ident: str,
    body: dict[str, Any] = Body(...),
    account: Account = Depends(current_account),
) -> dict[str, Any]:
    """``pg:backups:restore``: the database's contents replaced by the backup's; the
    transfer is finished when answered."""
    db = find_database(request, ident, account)
    path, name = _backup_for_url(request, params.required_text(body, "backup_url"), account)
    if not path.is_file():
        raise NotFound(f"The file of backup {name} is missing.")
    started = iso(datetime.now(UTC))
    db.provider.restore(db.addon.resource, path)
    audit(request, db.owner, account, f"Restore {name} to {db.addon.name}")
    return _remember(request, db, name, "gof3r", path.stat().st_size, started)


# -- copies ----------------------------------------------------------------------------------
def _database_by_url(request: Request, url: str, account: Account) -> Database:
    for view in addons.list_for_owner(ctx(request).store, account.id):
        if view.addon.url == url:
            return find_database(request, view.addon.id, account)
    raise InvalidParams(
        "Cove copies between its own databases only. Copy from elsewhere with pg_dump and "
        "pg_restore, using pg:credentials:url."
    )


@router.post(
    "/client/v11/databases/{ident}/transfers",
    status_code=201,
    openapi_extra=openapi.json_body(
        openapi.obj(
            ("from_url", "to_url"),
            from_url=openapi.STRING,
            to_url=openapi.STRING,
            from_name=openapi.STRING,
            to_name=openapi.STRING,
        ),
        {"from_url": "postgres://...", "to_url": "postgres://...", "from_name": "DATABASE"},
    ),
)
def copy(
    request: Request,
    ident: str,
    body: dict[str, Any] = Body(...),
    account: Account = Depends(current_account),
) -> dict[str, Any]:
    """``pg:copy``: the target's data replaced by the source's; finished when answered."""
    find_database(request, ident, account)
    source = _database_by_url(request, params.required_text(body, "from_url"), account)
    target = _database_by_url(request, params.required_text(body, "to_url"), account)
    if source.addon.id == target.addon.id:
        raise InvalidParams("The source and the target are the same database.")
    started = iso(datetime.now(UTC))
    target.provider.copy(source.addon.resource, target.addon.resource)
    audit(request, target.owner, account, f"Copy {source.addon.name} to {target.addon.name}")
    name = params.text(body, "from_name") or source.attachment_name
    return _remember(request, target, name, "pg_dump", 0, started)
