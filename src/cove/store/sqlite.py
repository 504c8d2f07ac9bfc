"""The store's SQLite file: where it is, whether it is sound, and consistent copies of it.

Plain ``sqlite3`` rather than SQLAlchemy: these run before the store is opened (a damaged
file must be reported, not half-read), and the online backup API is sqlite3's own.
"""

from __future__ import annotations

import os
import sqlite3
from contextlib import closing
from pathlib import Path

from sqlalchemy.engine import make_url

# integrity_check/quick_check report at most this many problems (SQLite's default is 100).
MAX_PROBLEMS = 10


class StoreDamaged(Exception):
    """The store file can't be trusted: SQLite reports it damaged, or it is empty in a
    COVE_HOME that has held data."""

    def __init__(self, path: Path, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path} is damaged: {reason}")


def sqlite_file(url: str) -> Path | None:
    """The database file behind a SQLite URL; None for other databases or in-memory."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database).absolute()


def verify(path: Path, *, thorough: bool = False, expect_data: bool = False) -> None:
    """Raise ``StoreDamaged`` unless SQLite finds ``path`` sound. ``quick_check`` reads
    every page (what start-up needs); ``thorough`` adds the index cross-checks of
    ``integrity_check``. With ``expect_data``, an empty file is damage (SQLite would take
    it for a new database and Cove would start afresh, forgetting every app)."""
    if not path.exists():
        return
    wal = path.with_name(path.name + "-wal")
    if expect_data and path.stat().st_size == 0 and not (wal.exists() and wal.stat().st_size):
        raise StoreDamaged(path, "the file is empty (0 bytes)")
    pragma = "integrity_check" if thorough else "quick_check"
    try:
        with closing(sqlite3.connect(path)) as db:
            rows = db.execute(f"PRAGMA {pragma}({MAX_PROBLEMS})").fetchall()
    except sqlite3.DatabaseError as exc:
        raise StoreDamaged(path, str(exc)) from None
    problems = [str(row[0]) for row in rows]
    if problems != ["ok"]:
        raise StoreDamaged(path, "; ".join(problems))


def copy(source: Path, dest: Path) -> None:
    """A consistent copy of ``source`` at ``dest``, even while the server writes to it
    (SQLite's online backup API reads one snapshot), readable by the owner only (the store
    holds config vars). Written beside ``dest`` and renamed: ``dest`` is whole or absent."""
    if not source.is_file():
        raise FileNotFoundError(f"no store at {source}")
    tmp = dest.with_name(f".{dest.name}.tmp")
    tmp.unlink(missing_ok=True)
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))
    try:
        with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(tmp)) as dst:
            try:
                src.backup(dst)
            except sqlite3.OperationalError:
                raise  # I/O, disk full, locked: not the source's fault
            except sqlite3.DatabaseError as exc:
                raise StoreDamaged(source, str(exc)) from None
            # One self-contained file: no -wal beside it to forget when copying it around.
            dst.execute("PRAGMA journal_mode=DELETE")
        try:
            verify(tmp)
        except StoreDamaged as damage:  # copied faithfully, damage included
            raise StoreDamaged(source, damage.reason) from None
        tmp.replace(dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
