"""`cove server`: run the Cove platform on this machine, or check, back up and restore
its COVE_HOME (see docs/operations.md)."""

from __future__ import annotations

import os
import sqlite3
import sys
from pathlib import Path

import click

from cove.cli.output import CliError, echo


@click.command("server")
@click.option("--check", is_flag=True, help="Check COVE_HOME and its store, print a report.")
@click.option(
    "--backup",
    "backup_to",
    type=click.Path(path_type=Path),
    help="Write a consistent copy of the store to this file (safe while the server runs).",
)
@click.option(
    "--restore",
    "restore_from",
    type=click.Path(path_type=Path),
    help="Replace the store with this backup (the server must be stopped).",
)
@click.option(
    "--rotate-secrets-key",
    "rotate_key",
    is_flag=True,
    help="Encrypt the store's secrets with a new key (the server must be stopped).",
)
@click.option(
    "--role",
    "roles",
    metavar="ROLES",
    help="Run only these parts, comma-separated: api, router, manager (default: all; "
    "the others run in servers sharing a PostgreSQL store; see docs/scaling.md).",
)
def server(
    check: bool,
    backup_to: Path | None,
    restore_from: Path | None,
    rotate_key: bool,
    roles: str | None,
) -> None:
    """Run Cove: API + git, router, builder and dyno manager (settings from COVE_* env)."""
    if sum((check, backup_to is not None, restore_from is not None, rotate_key)) > 1:
        raise CliError(
            "Use one of --check, --backup, --restore and --rotate-secrets-key at a time."
        )
    if rotate_key:
        _rotate_key()
    elif check:
        _check()
    elif backup_to is not None:
        _backup(backup_to)
    elif restore_from is not None:
        _restore(restore_from)
    else:
        from cove.server import main as run_server  # heavy imports only for this command

        if roles is not None:
            os.environ["COVE_ROLES"] = roles  # (read with every other setting)

        run_server()


def _check() -> None:
    from cove.home_check import check_home, report
    from cove.settings import Settings

    settings = Settings.from_env()
    echo(f"Checking COVE_HOME={settings.home}")
    if not report(check_home(settings), sys.stdout):
        sys.exit(1)


def _store_file() -> tuple[Path, Path]:
    """(COVE_HOME, the store's SQLite file)."""
    from cove.settings import Settings
    from cove.store.sqlite import sqlite_file

    settings = Settings.from_env()
    db = sqlite_file(settings.db_url)
    if db is None:
        raise CliError(
            "The store is not SQLite (COVE_DATABASE_URL): back it up and restore it with "
            "its database server's tools."
        )
    return settings.home, db


def _backup(dest: Path) -> None:
    from cove.store.sqlite import StoreDamaged, copy

    _, db = _store_file()
    if not db.is_file():
        raise CliError(f"There is no store at {db} to back up.")
    if dest.is_dir():
        dest = dest / f"cove-backup-{_now()}.db"
    try:
        copy(db, dest)
    except StoreDamaged as exc:
        raise CliError(f"Not backed up: {exc}") from None
    except (OSError, sqlite3.Error) as exc:
        raise CliError(f"Could not write the backup to {dest}: {exc}") from None
    echo(f"Backed up the store {db} to {dest}")


def _restore(backup: Path) -> None:
    from cove.home_lock import HomeInUse, HomeLock
    from cove.store.backups import restore
    from cove.store.sqlite import StoreDamaged

    home, db = _store_file()
    if not backup.is_file():
        raise CliError(f"There is no backup at {backup}.")
    try:
        # Held while restoring: no server can start on a half-restored store.
        lock = HomeLock.acquire(home)
    except HomeInUse as exc:
        raise CliError(f"Not restored: {exc}. Stop it first.") from None
    try:
        aside = restore(db, backup.absolute())
    except StoreDamaged as exc:
        raise CliError(f"Not restored: the backup {exc}. Choose another backup.") from None
    except (OSError, sqlite3.Error) as exc:
        raise CliError(f"Could not restore {backup}: {exc}") from None
    finally:
        lock.release()
    echo(f"Restored the store {db} from {backup}.")
    echo(f"The files it replaced are kept in {aside}.")
    echo("Check it with `cove server --check`, then start `cove server`.")


def _rotate_key() -> None:
    from cove.home_lock import HomeInUse, HomeLock
    from cove.secrets_key import rotate
    from cove.settings import Settings
    from cove.store.secrets import SecretsKeyError

    settings = Settings.from_env()
    try:
        lock = HomeLock.acquire(settings.home)
    except HomeInUse as exc:
        raise CliError(f"Not rotated: {exc}. Stop it first.") from None
    try:
        retired = rotate(settings)
    except SecretsKeyError as exc:
        raise CliError(f"Not rotated: {exc}.") from None
    except OSError as exc:
        raise CliError(f"Not rotated: {exc}") from None
    finally:
        lock.release()
    echo(f"Encrypted the store's secrets with a new key in {settings.secrets_key_path}.")
    echo(f"The old key is kept in {retired}: backups of the store taken before now need it.")
    echo("Back up the new key file (see docs/operations.md).")


def _now() -> str:
    from datetime import UTC, datetime

    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")


COMMANDS: list[tuple[click.Command, list[str]]] = [(server, [])]
