"""`cove pg:info`, `pg:psql`, `pg:credentials`, `pg:reset`, `pg:backups*` and `pg:copy`.

DATABASE is a config var of the app (`DATABASE_URL`, `HEROKU_POSTGRESQL_RED_URL`), an
attachment name (`DATABASE`) or an add-on name; it defaults to `DATABASE_URL`.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import click

from cove.cli.addons import (
    confirm_app,
    info_addon_name,
    info_vars,
    require_service,
    ruled_table,
    service_name,
    short_plan,
    split_userinfo,
    var_label,
)
from cove.cli.context import CliState, app_options, pass_state
from cove.cli.output import (
    CliError,
    action,
    align_object,
    app_label,
    echo,
    format_size,
    header,
    parse_time,
)
from cove.client import CoveClient
from cove.client.types import AddOn, Backup, Credentials

DEFAULT_DATABASE = "DATABASE_URL"
SERVICE = "heroku-postgresql"
DEFAULT_DUMP = "latest.dump"
PSQL_MISSING = (
    "psql, the PostgreSQL client, is not installed (or not on PATH).\n"
    "Install it (e.g. apt install postgresql-client) and try again."
)
# `b001` (a capture), or a backup's id.
BACKUP_REF = re.compile(
    r"^(?:[a-z]\d+|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$"
)


def postgres_addon(client: CoveClient, app: str, database: str) -> AddOn:
    addon = client.get_addon(app, database)
    require_service(database, service_name(addon), SERVICE)
    return addon


# -- pg:info --------------------------------------------------------------------------------


@click.command("pg:info")
@click.argument("database", required=False, default=DEFAULT_DATABASE, metavar="[DATABASE]")
@app_options
@pass_state
def pg_info(state: CliState, app: str, database: str) -> None:
    """Show a database's plan, status, size and version."""
    info = state.client().addon_info(app, database)
    require_service(database, info.get("service") or "", SERVICE)
    pairs = [("Plan", short_plan(info.get("plan") or "")), ("Status", info.get("status") or "")]
    if info.get("connections") is not None:
        pairs.append(("Connections", str(info.get("connections"))))
    pairs.append(("Data Size", format_size(info.get("data_size"))))
    if info.get("tables") is not None:
        pairs.append(("Tables", str(info.get("tables"))))
    pairs.append(("PG Version", info.get("version") or ""))
    pairs.append(("Add-on", info_addon_name(info)))
    header(info_vars(info, database))
    for line in align_object(pairs):
        echo(line)


# -- pg:psql --------------------------------------------------------------------------------


def psql_invocation(
    psql: str,
    app: str,
    database: str,
    credentials: Credentials,
    *,
    command: str | None = None,
    file: str | None = None,
) -> tuple[list[str], dict[str, str]]:
    """The argv and environment for `psql`: the URL without its password (which goes in
    `PGPASSWORD`, keeping it out of `ps`), plus Heroku's `app::DATABASE=>` prompt."""
    url, user, password = split_userinfo(credentials["url"])
    env = dict(os.environ)
    env["PGAPPNAME"] = "cove pg:psql"
    if user:
        env["PGUSER"] = user
    password = password if password is not None else credentials.get("password")
    if password:
        env["PGPASSWORD"] = password
    argv = [psql]
    if command is not None:
        argv += ["-c", command]
    elif file is not None:
        argv += ["-f", file]
    else:
        prompt = f"{app}::{var_label(database)}"
        argv += ["--set", f"PROMPT1={prompt}%R%# ", "--set", f"PROMPT2={prompt}%R%# "]
    argv.append(url)
    return argv, env


@click.command("pg:psql")
@click.argument("database", required=False, default=DEFAULT_DATABASE, metavar="[DATABASE]")
@app_options
@click.option("-c", "--command", help="SQL command to run (instead of an interactive session)")
@click.option(
    "-f",
    "--file",
    type=click.Path(exists=True, dir_okay=False),
    help="SQL file to run (instead of an interactive session)",
)
@pass_state
def pg_psql(
    state: CliState, app: str, database: str, command: str | None, file: str | None
) -> None:
    """Open a psql shell to the database, or run one command (-c) or file (-f)."""
    psql = shutil.which("psql")
    if psql is None:
        raise CliError(PSQL_MISSING)
    client = state.client()
    addon = postgres_addon(client, app, database)
    credentials = client.addon_credentials(app, database)
    argv, env = psql_invocation(psql, app, database, credentials, command=command, file=file)
    if command is not None or file is not None:
        code = subprocess.run(argv, env=env, check=False).returncode
        if code:
            click.get_current_context().exit(code)
        return
    echo(f"--> Connecting to {addon['name']}")
    sys.stdout.flush()
    state.close()
    os.execvpe(psql, argv, env)


# -- pg:credentials -------------------------------------------------------------------------


