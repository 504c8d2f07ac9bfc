"""Heroku's data API, as the CLI's pg:* commands call it (``HEROKU_DATA_HOST``): database
info, credentials, and backups as *transfers*. Served by the API server itself, so the
data host is the API's host name (the CLI keeps the API's scheme and port for it), and
backed by Cove's Postgres add-on and its backups."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse
from starlette.datastructures import State

from cove.addons import PostgresProvider
from cove.api import openapi
from cove.api.auth import current_account
from cove.api.routes.common import audit, ctx, load_app
from cove.api.serializers import iso
from cove.domain.errors import NotFound
from cove.services import addons
from cove.store import Account, AddOn, App, Backup

router = APIRouter()

PUBLIC_URL_TTL = 3600  # seconds a backup's public URL works, as Heroku's
PUBLIC_URLS_MAX = 256  # live public URLs kept; the oldest go first


@dataclass(frozen=True)
class _Database:
    addon: AddOn
    owner: App
    provider: PostgresProvider
    attachment_name: str  # its name on the owning app (DATABASE), or the add-on's name


def _database(request: Request, ident: str, account: Account) -> _Database:
    """A Postgres add-on of the account's, by id or name (the CLI sends either)."""
    for view in addons.list_for_owner(ctx(request).store, account.id):
        a = view.addon
        if ident not in (a.id, a.name):
            continue
        provider = ctx(request).addons.get(a.service)
        if not isinstance(provider, PostgresProvider):
            break
        with ctx(request).store.session() as s:
            owner = s.get(App, a.app_id)
        assert owner is not None
        names = [x.name for x in view.attachments if x.app_id == owner.id]
        return _Database(a, owner, provider, names[0] if names else a.name)
    raise NotFound(f"Couldn't find that database. ({ident})")


def _app_databases(request: Request, app: App) -> list[_Database]:
    """The Postgres add-ons ``app`` owns (their backups are the app's transfers)."""
    owner = addons.list_for_app(ctx(request).store, app.id)
    found = []
    for view in owner:
        a = view.addon
        provider = ctx(request).addons.get(a.service)
        if a.app_id == app.id and isinstance(provider, PostgresProvider):
            names = [x.name for x in view.attachments if x.app_id == app.id]
            found.append(_Database(a, app, provider, names[0] if names else a.name))
    return found


