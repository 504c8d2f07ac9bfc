"""`cove server --check`: is this COVE_HOME sound? Reads only, safe while a server runs.

Checks the layout and permissions of COVE_HOME, the store's integrity, its schema
revision, that every release's slug is on disk, and that store backups exist.
"""

from __future__ import annotations

import os
import pwd
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TextIO

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from cove.builder.slug import human_size, slug_path
from cove.home_lock import holder
from cove.secrets_key import HELP as SECRETS_KEY_HELP
from cove.secrets_key import open_keyring, store_check
from cove.settings import Settings
from cove.store import App, Release, Slug, Store
from cove.store.backups import StoreBackups, recovery_steps, taken_at
from cove.store.db import SchemaTooNew
from cove.store.secrets import SecretsKeyError
from cove.store.sqlite import StoreDamaged, sqlite_file, verify

Level = Literal["ok", "info", "warn", "FAIL"]
# Missing slugs listed one by one, at most.
MAX_LISTED = 10


@dataclass(frozen=True)
class Finding:
    level: Level
    text: str
    help: str = ""


def check_home(settings: Settings) -> list[Finding]:
    home = settings.home
    if not home.is_dir():
        return [Finding("FAIL", f"COVE_HOME={home} does not exist (`cove server` creates it).")]
    findings = list(_layout(settings))
    pid = holder(home)
    if pid is not None:
        findings.append(Finding("info", f"A cove server is running here (pid {pid or '?'})."))
    store_ok = True
    for finding in _store_file(settings):
        store_ok = store_ok and finding.level != "FAIL"
        findings.append(finding)
    if store_ok:
        findings += _schema_and_slugs(settings)
        findings.append(_secrets_key(settings))
    findings.append(_backups(settings))
    return findings


def report(findings: list[Finding], out: TextIO) -> bool:
    """Print the findings; True if none failed."""
    for finding in findings:
        out.write(f"{finding.level:<5} {finding.text}\n")
        for line in finding.help.splitlines():
            out.write(f"      {line}\n")
    failed = sum(f.level == "FAIL" for f in findings)
    out.write(
        f"{failed} problem{'s' * (failed != 1)} found.\n" if failed else "No problems found.\n"
    )
    return not failed


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _owner(path: Path) -> str:
    uid = path.stat().st_uid
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _layout(settings: Settings) -> Iterator[Finding]:
    home = settings.home
    mode = _mode(home)
    if home.stat().st_uid != os.geteuid():
        yield Finding(
            "warn",
            f"COVE_HOME belongs to {_owner(home)}, not to you: run the check as the user "
            "`cove server` runs as.",
        )
    if mode & 0o022:
        yield Finding(
            "FAIL",
            f"COVE_HOME {home} is writable by other users (mode {mode:04o}).",
            f"Fix: chmod 711 {home}",
        )
    elif mode & 0o044:
        yield Finding(
            "warn",
            f"COVE_HOME {home} can be listed by other users (mode {mode:04o}); "
            "`cove server` sets 0711 at start.",
        )
    else:
        yield Finding("ok", f"COVE_HOME {home} (mode {mode:04o}, owner {_owner(home)})")
    dirs = (
        settings.repos_dir,
        settings.slugs_dir,
        settings.sources_dir,
        settings.cache_dir,
        settings.layers_dir,
        settings.builds_dir,
        settings.dynos_dir,
    )
    missing = [d.name for d in dirs if not d.is_dir()]
    if missing:
        yield Finding(
            "warn",
            f"Missing in COVE_HOME: {', '.join(missing)} (`cove server` creates them; "
            "whatever they held is gone).",
        )
    open_dirs = [d for d in (*dirs, settings.backups_dir) if d.is_dir() and _mode(d) & 0o077]
    for d in open_dirs:
        yield Finding(
            "warn",
            f"{d} is open to other users (mode {_mode(d):04o}).",
            f"Fix: chmod 700 {d}",
        )
    # Files holding secrets (config vars, token hashes, the admin token).
    secrets = [home / "admin-token", settings.secrets_key_path, *settings.backups_dir.glob("*.db")]
    db = sqlite_file(settings.db_url)
    if db is not None:
        secrets += [db, db.with_name(db.name + "-wal")]
    exposed = [p for p in secrets if p.is_file() and _mode(p) & 0o077]
    for path in exposed:
        yield Finding(
            "FAIL",
            f"{path} holds secrets but other users can read it (mode {_mode(path):04o}).",
            f"Fix: chmod 600 {path}",
        )
    if not missing and not open_dirs and not exposed:
        yield Finding("ok", "Layout and permissions of COVE_HOME")