@click.command("pg:credentials")
@click.argument("database", required=False, default=DEFAULT_DATABASE, metavar="[DATABASE]")
@app_options
@pass_state
def pg_credentials(state: CliState, app: str, database: str) -> None:
    """Show the database's connection information and URL."""
    credentials = state.client().addon_credentials(app, database)
    parts = [
        ("dbname", credentials.get("database")),
        ("host", credentials.get("host")),
        ("port", credentials.get("port")),
        ("user", credentials.get("user")),
        ("password", credentials.get("password")),
    ]
    info = " ".join(f"{key}={value}" for key, value in parts if value not in (None, ""))
    echo("Connection information for default credential.")
    echo("Connection info string:")
    echo(f'   "{info}"')
    echo("Connection URL:")
    echo(f"   {credentials['url']}")


# -- pg:reset -------------------------------------------------------------------------------


@click.command("pg:reset")
@click.argument("database", required=False, default=DEFAULT_DATABASE, metavar="[DATABASE]")
@app_options
@click.option("-c", "--confirm", metavar="APP", help="the app name, to confirm the reset")
@pass_state
def pg_reset(state: CliState, app: str, database: str, confirm: str | None) -> None:
    """Delete all data in the database."""
    confirm_app(app, confirm, f"{var_label(database)} on {app_label(app)} will lose all its data.")
    client = state.client()
    addon = postgres_addon(client, app, database)
    with action(f"Resetting {addon['name']} on {app_label(app)}"):
        client.reset_addon(app, database)


# -- pg:backups -----------------------------------------------------------------------------


def utc_time(value: str) -> str:
    """`2026-11-21 10:00:00 +0000`, as the Heroku CLI shows backup times."""
    try:
        moment = parse_time(value)
    except ValueError:
        return value
    return moment.strftime("%Y-%m-%d %H:%M:%S %z")


def backup_status(backup: Backup) -> str:
    status = backup.get("status") or ""
    when = utc_time(backup["created_at"]) if backup.get("created_at") else ""
    if status == "succeeded":
        return f"Completed {when}".rstrip()
    if status == "failed":
        return f"Failed {when}".rstrip()
    return status.capitalize()


def backup_lines(backups: list[tuple[str, Backup]]) -> list[str]:
    """The `pg:backups` table: `(database label, backup)` pairs, newest first."""
    ordered = sorted(backups, key=lambda pair: pair[1].get("created_at") or "", reverse=True)
    rows = [
        [
            backup["name"],
            utc_time(backup["created_at"]) if backup.get("created_at") else "",
            backup_status(backup),
            format_size(backup.get("size")),
            label,
        ]
        for label, backup in ordered
    ]
    return ruled_table(["ID", "Created at", "Status", "Size", "Database"], rows)


@click.command("pg:backups")
@app_options
@pass_state
def pg_backups(state: CliState, app: str) -> None:
    """List the backups of the app's databases."""
    client = state.client()
    addons = [a for a in client.list_addons(app) if _is_postgres(a)]
    names: dict[str, list[str]] = {}
    if addons:
        for attachment in client.list_attachments(app):
            if (attachment.get("app") or {}).get("name", app) == app:
                names.setdefault(attachment["addon"]["id"], []).append(attachment["name"])
    backups: list[tuple[str, Backup]] = []
    for addon in sorted(addons, key=lambda a: a["name"]):
        # Address it through this app's attachment (an add-on attached from another app
        # resolves that way too), else by name.
        label = sorted(names.get(addon["id"]) or [addon["name"]])[0]
        backups += [(label, b) for b in client.list_backups(app, label)]
    header("Backups")
    if not backups:
        echo("No backups. Capture one with cove pg:backups:capture.")
        return
    for line in backup_lines(backups):
        echo(line)


def _is_postgres(addon: AddOn) -> bool:
    try:
        require_service(addon["name"], service_name(addon), SERVICE)
    except CliError:
        return False
    return True


@click.command("pg:backups:capture")
@click.argument("database", required=False, default=DEFAULT_DATABASE, metavar="[DATABASE]")
@app_options
@pass_state
def pg_backups_capture(state: CliState, app: str, database: str) -> None:
    """Capture a backup of the database now."""
    client = state.client()
    with action(f"Backing up {var_label(database)} on {app_label(app)}") as status:
        backup = client.capture_backup(app, database)
        if backup.get("status") not in ("succeeded", None):
            raise CliError(f"Backup {backup['name']} {backup.get('status')}.")
        status.detail = backup["name"]
    which = "" if database == DEFAULT_DATABASE else f" {database}"
    echo(f"Download it with cove pg:backups:download {backup['name']}{which} -a {app}")


def backup_and_database(first: str | None, second: str | None) -> tuple[str | None, str]:
    """`[BACKUP] [DATABASE]`: a single argument is a backup if it looks like one (`b001`, an
    id), else the database."""
    if second is not None:
        return first, second
    if first is None:
        return None, DEFAULT_DATABASE
    if BACKUP_REF.match(first):
        return first, DEFAULT_DATABASE
    return None, first