def _size_text(size: int) -> str:
    value = float(size)
    for unit in ("bytes", "kB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{size} bytes" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def _transfer(b: Backup, db: _Database, verbose: bool = False) -> dict[str, Any]:
    """A backup as Heroku's transfer: ``pg_dump`` to ``gof3r`` (its store), numbered bNNN."""
    succeeded = b.status == "succeeded"
    body: dict[str, Any] = {
        "uuid": b.id,
        "num": b.num,
        "from_name": db.attachment_name,
        "from_type": "pg_dump",
        "to_name": "BACKUP",
        "to_type": "gof3r",
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


def _find_transfer(request: Request, app: App, ident: str) -> tuple[Backup, _Database]:
    """A transfer by uuid or number (``b003``'s 3)."""
    for db in _app_databases(request, app):
        for b in addons.list_backups(ctx(request).store, db.addon.id):
            if ident in (b.id, str(b.num), f"b{b.num:03d}"):
                return b, db
    raise NotFound(f"Couldn't find that backup on {app.name}. ({ident})")


# -- databases -------------------------------------------------------------------------------
@router.get("/client/v11/databases/{ident}")
def database_info(
    request: Request, ident: str, account: Account = Depends(current_account)
) -> dict[str, Any]:
    """``pg:info``: its lines, as the ``info`` list of ``{name, values}``."""
    db = _database(request, ident, account)
    facts = db.provider.info(db.addon.resource)
    a = db.addon

    def line(name: str, *values: Any) -> dict[str, Any]:
        return {"name": name, "values": [str(v) for v in values]}

    return {
        "addon_id": a.id,
        "name": a.name,
        "plan": a.plan,
        "resource_url": a.url,
        "database_name": a.resource.get("database"),
        "created_at": iso(a.created_at),
        "info": [
            line("Plan", a.plan.replace("-", " ").title()),
            line("Status", facts.get("status", "Available")),
            line("Connections", facts.get("connections", 0)),
            line("PG Version", facts.get("version", "")),
            line("Created", iso(a.created_at)),
            line("Data Size", _size_text(int(facts.get("data_size", 0)))),
            line("Tables", facts.get("tables", 0)),
            line("Fork/Follow", "Unsupported"),
            line("Rollback", "Unsupported"),
            line("Continuous Protection", "Off"),
        ],
    }


@router.post("/client/v11/databases/{ident}/backups", status_code=201)
def capture(
    request: Request, ident: str, account: Account = Depends(current_account)
) -> dict[str, Any]:
    """``pg:backups:capture``: a ``pg_dump`` now; the transfer is finished when answered."""
    db = _database(request, ident, account)
    store = ctx(request).store
    num = addons.next_backup_num(store, db.addon.id)
    size = db.provider.capture(db.addon.resource, num)
    backup = addons.record_backup(store, db.addon.id, num, size)
    audit(request, db.owner, account, f"Backup b{num:03d} of {db.addon.name}")
    return _transfer(backup, db)


# -- credentials -----------------------------------------------------------------------------
def _credential(db: _Database, with_password: bool) -> dict[str, Any]:
    r = db.addon.resource
    user: dict[str, Any] = {"user": r.get("role"), "state": "active", "connections": None}
    if with_password:
        user["password"] = r.get("password")
    return {
        "uuid": db.addon.id,
        "name": "default",
        "state": "active",
        "database": r.get("database"),
        "host": r.get("host", "127.0.0.1"),
        "port": r.get("port"),
        "credentials": [user],
    }


@router.get("/postgres/v0/databases/{ident}/credentials")
def list_credentials(
    request: Request, ident: str, account: Account = Depends(current_account)
) -> list[dict[str, Any]]:
    """``pg:credentials``: Cove's databases have one credential, ``default``."""
    return [_credential(_database(request, ident, account), with_password=False)]


@router.get("/postgres/v0/databases/{ident}/credentials/{name}")
def get_credential(
    request: Request, ident: str, name: str, account: Account = Depends(current_account)
) -> dict[str, Any]:
    """``pg:credentials:url``: the credential with its password."""
    db = _database(request, ident, account)
    if name != "default":
        raise NotFound(f"Couldn't find the credential {name!r}: {db.addon.name} has only default.")
    return _credential(db, with_password=True)


# -- transfers (backups) ---------------------------------------------------------------------
@router.get("/client/v11/apps/{ident}/transfers")
def list_transfers(
    request: Request, ident: str, account: Account = Depends(current_account)
) -> list[dict[str, Any]]:
    app = load_app(request, ident, account)
    return [
        _transfer(b, db)
        for db in _app_databases(request, app)
        for b in addons.list_backups(ctx(request).store, db.addon.id)
    ]


@router.get("/client/v11/apps/{ident}/transfers/{transfer}")
def get_transfer(
    request: Request,
    ident: str,
    transfer: str,
    verbose: bool = False,
    account: Account = Depends(current_account),
) -> dict[str, Any]:
    backup, db = _find_transfer(request, load_app(request, ident, account), transfer)
    return _transfer(backup, db, verbose)


@router.delete("/client/v11/apps/{ident}/transfers/{transfer}")
def delete_transfer(
    request: Request, ident: str, transfer: str, account: Account = Depends(current_account)
) -> dict[str, Any]:
    """``pg:backups:delete``: the record and its file."""
    app = load_app(request, ident, account)
    backup, db = _find_transfer(request, app, transfer)
    body = _transfer(backup, db)
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


@router.get(
    "/client/v11/backup-files/{token}",
    response_class=StreamingResponse,
    responses=openapi.streamed("application/octet-stream", description="The pg_dump file"),
)
def download(request: Request, token: str) -> StreamingResponse:
    """The file behind a public URL: the token is the credential (no Authorization)."""
    found = _public_urls(request.app.state).get(token)
    if found is None or found[1] <= time.monotonic() or not found[0].is_file():
        raise NotFound("Unknown or expired backup URL.")
    path = found[0]

    def chunks() -> Iterator[bytes]:
        with path.open("rb") as f:
            while chunk := f.read(1 << 16):
                yield chunk

    return StreamingResponse(
        chunks(),
        media_type="application/octet-stream",
        headers={"Content-Disposition": f'attachment; filename="{path.name}"'},
    )
