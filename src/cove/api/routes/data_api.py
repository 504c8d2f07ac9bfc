"""Heroku's data API, as the CLI's pg:* commands call it (``HEROKU_DATA_HOST``): database
info, credentials and actions (transfers are in data_transfers.py). Served by the API
server itself, so the data host is the API's host name (the CLI keeps the API's scheme and
port for it), and backed by Cove's Postgres add-on."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Depends, Request

from cove.addons import PostgresProvider
from cove.api.auth import current_account
from cove.api.routes.common import audit, ctx
from cove.api.serializers import iso
from cove.domain.errors import InvalidParams, NotFound
from cove.services import addons
from cove.store import Account, AddOn, App

router = APIRouter()


@dataclass(frozen=True)
class Database:
    addon: AddOn
    owner: App
    provider: PostgresProvider
    attachment_name: str  # its name on the owning app (DATABASE), or the add-on's name


def find_database(request: Request, ident: str, account: Account) -> Database:
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
        return Database(a, owner, provider, names[0] if names else a.name)
    raise NotFound(f"Couldn't find that database. ({ident})")


def app_databases(request: Request, app: App) -> list[Database]:
    """The Postgres add-ons ``app`` owns (their backups are the app's transfers)."""
    owner = addons.list_for_app(ctx(request).store, app.id)
    found = []
    for view in owner:
        a = view.addon
        provider = ctx(request).addons.get(a.service)
        if a.app_id == app.id and isinstance(provider, PostgresProvider):
            names = [x.name for x in view.attachments if x.app_id == app.id]
            found.append(Database(a, app, provider, names[0] if names else a.name))
    return found


def _size_text(size: int) -> str:
    value = float(size)
    for unit in ("bytes", "kB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{size} bytes" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


# -- databases -------------------------------------------------------------------------------
@router.get("/client/v11/databases/{ident}")
def database_info(
    request: Request, ident: str, account: Account = Depends(current_account)
) -> dict[str, Any]:
    """``pg:info``: its lines, as the ``info`` list of ``{name, values}``."""
    db = find_database(request, ident, account)
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


# -- credentials -----------------------------------------------------------------------------
def _credential(db: Database, with_password: bool) -> dict[str, Any]:
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
    return [_credential(find_database(request, ident, account), with_password=False)]


@router.get("/postgres/v0/databases/{ident}/credentials/{name}")
def get_credential(
    request: Request, ident: str, name: str, account: Account = Depends(current_account)
) -> dict[str, Any]:
    """``pg:credentials:url``: the credential with its password."""
    db = find_database(request, ident, account)
    if name != "default":
        raise NotFound(f"Couldn't find the credential {name!r}: {db.addon.name} has only default.")
    return _credential(db, with_password=True)


@router.post("/postgres/v0/databases/{ident}/credentials_rotation")
@router.post("/postgres/v0/databases/{ident}/credentials/{name}/credentials_rotation")
def rotate_credentials(
    request: Request, ident: str, name: str = "default", account: Account = Depends(current_account)
) -> dict[str, Any]:
    """``pg:credentials:rotate``: a new password; every attached app's config var follows
    (a release each, so dynos restart onto it)."""
    db = find_database(request, ident, account)
    if name != "default":
        raise NotFound(f"Couldn't find the credential {name!r}: {db.addon.name} has only default.")
    old = db.addon.resource
    new = db.provider.set_password(old, secrets.token_urlsafe(24))
    try:
        addons.replace_url(
            ctx(request).store,
            db.addon.id,
            new,
            PostgresProvider.url(new),
            "credential rotation",
            account.id,
        )
    except BaseException:
        db.provider.set_password(old, old["password"])  # the store still has the old one
        raise
    db.provider.terminate_connections(new)  # as Heroku's: connections are reset
    audit(request, db.owner, account, f"Rotate the credentials of {db.addon.name}")
    return {"message": f"The password of {db.addon.name} was rotated."}


# -- database actions ------------------------------------------------------------------------
@router.get("/client/v11/databases/{ident}/wait_status")
def wait_status(
    request: Request, ident: str, account: Account = Depends(current_account)
) -> dict[str, Any]:
    """``pg:wait``: Cove's databases are available once created."""
    find_database(request, ident, account)
    return {"waiting?": False, "error?": False, "message": "Available"}


@router.put("/client/v11/databases/{ident}/reset")
def reset(
    request: Request, ident: str, account: Account = Depends(current_account)
) -> dict[str, Any]:
    """``pg:reset``: every object and row deleted (extensions aren't kept)."""
    db = find_database(request, ident, account)
    db.provider.reset(db.addon.resource)
    audit(request, db.owner, account, f"Reset {db.addon.name}")
    return {"message": f"{db.addon.name} was reset."}


@router.post("/client/v11/databases/{ident}/connection_reset")
def connection_reset(
    request: Request, ident: str, account: Account = Depends(current_account)
) -> dict[str, Any]:
    """``pg:killall``: every connection to the database ended."""
    db = find_database(request, ident, account)
    ended = db.provider.terminate_connections(db.addon.resource)
    audit(request, db.owner, account, f"End {ended} connections to {db.addon.name}")
    return {"message": f"{ended} connections ended."}


@router.get("/client/v11/databases/{ident}/transfer-schedules")
def transfer_schedules(
    request: Request, ident: str, account: Account = Depends(current_account)
) -> list[dict[str, Any]]:
    """``pg:backups:schedules``: Cove captures backups when asked only."""
    find_database(request, ident, account)
    return []


@router.post("/client/v11/databases/{ident}/transfer-schedules")
def schedule(
    request: Request, ident: str, account: Account = Depends(current_account)
) -> dict[str, Any]:
    find_database(request, ident, account)
    raise InvalidParams(
        "Cove doesn't schedule backups: capture them with pg:backups:capture (from cron, "
        "for example)."
    )


@router.get("/client/v11/databases/{ident}/links")
def links(
    request: Request, ident: str, account: Account = Depends(current_account)
) -> list[dict[str, Any]]:
    """``pg:links``: Cove's databases have no links (foreign data wrappers between them)."""
    find_database(request, ident, account)
    return []


@router.post("/client/v11/databases/{ident}/links")
def create_link(
    request: Request, ident: str, account: Account = Depends(current_account)
) -> dict[str, Any]:
    db = find_database(request, ident, account)
    raise InvalidParams(f"Cove doesn't link databases ({db.addon.name}).")


@router.post("/client/v11/databases/{ident}/upgrade/{action}")
def upgrade(
    request: Request, ident: str, action: str, account: Account = Depends(current_account)
) -> dict[str, Any]:
    """``pg:upgrade:*``: every database runs the one PostgreSQL server of this Cove."""
    db = find_database(request, ident, account)
    version = db.provider.info(db.addon.resource).get("version", "")
    raise InvalidParams(
        f"{db.addon.name} runs this Cove's PostgreSQL server ({version}); there is no other "
        "version to upgrade to. Move data between servers with pg:backups."
    )