def latest_backup(client: CoveClient, app: str, database: str) -> Backup:
    done = [b for b in client.list_backups(app, database) if b.get("status") == "succeeded"]
    if not done:
        raise CliError(
            f"No backups of {var_label(database)} on {app_label(app)}.\n"
            "Capture one with cove pg:backups:capture."
        )
    return max(done, key=lambda b: (b.get("num") or 0, b.get("created_at") or ""))


@click.command("pg:backups:restore")
@click.argument("backup", required=False, metavar="[BACKUP]")
@click.argument("database", required=False, metavar="[DATABASE]")
@app_options
@click.option("-c", "--confirm", metavar="APP", help="the app name, to confirm the restore")
@pass_state
def pg_backups_restore(
    state: CliState, app: str, backup: str | None, database: str | None, confirm: str | None
) -> None:
    """Replace the database's data with a backup (default: its latest)."""
    backup, database = backup_and_database(backup, database)
    confirm_app(
        app,
        confirm,
        f"{var_label(database)} on {app_label(app)} will be overwritten with "
        f"{backup or 'its latest backup'}.",
    )
    client = state.client()
    if backup is None:
        backup = latest_backup(client, app, database)["name"]
    with action(f"Restoring {backup} to {var_label(database)} on {app_label(app)}"):
        client.restore_backup(app, database, backup)


@click.command("pg:backups:download")
@click.argument("backup", required=False, metavar="[BACKUP]")
@click.argument("database", required=False, metavar="[DATABASE]")
@app_options
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    default=DEFAULT_DUMP,
    show_default=True,
    help="file to write the backup to",
)
@pass_state
def pg_backups_download(
    state: CliState, app: str, backup: str | None, database: str | None, output: Path
) -> None:
    """Download a backup (default: the database's latest) as a pg_dump file."""
    backup, database = backup_and_database(backup, database)
    client = state.client()
    if backup is None:
        backup = latest_backup(client, app, database)["name"]
    partial = output.with_name(f".{output.name}.part")
    with action(f"Downloading {backup} of {var_label(database)} to {output}") as status:
        size = 0
        try:
            with partial.open("wb") as handle:
                for chunk in client.download_backup(app, database, backup):
                    handle.write(chunk)
                    size += len(chunk)
            partial.replace(output)
        finally:
            partial.unlink(missing_ok=True)
        status.detail = format_size(size)


# -- pg:copy --------------------------------------------------------------------------------


def parse_database_ref(value: str, app: str) -> tuple[str, str]:
    """`other-app::DATABASE_URL` -> (other-app, DATABASE_URL); `DATABASE_URL` -> (app, ...)."""
    if "://" in value:
        raise CliError(
            f"{value.split('://', 1)[0]}:// URLs are not supported; name a database as "
            "APP::DATABASE_URL (or DATABASE_URL for this app)."
        )
    owner, sep, database = value.rpartition("::")
    if not sep:
        return app, value
    if not owner or not database:
        raise click.BadParameter(f"{value!r} is not APP::DATABASE.")
    return owner, database


def _ref_label(owner: str, database: str, app: str) -> str:
    return var_label(database) if owner == app else f"{owner}::{var_label(database)}"


@click.command("pg:copy")
@click.argument("source")
@click.argument("target")
@app_options
@click.option("-c", "--confirm", metavar="APP", help="the app name, to confirm the copy")
@pass_state
def pg_copy(state: CliState, app: str, source: str, target: str, confirm: str | None) -> None:
    """Copy all data from SOURCE (DATABASE_URL or APP::DATABASE_URL) into TARGET, a database of
    this app, replacing TARGET's data."""
    from_app, from_database = parse_database_ref(source, app)
    target_app, target_database = parse_database_ref(target, app)
    if target_app != app:
        raise CliError(f"The target must be a database of {app_label(app)}, not of {target_app}.")
    if (from_app, from_database) == (app, target_database):
        raise CliError("The source and target are the same database.")
    shown_source = _ref_label(from_app, from_database, app)
    shown_target = var_label(target_database)
    confirm_app(
        app,
        confirm,
        f"This removes all data from {shown_target} on {app_label(app)};\n"
        f"the data of {shown_source} is then copied into it.",
    )
    client = state.client()
    with action(f"Copying {shown_source} to {shown_target} on {app_label(app)}"):
        client.copy_addon(app, target_database, from_app, from_database)


COMMANDS: list[tuple[click.Command, tuple[str, ...]]] = [
    (pg_info, ("pg",)),
    (pg_psql, ()),
    (pg_credentials, ("pg:credentials:url",)),
    (pg_reset, ()),
    (pg_backups, ()),
    (pg_backups_capture, ()),
    (pg_backups_restore, ()),
    (pg_backups_download, ()),
    (pg_copy, ()),
]