def has_been_used(settings: Settings) -> bool:
    """Has a server run here before (so an empty or missing store means lost data)?"""
    return (settings.home / "admin-token").exists() or bool(store_backups(settings).newest_first())


def _store_file(settings: Settings) -> Iterator[Finding]:
    db = sqlite_file(settings.db_url)
    if db is None:
        yield Finding(
            "info",
            "The store is not SQLite (COVE_DATABASE_URL): its integrity and backups are "
            "its database server's job.",
        )
        return
    if not db.exists():
        if has_been_used(settings):
            yield Finding(
                "FAIL",
                f"The store {db} is missing, but this COVE_HOME has been used.",
                recovery_steps(StoreDamaged(db, "the file is missing"), store_backups(settings)),
            )
        else:
            yield Finding("info", f"No store yet at {db} (`cove server` creates it).")
        return
    try:
        verify(db, thorough=True, expect_data=has_been_used(settings))
    except StoreDamaged as damage:
        yield Finding("FAIL", str(damage), recovery_steps(damage, store_backups(settings)))
        return
    yield Finding("ok", f"Store {db}: integrity check passed ({human_size(db.stat().st_size)})")


def store_backups(settings: Settings) -> StoreBackups:
    return StoreBackups(settings.backups_dir, settings.store_backups_keep)


def _schema_and_slugs(settings: Settings) -> Iterator[Finding]:
    db = sqlite_file(settings.db_url)
    if db is not None and not db.exists():
        return
    store = Store(settings.db_url)
    try:
        yield from _schema_and_slugs_of(settings, store)
    except SQLAlchemyError as exc:
        yield Finding("FAIL", f"The store can't be read: {exc.__class__.__name__}: {exc}")
    finally:
        store.engine.dispose()


def _schema_and_slugs_of(settings: Settings, store: Store) -> Iterator[Finding]:
    try:
        current, head = store.migration_state()
    except SchemaTooNew as exc:
        yield Finding("FAIL", f"The store's schema: {exc}")
        return
    if current == head:
        yield Finding("ok", f"Store schema at the latest revision ({head})")
    else:
        yield Finding(
            "warn",
            f"Store schema at revision {current or '(none)'}; this Cove's latest is {head}: "
            "`cove server` migrates it at start.",
        )
        if current is None:
            return
    yield from _slugs(settings, store)


def _slugs(settings: Settings, store: Store) -> Iterator[Finding]:
    with store.session() as s:
        rows = s.execute(
            select(App.name, Release.version, Slug.checksum)
            .join(Slug, Slug.id == Release.slug_id)
            .join(App, App.id == Release.app_id)
            .order_by(App.name, Release.version)
        ).all()
    missing = [
        f"{app} v{version}"
        for app, version, checksum in rows
        if not slug_path(settings.slugs_dir, checksum).is_file()
    ]
    if not missing:
        slugs = len({checksum for _, _, checksum in rows})
        yield Finding("ok", f"Slugs: {len(rows)} releases use {slugs} slugs, all on disk")
        return
    listed = ", ".join(missing[:MAX_LISTED]) + (" ..." if len(missing) > MAX_LISTED else "")
    yield Finding(
        "FAIL",
        f"{len(missing)} releases use a slug that is missing from {settings.slugs_dir}: {listed}",
        "Their dynos can't start and they can't be rolled back to. Deploy the app again "
        "(git push) or roll back to a release whose slug is present (cove releases:rollback).",
    )


def _secrets_key(settings: Settings) -> Finding:
    path = settings.secrets_key_path
    try:
        open_keyring(settings, create=False)
    except SecretsKeyError as exc:
        if not path.exists() and not settings.secrets_key_file:
            store = Store(settings.db_url)
            try:
                fresh = store_check(store) is None
            finally:
                store.engine.dispose()
            if fresh:
                return Finding("info", f"No secrets key yet at {path} (`cove server` makes it).")
        return Finding("FAIL", f"Secrets key: {exc}.", SECRETS_KEY_HELP)
    return Finding("ok", f"Secrets key {path} decrypts the store's secrets")


def _backups(settings: Settings) -> Finding:
    backups = store_backups(settings)
    found = backups.newest_first()
    if sqlite_file(settings.db_url) is None:
        return Finding("info", "Store backups: not taken by Cove for a non-SQLite store.")
    if not found:
        return Finding(
            "warn",
            f"No store backups in {backups.directory} yet: `cove server` takes one at each "
            "start, `cove server --backup PATH` takes one now.",
        )
    return Finding(
        "ok",
        f"Store backups: {len(found)} in {backups.directory}, the newest taken "
        f"{taken_at(found[0])}",
    )
