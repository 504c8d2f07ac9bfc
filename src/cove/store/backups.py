"""Backups of the store: consistent copies under ``COVE_HOME/backups``, the newest few
kept; restoring one in place of a damaged store; and what to tell the operator."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from cove.store import sqlite
from cove.store.sqlite import StoreDamaged

log = logging.getLogger("cove.store")

PREFIX = "cove-"
SUFFIX = ".db"
# Names sort in time order: cove-20260101T120000.123456Z.db
STAMP = "%Y%m%dT%H%M%S.%fZ"


def _stamp() -> str:
    return datetime.now(UTC).strftime(STAMP)


class StoreBackups:
    """The backup directory (only ``cove-<time>.db`` files in it are Cove's to prune)."""

    def __init__(self, directory: Path, keep: int) -> None:
        self.directory = directory
        self.keep = max(1, keep)

    def take(self, db: Path) -> Path:
        """Copy the store (safe while the server runs), then drop the oldest backups."""
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        dest = self.directory / f"{PREFIX}{_stamp()}{SUFFIX}"
        sqlite.copy(db, dest)
        for old in self.newest_first()[self.keep :]:
            old.unlink(missing_ok=True)
        return dest

    def newest_first(self) -> list[Path]:
        if not self.directory.is_dir():
            return []
        return sorted(self.directory.glob(f"{PREFIX}*{SUFFIX}"), reverse=True)

    async def run(self, db: Path, interval: float) -> None:
        """Back up every ``interval`` seconds while the server runs (0: never)."""
        if interval <= 0:
            return
        while True:
            await asyncio.sleep(interval)
            try:
                path = await asyncio.to_thread(self.take, db)
            except (OSError, sqlite3.Error, StoreDamaged) as exc:
                log.error("Store backup failed: %s", exc)
            else:
                log.info("Store backed up to %s", path)


def taken_at(backup: Path) -> str:
    """When a backup was taken, from its name (or its file time for other names)."""
    text = backup.name.removeprefix(PREFIX).removesuffix(SUFFIX)
    try:
        when = datetime.strptime(text, STAMP).replace(tzinfo=UTC)
    except ValueError:
        when = datetime.fromtimestamp(backup.stat().st_mtime, UTC)
    return when.strftime("%Y-%m-%d %H:%M:%S UTC")


def restore(db: Path, backup: Path) -> Path:
    """Put ``backup`` in place of the store at ``db``. The files it replaces (with their
    -wal and -shm) are moved, never deleted, into a new directory beside it, which is
    returned. The caller holds COVE_HOME's lock: no server may have the store open."""
    sqlite.verify(backup, thorough=True)
    aside = db.parent / f"store-replaced-{_stamp()}"
    aside.mkdir(mode=0o700)
    for path in (db, *(db.with_name(db.name + s) for s in ("-wal", "-shm"))):
        if path.exists():
            path.rename(aside / path.name)
    sqlite.copy(backup, db)
    return aside


def recovery_help(damage: StoreDamaged, backups: StoreBackups) -> str:
    """Why `cove server` refuses to start on a damaged store, and how to recover."""
    headline = f"the store {damage.path} is damaged: {damage.reason}. Nothing was started."
    return headline + "\n" + recovery_steps(damage, backups)


def recovery_steps(damage: StoreDamaged, backups: StoreBackups) -> str:
    """Where the backups are and the steps to recover (also in `cove server --check`)."""
    lines = []
    found = backups.newest_first()
    if found:
        lines.append(f"Backups of the store are in {backups.directory} (newest first):")
        lines += [f"  {b.name}  taken {taken_at(b)}" for b in found]
        source = str(found[0])
        lines += [
            "To recover, restore the newest backup (the damaged files are moved aside, not "
            "deleted):",
            f"  cove server --restore {source}",
            "Changes made after it was taken (apps, releases, config vars) are lost; git "
            "repos, slugs and add-on data on disk are kept.",
        ]
    else:
        salvaged = damage.path.with_name("recovered.db")
        lines += [
            f"There are no backups in {backups.directory}. To salvage what SQLite can "
            "still read (the sqlite3 command-line tool), then use it as the store:",
            f"  sqlite3 {damage.path} .recover | sqlite3 {salvaged}",
            f"  cove server --restore {salvaged}",
        ]
    if not damage.path.exists():
        lines.append("(To start afresh instead, without any of the apps, move COVE_HOME aside.)")
    lines += [
        "Then check the result and start the server:",
        "  cove server --check && cove server",
        "See docs/operations.md, section Restoring.",
    ]
    return "\n".join(lines)
